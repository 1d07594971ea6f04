"""Processing pipelines: how rules written in Sigma's taxonomy address Tulou's ECS events.

Pipelines come from two places, both keyed by a stable id:

- YAML files in ``rules/pipelines/*.yml`` (pySigma's own pipeline format; the id is the
  ``name:`` in the file), and
- Python pipelines registered in :data:`PYTHON_PIPELINES` (used where a table is generated,
  e.g. the Windows channel and Sysmon event-id conditions).

Convention that lets us report "no pipeline knows this log source": every processing item that
restricts a rule to its log source (``add_condition`` on ``event.dataset``, ``winlog.channel``...)
has an id ending in ``_source``. A rule on which no ``*_source`` item was applied has a log
source we do not collect, and is reported as unsupported instead of silently matching nothing
(or everything).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from sigma.pipelines.common import windows_logsource_mapping
from sigma.processing.conditions import ExcludeFieldCondition, LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    AddConditionTransformation,
    AddFieldnamePrefixTransformation,
    FieldMappingTransformation,
)
from sigma.rule import SigmaRule

from tulou.errors import ConfigError

SOURCE_SUFFIX = "_source"

#: Sysmon (and PowerShell script block) categories -> (channel, event ids).
_SYSMON = "Microsoft-Windows-Sysmon/Operational"
WINDOWS_CATEGORIES: dict[str, tuple[str, tuple[int, ...]]] = {
    "process_creation": (_SYSMON, (1,)),
    "file_change": (_SYSMON, (2,)),
    "network_connection": (_SYSMON, (3,)),
    "sysmon_status": (_SYSMON, (4, 16)),
    "process_termination": (_SYSMON, (5,)),
    "driver_load": (_SYSMON, (6,)),
    "image_load": (_SYSMON, (7,)),
    "create_remote_thread": (_SYSMON, (8,)),
    "raw_access_thread": (_SYSMON, (9,)),
    "process_access": (_SYSMON, (10,)),
    "file_event": (_SYSMON, (11,)),
    "registry_add": (_SYSMON, (12,)),
    "registry_delete": (_SYSMON, (12,)),
    "registry_set": (_SYSMON, (13,)),
    "registry_rename": (_SYSMON, (14,)),
    "registry_event": (_SYSMON, (12, 13, 14)),
    "create_stream_hash": (_SYSMON, (15,)),
    "pipe_created": (_SYSMON, (17, 18)),
    "wmi_event": (_SYSMON, (19, 20, 21)),
    "dns_query": (_SYSMON, (22,)),
    "file_delete": (_SYSMON, (23, 26)),
    "clipboard_capture": (_SYSMON, (24,)),
    "process_tampering": (_SYSMON, (25,)),
    "file_block_executable": (_SYSMON, (27,)),
    "file_block_shredding": (_SYSMON, (28,)),
    "file_executable_detected": (_SYSMON, (29,)),
    "sysmon_error": (_SYSMON, (255,)),
    "ps_script": ("Microsoft-Windows-PowerShell/Operational", (4104,)),
    "ps_module": ("Microsoft-Windows-PowerShell/Operational", (4103,)),
    "ps_classic_start": ("Windows PowerShell", (400,)),
}

#: Sigma's Windows "system" fields -> ECS; every other field is ``winlog.event_data.<Name>``.
WINDOWS_FIELDS = {
    "EventID": "winlog.event_id",
    "Channel": "winlog.channel",
    "Provider_Name": "winlog.provider_name",
    "Computer": "host.name",
    "EventRecordID": "winlog.record_id",
}


def windows_pipeline() -> ProcessingPipeline:
    """EVTX events (channel, event id, ``EventData`` names kept as they are) for Windows rules."""
    items: list[ProcessingItem] = []
    for service, channel in windows_logsource_mapping.items():
        channels = channel if isinstance(channel, list) else [channel]
        items.append(
            ProcessingItem(
                identifier=f"windows_{service}{SOURCE_SUFFIX}",
                transformation=AddConditionTransformation({"Channel": [str(c) for c in channels]}),
                rule_conditions=[LogsourceCondition(product="windows", service=service)],
            )
        )
    for category, (channel, ids) in WINDOWS_CATEGORIES.items():
        items.append(
            ProcessingItem(
                identifier=f"windows_{category}{SOURCE_SUFFIX}",
                transformation=AddConditionTransformation(
                    {"Channel": channel, "EventID": [str(i) for i in ids]}
                ),
                rule_conditions=[LogsourceCondition(product="windows", category=category)],
            )
        )
    items.append(
        ProcessingItem(
            identifier="windows_fields",
            transformation=FieldMappingTransformation(
                {key: value for key, value in WINDOWS_FIELDS.items()}  # widens the key type
            ),
            rule_conditions=[LogsourceCondition(product="windows")],
        )
    )
    items.append(
        ProcessingItem(
            identifier="windows_event_data",
            transformation=AddFieldnamePrefixTransformation("winlog.event_data."),
            rule_conditions=[LogsourceCondition(product="windows")],
            field_name_conditions=[
                ExcludeFieldCondition(fields=[r"^(winlog|host)\..*"], mode="re")
            ],
        )
    )
    return ProcessingPipeline(name="tulou-windows", priority=20, items=items)


#: Pipelines written in Python, by id. Explicit list: no discovery.
PYTHON_PIPELINES: dict[str, Callable[[], ProcessingPipeline]] = {
    "tulou-windows": windows_pipeline,
}


def default_pipeline_dir() -> Path:
    """``rules/pipelines`` of the repository this package lives in."""
    return Path(__file__).resolve().parents[2] / "rules" / "pipelines"


def load_pipelines(directory: Path | None = None) -> dict[str, ProcessingPipeline]:
    """Every pipeline by id: the YAML files in ``directory`` and the Python registry.

    Raises :class:`ConfigError` (with the file) for an invalid file or a duplicate id: a broken
    pipeline changes what every rule means, so it is never skipped.
    """
    directory = directory or default_pipeline_dir()
    pipelines: dict[str, ProcessingPipeline] = {}
    for path in sorted(directory.glob("*.yml")):
        try:
            pipeline = ProcessingPipeline.from_yaml(path.read_text(encoding="utf-8"))
        except Exception as exc:  # pySigma raises many types; one typed error out
            raise ConfigError(f"invalid processing pipeline: {exc}", location=str(path)) from exc
        _register(pipelines, pipeline.name or "", pipeline, str(path))
    for pid, factory in PYTHON_PIPELINES.items():
        _register(pipelines, pid, factory(), f"{__name__}.PYTHON_PIPELINES")
    return pipelines


def _register(
    into: dict[str, ProcessingPipeline], pid: str, pipeline: ProcessingPipeline, where: str
) -> None:
    if not pid:
        raise ConfigError("processing pipeline has no name (its id)", location=where)
    if pid in into:
        raise ConfigError(f"duplicate processing pipeline id {pid!r}", location=where)
    into[pid] = pipeline


def combined(pipelines: Iterable[ProcessingPipeline]) -> ProcessingPipeline:
    """One pipeline applying all of them, lower priority first (pySigma's ordering rule)."""
    ordered = sorted(pipelines, key=lambda p: (p.priority, p.name or ""))
    result = ProcessingPipeline()
    for pipeline in ordered:
        result = result + pipeline
    return result


def has_known_source(rule: SigmaRule) -> bool:
    """After conversion: did a ``*_source`` item restrict this rule to a log source we collect?"""
    return any(item.endswith(SOURCE_SUFFIX) for item in rule.applied_processing_items)
