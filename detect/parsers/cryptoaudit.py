"""The crypto service's audit log (ECS JSON lines, ``event.dataset: crypto.service``).

The service (``crypto.service.audit``) writes one flat-ECS JSON object per operation with
``observer.product: tulou-crypto``; its fields are kept as written and ``event.dataset``
becomes ``crypto.audit`` (``event.module: crypto``). Lines that are not the service's are
rejected with the reason, never guessed into another shape.
"""

from __future__ import annotations

from typing import ClassVar

from detect.model import Source, new_event
from detect.parsers.jsonl import JsonLinesParser, load_object
from tulou.errors import InputError
from tulou.events import Event


class CryptoAuditParser(JsonLinesParser):
    id: ClassVar[str] = "crypto.audit"
    description: ClassVar[str] = "the Tulou crypto service's audit log (ECS JSON lines)"

    def sniff(self, head: bytes) -> int:
        score = super().sniff(head)
        return 95 if score and b'"tulou-crypto"' in head else 0

    def parse_line(self, line: str, source: Source, position: int) -> Event | None:
        flat = load_object(line)
        if flat.get("observer.product") != "tulou-crypto":
            raise InputError(
                "not a crypto service audit record (observer.product is not tulou-crypto)"
            )
        timestamp, fields = self.fields_from(flat)
        fields["event.module"] = "crypto"
        fields["tulou.source_dataset"] = flat.get("event.dataset")
        return new_event(self.id, source, position, timestamp, line, fields)
