"""The scenario contract: what a scenario does, what it must produce, and what it may use.

A scenario plays one attack (or one benign day) on the test range and names the Sigma rules
(by id, from ``rules/``) whose alerts the SOC must receive. It never checks detection itself:
the runner (``lab.runner``) ingests what the scenario left behind, runs the rules on the
scenario's own event store, delivers the alerts to the SOC and looks for them there.

What a scenario may leave behind (its *artifacts*, ingested in order):

* log files in real formats (auth.log, auditd, nginx combined, ...) — :meth:`Stage.log`;
* pcaps crafted with scapy — :meth:`Stage.pcap`;
* the gateway's audit lines written while it played (collected by the runner automatically when
  the scenario declares ``needs_range``), plus anything the range adds with :meth:`Stage.artifact`
  (e.g. the sample apps' access logs).

Invariants: a scenario is deterministic in *what* it produces apart from timestamps (events are
stamped "now" so the rules' time windows see them); it uses only its own work directory; a
benign scenario has ``expects == ()`` and the run fails if it raises any alert at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tulou.errors import UsageError

if TYPE_CHECKING:
    from lab.range import CityRange


@dataclass(frozen=True, slots=True)
class Artifact:
    """One file for detect to ingest; ``format`` is a detect parser id, None = detected."""

    path: Path
    format: str | None = None


@dataclass
class Stage:
    """What the runner hands a scenario: a work directory, the clock, and the live range."""

    workdir: Path
    city: CityRange | None = None
    env: dict[str, str] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    @property
    def range(self) -> CityRange:
        """The running city range (gateway + sample apps); only for ``needs_range`` scenarios."""
        if self.city is None:
            raise UsageError("this scenario needs the city range (set needs_range = True)")
        return self.city

    def artifact(self, path: Path, fmt: str | None = None) -> Path:
        """Register a file the scenario (or the range) wrote, to be ingested."""
        self.artifacts.append(Artifact(path, fmt))
        return path

    def log(self, name: str, lines: Iterable[str], fmt: str | None = None) -> Path:
        """Write ``lines`` (without newlines) to ``workdir/name`` and register it."""
        path = self.workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            for line in lines:
                handle.write(line.rstrip("\n") + "\n")
        if not any(a.path == path for a in self.artifacts):
            self.artifact(path, fmt)
        return path

    def pcap(self, name: str, packets: Sequence[Any]) -> Path:
        """Write scapy packets to ``workdir/name`` (classic pcap) and register it."""
        from scapy.utils import wrpcap  # noqa: PLC0415 - scapy is slow to import

        path = self.workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        wrpcap(str(path), list(packets))
        return self.artifact(path, "pcap")

    def note(self, text: str) -> None:
        """A line for the report (what was played, e.g. "120 logins against 40 accounts")."""
        self.notes.append(text)

    def tulou(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the ``tulou`` CLI as a subprocess with the range's environment (e.g. a drill)."""
        env = {**os.environ, **self.env}
        result = subprocess.run(
            [sys.executable, "-m", "tulou", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if check and result.returncode != 0:
            raise UsageError(
                f"tulou {' '.join(args[:2])} exited {result.returncode}: "
                f"{(result.stderr or result.stdout).strip()[-500:]}"
            )
        return result


class Scenario(ABC):
    """One attack (or benign day). Subclasses set the class attributes and implement play()."""

    #: Short id used on the command line (``tulou lab scenario run NAME``).
    name: ClassVar[str]
    #: One line for the purple-team table.
    title: ClassVar[str]
    #: MITRE ATT&CK technique ids the scenario plays (e.g. ``("T1110.003",)``).
    techniques: ClassVar[tuple[str, ...]] = ()
    #: Ids of the rules in ``rules/`` whose alerts the SOC must receive; ``()`` = benign.
    expects: ClassVar[tuple[str, ...]] = ()
    #: True when the scenario drives traffic through the live gateway and sample apps.
    needs_range: ClassVar[bool] = False

    @property
    def benign(self) -> bool:
        return not self.expects

    @abstractmethod
    def play(self, stage: Stage) -> None:
        """Produce the traffic, logs and pcaps; raise a tulou error if the range misbehaves."""
