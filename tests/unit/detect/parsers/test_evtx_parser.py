# ruff: noqa: E501 - real log lines and packets are longer than code lines
"""EVTX parsing on the public samples in ../shared/data/evtx (GPL-3.0, read in place)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from detect.model import Rejected, Source, new_event, source_for
from detect.parsers import default_registry
from detect.parsers.evtx import EvtxParser, record_fields
from detect.rules.compile import compile_rules
from detect.rules.evaluate import run_rules
from detect.rules.loader import load_rules
from detect.rules.pipelines import combined, load_pipelines
from detect.rules.sqlite_target import SqliteRuleTarget
from detect.stores.sqlite import SQLiteStore
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


def _record(channel: str, provider: str, code: int, body: dict[str, Any]) -> dict[str, Any]:
    """A record's JSON in the shape the ``evtx`` library renders it (System, then the body)."""
    return {
        "Event": {
            "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
            "System": {
                "Provider": {"#attributes": {"Name": provider}},
                "EventID": code,
                "Level": 3,
                "TimeCreated": {"#attributes": {"SystemTime": "2026-03-01T10:00:00.000000Z"}},
                "EventRecordID": 77,
                "Execution": {"#attributes": {"ProcessID": 3052, "ThreadID": 5200}},
                "Channel": channel,
                "Computer": "WS01.city.local",
                "Security": {"#attributes": {"UserID": "S-1-5-18"}},
            },
            **body,
        }
    }


# Microsoft Defender 1116: EventData names with spaces, as Defender writes them.
DEFENDER = _record(
    "Microsoft-Windows-Windows Defender/Operational",
    "Microsoft-Windows-Windows Defender",
    1116,
    {
        "EventData": {
            "Product Name": "Microsoft Defender Antivirus",
            "Threat Name": "Trojan:Win32/Ceprolad.A",
            "Severity Name": "Severe",
            "Source Name": "AMSI",
            "Process Name": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "Detection User": "CITY\\alice",
            "Path": "amsi:_\\Device\\HarddiskVolume3\\Windows\\System32\\powershell.exe",
        }
    },
)
# WMI-Activity 5858: the payload is under UserData, in a provider-defined element.
WMI = _record(
    "Microsoft-Windows-WMI-Activity/Operational",
    "Microsoft-Windows-WMI-Activity",
    5858,
    {
        "UserData": {
            "Operation_ClientFailure": {
                "#attributes": {"xmlns": "http://manifests.microsoft.com/win/2006/windows/WMI"},
                "Id": "{00000000-0000-0000-0000-000000000000}",
                "ClientMachine": "WS01",
                "User": "CITY\\admin",
                "ClientProcessId": 4242,
                "Component": "Unknown",
                "Operation": "Start IWbemServices::ExecMethod - root\\cimv2 : "
                'Win32_NTEventlogFile.Name="C:\\Windows\\System32\\Config\\SECURITY.EVT"'
                "::ClearEventLog",
                "ResultCode": "0x80041003",
                "PossibleCause": "Unknown",
            }
        }
    },
)


def test_eventdata_names_with_spaces_are_named_as_sigma_names_them() -> None:
    _, fields = record_fields(DEFENDER)
    check(
        fields,
        {
            "winlog.event_data.SourceName": "AMSI",
            "winlog.event_data.ThreatName": "Trojan:Win32/Ceprolad.A",
            "winlog.event_data.ProcessName": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "winlog.event_data.DetectionUser": "CITY\\alice",
        },
    )
    assert not [k for k in fields if " " in k]


def test_user_data_payloads_are_event_data_by_their_sigma_names() -> None:
    _, fields = record_fields(WMI)
    check(
        fields,
        {
            "winlog.event_data.ClientProcessId": 4242,
            "winlog.event_data.ResultCode": "0x80041003",
            "winlog.user_data.Operation_ClientFailure.ResultCode": "0x80041003",  # kept as well
        },
    )
    assert "ClearEventLog" in fields["winlog.event_data.Operation"]
    assert not [k for k in fields if "#attributes" in k]


def test_unnamed_data_items_are_one_text() -> None:
    record = _record(
        "Windows PowerShell",
        "PowerShell",
        400,
        {"EventData": {"Data": {"#text": ["Available", "None", "HostName=ConsoleHost"]}}},
    )
    _, fields = record_fields(record)
    assert fields["winlog.event_data.Data"] == "Available\nNone\nHostName=ConsoleHost"


@pytest.mark.corpus
def test_a_real_user_data_record_log_cleared(shared_data: Path) -> None:
    events = _events(shared_data / "evtx" / "LM_ScheduledTask_ATSVC_target_host.evtx")
    cleared = [e for e in events if e["winlog.event_id"] == 1102]
    assert cleared
    check(
        cleared[0],
        {
            "winlog.event_data.SubjectUserName": "administrator",
            "winlog.user_data.LogFileCleared.SubjectUserName": "administrator",
        },
    )


@pytest.mark.corpus
def test_the_sigmahq_rules_for_defender_and_wmi_fire(shared_data: Path, tmp_path: Path) -> None:
    """The two regression misses: a Defender rule on ``SourceName`` and a WMI rule on a
    UserData ``Operation``, SigmaHQ's own rules, through the pipeline and a real store."""
    builtin = shared_data / "sigmahq" / "rules" / "windows" / "builtin"
    ruleset = load_rules(
        [
            builtin / "windefend" / "win_defender_malware_detected_amsi_source.yml",
            builtin / "wmi" / "win_wmi_activity_nteventlogfile_cleareventlog.yml",
        ]
    )
    assert len(ruleset.rules) == 2
    store = SQLiteStore(tmp_path / "e.db")
    source = Source("sample.evtx", "sample")
    events = []
    for n, doc in enumerate((DEFENDER, WMI)):
        stamp, fields = record_fields(doc)
        events.append(new_event("evtx", source, f"record:{n}", stamp, json.dumps(doc), fields))
    store.write(events)
    pipeline = combined(load_pipelines().values())
    target = SqliteRuleTarget(store, pipeline)
    compilation = compile_rules(ruleset, "sqlite", target.backend)
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)
    result = run_rules(compilation, target, start, end, prefilter=False)
    fired = {a.title for a in result.alerts}
    assert len(fired) == 2, fired
    store.close()
