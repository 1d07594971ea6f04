"""The runner end to end with small inline scenarios: real SOC (subprocess), real detect, SQLite.

What could go wrong and is checked: an expected alert must really be in the SOC; a scenario that
produces nothing fails with the rule named as missing; a benign scenario that raises an alert
fails; an error in play() is reported and the run goes on; windows of consecutive scenarios do
not overlap (a benign scenario right after an attack stays clean).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

import pytest

from lab.runner import run_scenarios
from lab.scenarios.base import Scenario, Stage
from lab.session import LabSession, open_session
from tulou.errors import InputError

pytestmark = pytest.mark.slow

BRUTE_FORCE = "6d5c0717-8082-5f0f-b4ea-ad2bbcb487f9"  # rules/ssh-brute-force.yml
ROOT_LOGIN = "03cfe966-47bb-5d74-938e-6126258b9526"  # rules/ssh-root-login.yml


def _stamp() -> str:
    # The range's hosts log the city's local time, which is how detect reads RFC 3164 stamps.
    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%b %e %H:%M:%S")


class Brute(Scenario):
    name: ClassVar[str] = "t-brute"
    title: ClassVar[str] = "twelve failed logins"
    expects: ClassVar[tuple[str, ...]] = (BRUTE_FORCE,)

    def play(self, stage: Stage) -> None:
        stage.log(
            "auth.log",
            [
                f"{_stamp()} web1 sshd[12{i:02d}]: Failed password for root from 203.0.113.9 "
                f"port {40000 + i} ssh2"
                for i in range(12)
            ],
        )


class Silent(Scenario):
    name: ClassVar[str] = "t-silent"
    title: ClassVar[str] = "expects an alert, plays nothing"
    expects: ClassVar[tuple[str, ...]] = (BRUTE_FORCE,)

    def play(self, stage: Stage) -> None:
        stage.note("nothing played")


class Quiet(Scenario):
    name: ClassVar[str] = "t-quiet"
    title: ClassVar[str] = "a normal key login"

    def play(self, stage: Stage) -> None:
        stage.log(
            "auth.log",
            [f"{_stamp()} web1 sshd[99]: Accepted publickey for alice from 10.0.0.5 port 5 ssh2"],
        )


class NoisyBaseline(Scenario):
    name: ClassVar[str] = "t-noisy"
    title: ClassVar[str] = "a 'benign' day with a root login"

    def play(self, stage: Stage) -> None:
        stage.log(
            "auth.log",
            [f"{_stamp()} web1 sshd[7]: Accepted password for root from 10.0.0.7 port 5001 ssh2"],
        )


class Broken(Scenario):
    name: ClassVar[str] = "t-broken"
    title: ClassVar[str] = "the range misbehaves"
    expects: ClassVar[tuple[str, ...]] = (BRUTE_FORCE,)

    def play(self, stage: Stage) -> None:
        raise InputError("the sample app answered 500")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabSession]:
    with open_session(tmp_path_factory.mktemp("lab"), [Brute()]) as opened:
        yield opened


def _run(session: LabSession, scenarios: list[Scenario]):
    return run_scenarios(
        scenarios,
        detection=session.detection,
        soc=session.soc,
        workdir=session.run_dir,
        city=None,
        env=session.env,
    )


def test_attack_then_baseline(session: LabSession) -> None:
    brute, quiet = _run(session, [Brute(), Quiet()])
    assert brute.ok, brute.as_dict()
    assert set(brute.found) == {BRUTE_FORCE}
    assert brute.seconds_to_detect is not None and brute.seconds_to_detect > 0
    assert brute.events == 12
    assert (
        quiet.ok and quiet.alerts == 0 and quiet.events == 1
    )  # the brute force is not in its window
    in_soc = {a["rule_id"] for a in session.soc.alerts()}
    assert BRUTE_FORCE in in_soc


def test_misses_and_benign_alerts_fail(session: LabSession) -> None:
    silent, noisy, broken = _run(session, [Silent(), NoisyBaseline(), Broken()])
    assert not silent.ok and set(silent.missing) == {BRUTE_FORCE}
    assert silent.notes == ["nothing played"]
    assert not noisy.ok and noisy.alerts >= 1 and ROOT_LOGIN in noisy.also
    assert not broken.ok and broken.error is not None and "500" in broken.error


def test_artifacts_are_kept_per_scenario(session: LabSession) -> None:
    (brute,) = _run(session, [Brute()])
    assert brute.ok
    assert (session.run_dir / "t-brute" / "auth.log").read_text().count("Failed password") == 12
