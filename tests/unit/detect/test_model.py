"""new_event: the required fields first, then the parser's fields without empty values."""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from detect.model import Source, new_event
from tulou.events import event_id

SOURCE = Source(name="auth.log", identity="abc")
KEYS = st.sampled_from(["user.name", "log.offset", "event.id", "message", "x", "@timestamp"])
VALUES = st.one_of(st.none(), st.just(""), st.text(max_size=3), st.integers(), st.lists(st.none()))


def reference(position: int | str, fields: dict[str, Any]) -> dict[str, Any]:
    """The straightforward definition: a filtered copy merged into the required fields."""
    # docs/detect.md: event.hash = SHA-256(event.original), event.id = the first 32 hex of
    # SHA-256("<position-based id>\0<event.hash>")
    digest = hashlib.sha256(b"line").hexdigest()
    base = event_id("auth:abc", position)
    event: dict[str, Any] = {
        "@timestamp": "2026-03-01T00:00:00.000Z",
        "event.id": hashlib.sha256(f"{base}\x00{digest}".encode()).hexdigest()[:32],
        "event.dataset": "auth",
        "event.original": "line",
        "event.hash": digest,
        "log.file.path": "auth.log",
        "log.offset": position if isinstance(position, int) else None,
    }
    event.update({k: v for k, v in fields.items() if v is not None and v != ""})
    if event["log.offset"] is None:
        del event["log.offset"]
    return event


@settings(max_examples=200, deadline=None)
@given(
    position=st.one_of(st.integers(0, 10**6), st.sampled_from(["record:7", "dns:3"])),
    fields=st.dictionaries(KEYS, VALUES, max_size=6),
)
def test_new_event_is_the_filtered_merge_keys_in_order(
    position: int | str, fields: dict[str, Any]
) -> None:
    got = new_event("auth", SOURCE, position, "2026-03-01T00:00:00.000Z", "line", fields)
    assert list(got.items()) == list(reference(position, fields).items())
