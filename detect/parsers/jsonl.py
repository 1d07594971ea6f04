"""JSON lines: generic objects, and the gateway's audit log (ECS JSON lines).

Generic: each line is a JSON object; nested objects are flattened to dotted keys; the time is
taken from ``@timestamp``, ``timestamp``, ``time`` or ``ts`` (ISO 8601 or epoch seconds), else
the line is rejected (an event without a time cannot be placed in a time range). The gateway's
audit lines are already ECS: their fields are kept as written, and ``event.dataset`` becomes
``gateway.audit`` (``event.module: gateway``).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any, ClassVar

from detect.model import Source, new_event
from detect.parsers.base import LineParser
from tulou.errors import InputError
from tulou.events import Event, flatten, format_timestamp, parse_timestamp

_TIME_KEYS = ("@timestamp", "timestamp", "time", "ts")
#: Fields the parser itself sets; values for them in the input are not trusted.
_OWN = (
    "event.id",
    "event.dataset",
    "event.original",
    "event.hash",
    "log.file.path",
    "log.offset",
)


def _timestamp(value: Any) -> str:
    if isinstance(value, bool):
        raise InputError("timestamp is a boolean")
    if isinstance(value, int | float):
        if not math.isfinite(value) or not 0 <= value < 253402300800:
            raise InputError(f"epoch timestamp {value!r} out of range")
        return format_timestamp(datetime.fromtimestamp(value, UTC))
    if isinstance(value, str):
        try:
            return format_timestamp(parse_timestamp(value))
        except (ValueError, OverflowError) as exc:
            raise InputError(f"bad timestamp {value[:64]!r}") from exc
    raise InputError("timestamp is not a string or a number")


def load_object(line: str) -> dict[str, Any]:
    try:
        document = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise InputError("a JSON line must be an object")
    return flatten(document)


def _clean(value: Any) -> Any:
    """Scalars and lists of scalars stay; anything else becomes its JSON text."""
    if value is None or isinstance(value, str | int | float | bool):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return value
    if isinstance(value, list) and all(v is None or isinstance(v, str | int | bool) for v in value):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


class JsonLinesParser(LineParser):
    """Any JSON object per line, flattened to dotted keys."""

    id: ClassVar[str] = "json"
    description: ClassVar[str] = "JSON lines (generic objects, flattened)"

    def fields_from(self, flat: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        stamp = next((flat[key] for key in _TIME_KEYS if key in flat), None)
        if stamp is None:
            raise InputError("no @timestamp, timestamp, time or ts field")
        fields = {key: _clean(value) for key, value in flat.items() if key not in _OWN}
        fields.pop("@timestamp", None)
        fields.setdefault("event.kind", "event")
        return _timestamp(stamp), fields

    def sniff(self, head: bytes) -> int:
        return 60 if head.lstrip().startswith(b"{") and super().sniff(head) else 0

    def parse_line(self, line: str, source: Source, position: int) -> Event | None:
        timestamp, fields = self.fields_from(load_object(line))
        return new_event(self.id, source, position, timestamp, line, fields)


class GatewayAuditParser(JsonLinesParser):
    """The gateway's access-decision audit log: ECS JSON lines (event.dataset tulou.gateway)."""

    id: ClassVar[str] = "gateway.audit"
    description: ClassVar[str] = "the Tulou gateway's audit log (ECS JSON lines)"

    def sniff(self, head: bytes) -> int:
        score = super().sniff(head)
        if score and b'"gateway' in head:
            return 90
        return 0

    def parse_line(self, line: str, source: Source, position: int) -> Event | None:
        flat = load_object(line)
        module = flat.get("event.module")
        dataset = flat.get("event.dataset")
        product = flat.get("observer.product")
        if not (
            module == "gateway"
            or product == "tulou-gateway"
            or (isinstance(dataset, str) and dataset in ("gateway", "tulou.gateway"))
            or (isinstance(dataset, str) and dataset.startswith("gateway."))
        ):
            raise InputError(
                "not a gateway audit record (no event.dataset tulou.gateway, "
                "observer.product tulou-gateway or event.module gateway)"
            )
        timestamp, fields = self.fields_from(flat)
        fields["event.module"] = "gateway"
        fields.setdefault("event.category", ["network", "iam"])
        return new_event(self.id, source, position, timestamp, line, fields)
