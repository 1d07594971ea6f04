"""One lab session: the SOC, the city range (when a scenario needs it) and detection, together.

``tulou lab scenario run/run-all`` and ``tulou demo`` both open a session, run scenarios in it
and close it (the demo keeps it open for the analyst). Layout under the data directory::

    <data_dir>/soc/                the SOC's database, session key, analyst password (0600)
    <data_dir>/detect/events.db    the event store (SQLite default; the SOC reads evidence here)
    <data_dir>/lab/range/          the city range: PKI, gateway config, audit, app logs
    <data_dir>/lab/runs/<stamp>/   each scenario's artifacts, the dead-letter file, the spool
    <data_dir>/reports/sources.yaml  where the compliance report finds this session's evidence
                                   (:meth:`LabSession.write_report_sources`; the backup
                                   scenario's site status and drill records are under
                                   <data_dir>/backup, where the report looks by default)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lab.runner import Detection, Outcome, run_scenarios
from lab.scenarios.base import Scenario
from lab.soc_service import LabSoc

if TYPE_CHECKING:
    from lab.range import CityRange

RULES_DIR = Path(__file__).resolve().parents[1] / "rules"


@dataclass
class LabSession:
    soc: LabSoc
    detection: Detection
    city: CityRange | None
    run_dir: Path
    store_url: str
    data_dir: Path
    rules_dir: Path = RULES_DIR

    @property
    def env(self) -> dict[str, str]:
        """Environment for what scenarios start (drills alert this SOC)."""
        return self.soc.env

    def run(
        self, scenarios: Sequence[Scenario], progress: Callable[[Outcome], None] | None = None
    ) -> list[Outcome]:
        """Play ``scenarios`` in order through detection into this session's SOC."""
        return run_scenarios(
            scenarios,
            detection=self.detection,
            soc=self.soc,
            workdir=self.run_dir,
            city=self.city,
            env=self.env,
            progress=progress,
        )

    def write_report_sources(self) -> Path | None:
        """Name this session's evidence for ``tulou report compliance`` (its default file).

        The city's applications, the range's gateway config (routes, policy, keys, audit log),
        the rules and the event store detection used. A sources file someone wrote by hand is
        never replaced: returns None then.
        """
        from compliance.sources import (  # noqa: PLC0415 - only the demo writes report sources
            Application,
            GatewaySources,
            Sources,
            SystemInfo,
            write_sources,
            written_by_tulou,
        )
        from lab.cityconfig import APPLICATIONS  # noqa: PLC0415

        path = self.data_dir / "reports" / "sources.yaml"
        if not written_by_tulou(path):
            return None
        sources = Sources(
            system=SystemInfo(name="土楼实验城市（Tulou lab range）", operator="Tulou lab"),
            rules=self.rules_dir,
            events=self.store_url,
        )
        if self.city is not None:
            sources = sources.model_copy(
                update={
                    "applications": [
                        Application(name=name, host=host) for name, host in APPLICATIONS.items()
                    ],
                    "gateway": GatewaySources(config=self.city.workdir / "gateway.yaml"),
                }
            )
        return write_sources(path, sources)


def default_store(data_dir: Path) -> str:
    return f"sqlite://{(data_dir / 'detect' / 'events.db').resolve()}"


@contextlib.contextmanager
def open_session(
    data_dir: Path,
    scenarios: Sequence[Scenario],
    *,
    store_url: str | None = None,
    soc_port: int = 0,
    rules_dir: Path = RULES_DIR,
) -> Iterator[LabSession]:
    """Start what ``scenarios`` need; stop all of it on exit (also on errors)."""
    data_dir = data_dir.resolve()
    store = store_url or default_store(data_dir)
    (data_dir / "detect").mkdir(parents=True, exist_ok=True)
    run_dir = data_dir / "lab" / "runs" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    run_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        soc = LabSoc(data_dir, port=soc_port, events_url=store, rules_dir=rules_dir)
        soc.start()
        stack.callback(soc.stop)
        city = None
        if any(s.needs_range for s in scenarios):
            from lab.range import CityRange  # noqa: PLC0415 - only when a scenario needs it

            city = CityRange(data_dir / "lab" / "range")
            city.start()
            stack.callback(city.stop)
        detection = Detection(store, soc, rules_dir, run_dir)
        stack.callback(detection.close)
        yield LabSession(soc, detection, city, run_dir, store, data_dir, rules_dir)
