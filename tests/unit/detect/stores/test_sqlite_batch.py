from __future__ import annotations

import pickle  # noqa: TID251 - our own objects, as the process pool hands them over
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detect.stores.base import EncodesBatches, Query
from detect.stores.sqlite import SQLiteStore
from detect.stores.sqlite_batch import EncodedBatch, encode_batch
from tests.unit.detect.stores.store_conformance import make

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.sampled_from(["a", "b"]), SCALARS, max_size=2),
)
# Few names, some differing only in case (one SQLite column), so batches share and collide.
NAMES = st.sampled_from(["user.name", "User.Name", "source.port", "tags", "x", "event.kind"])


@st.composite
def batches(draw: st.DrawFn) -> list[dict[str, Any]]:
    events = []
    for _ in range(draw(st.integers(0, 12))):
        event = make(draw(st.integers(0, 8)), **draw(st.dictionaries(NAMES, VALUES, max_size=4)))
        if draw(st.integers(0, 9)) == 0:
            event["event.id"] = draw(st.sampled_from([None, 7]))  # rejected
        events.append(event)
    return events


def dump(store: SQLiteStore) -> tuple[list[Any], list[Any], list[Any]]:
    """Everything a reader can see: rows, documents and the field catalogue."""
    rows = [tuple(r.values()) for r in store.query("SELECT * FROM events ORDER BY rowid")]
    docs = store.query("SELECT rowid, doc FROM documents ORDER BY rowid")
    fields = store.query("SELECT * FROM fields ORDER BY name")
    return rows, docs, fields


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=batches(), second=batches())
def test_an_encoded_batch_stores_what_the_plain_batch_stores(
    tmp_path: Path, first: list[dict[str, Any]], second: list[dict[str, Any]]
) -> None:
    plain = SQLiteStore(":memory:")
    encoded = SQLiteStore(":memory:")
    try:
        for batch in (first, second):  # the second batch meets known ids and known fields
            expected = plain.write(batch)
            # encoded "elsewhere": through pickle, as the parse worker hands it over
            got = encoded.write(pickle.loads(pickle.dumps(encode_batch(batch))))
            assert (got.stored, got.duplicates) == (expected.stored, expected.duplicates)
            assert got.rejected == expected.rejected
        assert dump(encoded) == dump(plain)
        assert encoded.search(Query(limit=100)) == plain.search(Query(limit=100))
    finally:
        plain.close()
        encoded.close()


@settings(max_examples=60, deadline=None)
@given(events=batches())
def test_an_encoded_batch_is_the_sequence_of_its_events(events: list[dict[str, Any]]) -> None:
    batch = encode_batch(events)
    firsts: dict[Any, dict[str, Any]] = {}
    for event in events:
        if isinstance(event["event.id"], str):
            firsts.setdefault(event["event.id"], event)
    repeated = [
        e for e in events if isinstance(e["event.id"], str) and firsts[e["event.id"]] is not e
    ]
    rejected = [e for e in events if not isinstance(e["event.id"], str)]
    # tuples are not generated, so JSON gives every value back as it was
    assert list(batch) == [*firsts.values(), *repeated, *rejected]
    assert len(batch) == len(events)
    assert batch.ids == list(firsts)
    assert batch[-1:] == list(batch)[-1:]
    assert [reason for _, reason in batch.rejected] == [
        "event.id and @timestamp must be strings"
    ] * len(rejected)


def test_a_one_element_list_of_numbers_gives_a_text_column_as_unencoded(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "e.db")
    store.write(
        encode_batch([make(0, **{"num": [5], "m": [None]}), make(1, **{"m": [None], "k": 3})])
    )
    affinity = {r["name"]: r["affinity"] for r in store.query("SELECT * FROM fields")}
    assert (affinity["num"], affinity["m"], affinity["k"]) == ("TEXT", "TEXT", "NUMERIC")
    assert store.query('SELECT "num", "m", "k" FROM events ORDER BY rowid') == [
        {"num": "5", "m": None, "k": None},  # TEXT affinity
        {"num": None, "m": None, "k": 3},
    ]
    store.close()


def test_the_sqlite_store_offers_its_encoder() -> None:
    store = SQLiteStore(":memory:")
    assert isinstance(store, EncodesBatches)
    encode = store.batch_encoder()
    assert pickle.loads(pickle.dumps(encode)) is encode_batch  # a worker process can run it
    assert isinstance(encode([make(0)]), EncodedBatch)
    store.close()
