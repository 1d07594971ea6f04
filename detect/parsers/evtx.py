"""Windows event logs (``.evtx``) through the maintained ``evtx`` package (a Rust parser).

Each record becomes one event at position ``record:<EventRecordID>``, with the winlogbeat-style
``winlog.*`` fields (``winlog.event_data.<Name>`` for every EventData item and every UserData
payload item, named as Sigma names them: :func:`data_name`) and ECS process,
network and authentication fields for the Sysmon and Security events rules use most
(docs/detect.md). A file the library cannot open, or a record it cannot decode, is rejected
with the library's reason; the other records still come through.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, BinaryIO, ClassVar

import evtx

from detect.model import Rejected, Source, new_event
from detect.parsers.base import Item
from tulou.events import flatten, format_timestamp, parse_timestamp

MAGIC = b"ElfFile\x00"
#: Give up on a file after this many undecodable records in a row (it is not an EVTX file).
MAX_CONSECUTIVE_ERRORS = 100


def _text(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("#text", json.dumps(value, sort_keys=True))
    return value


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int | bool) for v in value):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def data_name(name: str) -> str:
    """An EventData/UserData name as Sigma's rules spell it: without spaces (Defender writes
    ``Source Name``, ``Threat Name``, ``Process Name``; the rules ask for ``SourceName``...)."""
    return name.replace(" ", "")


def _data_value(value: Any) -> Any:
    """An EventData value: text nodes unwrapped; unnamed ``<Data>`` lists joined by newlines
    (classic channels such as "Windows PowerShell" 400/800, which rules match with
    ``Data|contains``)."""
    if isinstance(value, dict) and "#text" in value:
        value = value["#text"]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return _scalar(value)


def user_data_fields(user_data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``<UserData>``'s payload: (``winlog.user_data.<Element>.<Name>`` fields, and the same
    values by their Sigma name ``<Name>`` for ``winlog.event_data``). UserData holds one
    provider-defined element (WMI-Activity 5857-5861 ``Operation_*``, Security 1102
    ``LogFileCleared``...) whose children are what Sigma rules name, like EventData items."""
    full: dict[str, Any] = {}
    named: dict[str, Any] = {}
    for key, value in flatten(user_data).items():
        if "#attributes" in key.split("."):
            continue
        full[f"winlog.user_data.{key}"] = _scalar(value)
        inner = key.split(".", 1)[1] if "." in key else key
        named.setdefault(data_name(inner), _data_value(value))
    return full, named


def _attr(node: Any, name: str) -> Any:
    if isinstance(node, dict):
        return node.get("#attributes", {}).get(name)
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            return None
    return None


def _sysmon(code: int, data: dict[str, Any]) -> dict[str, Any]:
    if code == 1:
        return {
            "event.category": ["process"],
            "event.type": ["start"],
            "event.action": "process_created",
            "process.executable": data.get("Image"),
            "process.command_line": data.get("CommandLine"),
            "process.pid": _int(data.get("ProcessId")),
            "process.entity_id": data.get("ProcessGuid"),
            "process.working_directory": data.get("CurrentDirectory"),
            "process.parent.executable": data.get("ParentImage"),
            "process.parent.command_line": data.get("ParentCommandLine"),
            "process.parent.pid": _int(data.get("ParentProcessId")),
            "process.pe.original_file_name": data.get("OriginalFileName"),
        }
    if code == 3:
        return {
            "event.category": ["network"],
            "event.type": ["connection", "start"],
            "event.action": "network_connection",
            "process.executable": data.get("Image"),
            "process.pid": _int(data.get("ProcessId")),
            "network.transport": data.get("Protocol"),
            "source.ip": data.get("SourceIp"),
            "source.port": _int(data.get("SourcePort")),
            "destination.ip": data.get("DestinationIp"),
            "destination.port": _int(data.get("DestinationPort")),
            "destination.domain": data.get("DestinationHostname") or None,
        }
    if code == 11:
        return {
            "event.category": ["file"],
            "event.type": ["creation"],
            "event.action": "file_created",
            "process.executable": data.get("Image"),
            "file.path": data.get("TargetFilename"),
        }
    return {"process.executable": data.get("Image"), "process.pid": _int(data.get("ProcessId"))}


def _security(code: int, data: dict[str, Any]) -> dict[str, Any]:
    if code in (4624, 4625):
        return {
            "event.category": ["authentication"],
            "event.type": ["start"] if code == 4624 else ["info"],
            "event.action": "logged-in" if code == 4624 else "logon-failed",
            "event.outcome": "success" if code == 4624 else "failure",
            "user.name": data.get("TargetUserName"),
            "user.domain": data.get("TargetDomainName"),
            "source.ip": data.get("IpAddress")
            if data.get("IpAddress") not in ("-", None)
            else None,
            "source.port": _int(data.get("IpPort")) or None,
        }
    if code == 4688:
        return {
            "event.category": ["process"],
            "event.type": ["start"],
            "event.action": "created-process",
            "process.executable": data.get("NewProcessName"),
            "process.command_line": data.get("CommandLine"),
            "process.parent.executable": data.get("ParentProcessName"),
            "user.name": data.get("SubjectUserName"),
        }
    return {"user.name": data.get("SubjectUserName") or data.get("TargetUserName")}


def record_fields(document: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The timestamp and fields of one record's JSON (as the ``evtx`` package renders it)."""
    event = document["Event"]
    system = event["System"]
    code = _int(_text(system.get("EventID")))
    channel = system.get("Channel")
    provider = _attr(system.get("Provider"), "Name")
    execution = system.get("Execution")
    raw_data = event.get("EventData") or {}
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {"Data": raw_data}
    fields: dict[str, Any] = {
        "event.kind": "event",
        "event.code": str(code) if code is not None else None,
        "event.provider": provider,
        "event.module": "sysmon"
        if channel == "Microsoft-Windows-Sysmon/Operational"
        else "windows",
        "host.name": system.get("Computer"),
        "log.level": {1: "critical", 2: "error", 3: "warning", 4: "information"}.get(
            _int(system.get("Level")) or 0
        ),
        "winlog.channel": channel,
        "winlog.event_id": code,
        "winlog.provider_name": provider,
        "winlog.provider_guid": _attr(system.get("Provider"), "Guid"),
        "winlog.computer_name": system.get("Computer"),
        "winlog.record_id": _int(system.get("EventRecordID")),
        "winlog.task": _int(system.get("Task")),
        "winlog.opcode": _int(system.get("Opcode")),
        "winlog.keywords": system.get("Keywords"),
        "winlog.process.pid": _int(_attr(execution, "ProcessID")),
        "winlog.process.thread.id": _int(_attr(execution, "ThreadID")),
        "winlog.user.identifier": _attr(system.get("Security"), "UserID"),
    }
    for key, value in data.items():
        if key != "#attributes":
            fields[f"winlog.event_data.{data_name(key)}"] = _data_value(value)
    user_data = event.get("UserData")
    if isinstance(user_data, dict):
        full, named = user_data_fields(user_data)
        fields.update(full)
        for key, value in named.items():
            fields.setdefault(f"winlog.event_data.{key}", value)
    if code is not None:
        if fields["event.module"] == "sysmon":
            fields.update(_sysmon(code, data))
            user = data.get("User")
            if isinstance(user, str) and "\\" in user:
                fields["user.domain"], fields["user.name"] = user.split("\\", 1)
        elif channel == "Security":
            fields.update(_security(code, data))
    stamp = _attr(system.get("TimeCreated"), "SystemTime")
    return format_timestamp(parse_timestamp(stamp)), fields


class EvtxParser:
    """Windows EVTX files to ``winlog.*`` + ECS events."""

    id: ClassVar[str] = "evtx"
    description: ClassVar[str] = "Windows event logs (.evtx)"

    def sniff(self, head: bytes) -> int:
        return 100 if head.startswith(MAGIC) else 0

    def parse(self, stream: BinaryIO, source: Source) -> Iterator[Item]:
        try:
            parser = evtx.PyEvtxParser(stream, number_of_threads=1)
            records = parser.records_json()
        except (OSError, RuntimeError, ValueError) as exc:
            yield Rejected("file", f"not a readable EVTX file: {exc}", b"")
            return
        errors = 0
        while errors < MAX_CONSECUTIVE_ERRORS:
            try:
                record: Any = next(records)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001 - the Rust parser raises several types
                errors += 1
                yield Rejected(f"record-error:{errors}", f"evtx: {exc}", b"")
                continue
            errors = 0
            position = f"record:{record['event_record_id']}"
            original = str(record["data"])
            try:
                timestamp, fields = record_fields(json.loads(original))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                yield Rejected(
                    position, f"evtx record: {type(exc).__name__}: {exc}", original.encode()
                )
                continue
            yield new_event(self.id, source, position, timestamp, original, fields)
