# ruff: noqa: E501 - real log lines and packets are longer than code lines
"""EVTX parsing on the public samples in ../shared/data/evtx (GPL-3.0, read in place)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detect.model import Rejected, source_for
from detect.parsers import default_registry
from detect.parsers.evtx import EvtxParser
from tests.unit.detect.parsers.helpers import check, run


def _events(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as stream:
        items = list(EvtxParser().parse(stream, source_for(path)))
    assert not [i for i in items if isinstance(i, Rejected)]
    return [i for i in items if not isinstance(i, Rejected)]


@pytest.mark.corpus
def test_sysmon_process_creation_and_network(shared_data: Path) -> None:
    path = shared_data / "evtx" / "LM_wmiexec_impacket_sysmon_whoami.evtx"
    assert default_registry().detect(path.read_bytes()[:8192]).id == "evtx"
    events = _events(path)
    assert len(events) == 7
    network = events[0]
    check(
        network,
        {
            "@timestamp": "2019-04-30T20:32:50.902Z",
            "event.dataset": "evtx",
            "event.module": "sysmon",
            "event.code": "3",
            "event.category": ["network"],
            "winlog.channel": "Microsoft-Windows-Sysmon/Operational",
            "winlog.event_id": 3,
            "winlog.record_id": 9825,
            "winlog.computer_name": "IEWIN7",
            "host.name": "IEWIN7",
            "winlog.provider_name": "Microsoft-Windows-Sysmon",
            "winlog.event_data.DestinationPort": 45616,
            "winlog.event_data.Initiated": False,
            "source.ip": "10.0.2.18",
            "source.port": 445,
            "destination.ip": "10.0.2.19",
            "network.transport": "tcp",
            "process.executable": "System",
            "event.original": network["event.original"],
        },
    )
    cmd = events[1]
    check(
        cmd,
        {
            "event.code": "1",
            "event.category": ["process"],
            "event.type": ["start"],
            "process.executable": "C:\\Windows\\System32\\cmd.exe",
            "process.command_line": "cmd.exe /Q /c cd \\ 1> \\\\127.0.0.1\\ADMIN$\\__1556656369.7 2>&1",
            "process.pid": 3840,
            "process.parent.pid": 836,
            "winlog.event_data.Image": "C:\\Windows\\System32\\cmd.exe",
            "winlog.event_data.IntegrityLevel": "High",
            "user.name": "IEUser",
            "user.domain": "IEWIN7",
        },
    )
    assert cmd["event.original"].startswith('{"Event"')


@pytest.mark.corpus
def test_security_logons(shared_data: Path) -> None:
    events = _events(shared_data / "evtx" / "LM_ScheduledTask_ATSVC_target_host.evtx")
    logons = [e for e in events if e["event.code"] == "4624"]
    assert len(logons) == 6
    for logon in logons:
        check(
            logon,
            {
                "winlog.channel": "Security",
                "event.category": ["authentication"],
                "event.outcome": "success",
            },
        )
        assert logon["user.name"] == logon["winlog.event_data.TargetUserName"]


@pytest.mark.corpus
def test_every_sample_parses_with_unique_ids(shared_data: Path) -> None:
    total = 0
    for path in sorted((shared_data / "evtx").glob("*.evtx")):
        events = _events(path)
        assert len({e["event.id"] for e in events}) == len(events)
        assert all(e["@timestamp"].endswith("Z") for e in events)
        total += len(events)
    assert total == 591


def test_not_an_evtx_file_is_rejected_not_raised() -> None:
    events, rejected = run(EvtxParser(), b"ElfFile\x00" + b"\x00" * 100)
    assert events == []
    assert rejected and "EVTX" in rejected[0].reason
