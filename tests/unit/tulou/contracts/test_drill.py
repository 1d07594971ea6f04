"""The drill record format: sealing, parsing, verification, storage (tulou/contracts/drill.py).

The real drill producing records for the real reports is tests/integration/contracts/
test_drill_record.py; here each rule of the format is pinned down with real SM2 keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.sm2 import SM2PrivateKey, SM2PublicKey
from tulou.contracts import drill
from tulou.errors import InputError, NotFoundError, VerificationError

KEY = SM2PrivateKey.generate()


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "drill_id": "ab" * 16,
        "scenario": "site-loss",
        "injected": False,
        "sites": ["a", "b"],
        "started": "2026-03-01T10:00:00.000000Z",
        "finished": "2026-03-01T10:02:00.000000Z",
        "incident_time": "2026-03-01T10:00:00+00:00",
        "restore_point": {"snapshot": "s1", "time": "2026-03-01T09:00:00Z", "site": "b"},
        "phases": [],
        "checks": [{"name": "x", "ok": True}, {"name": "y", "ok": False}],
        "rto": {"objective_seconds": 600, "achieved_seconds": 12.5, "met": True},
        "rpo": {"objective_seconds": 3600, "achieved_seconds": None, "met": False},
        "outcome": "failed",
        "error": None,
    }
    data.update(overrides)
    return data


def test_sealed_record_verifies_and_reads_back_typed() -> None:
    record = drill.verify(drill.seal(body(), KEY), SM2PublicKey.from_der)
    assert record.signer_fingerprint == KEY.public_key().fingerprint()
    assert record.started == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert (record.checks_passed, record.checks_total) == (1, 2)
    assert record.rpo.achieved_seconds is None and record.rto.achieved_seconds == 12.5
    assert record.restore_point == drill.RestorePoint("s1", "2026-03-01T09:00:00Z", "b")


@pytest.mark.parametrize(
    ("field", "value"),
    [("outcome", "passed"), ("rto", {"objective_seconds": 600, "achieved_seconds": 1, "met": 1})],
)
def test_any_change_breaks_the_signature(field: str, value: Any) -> None:
    sealed = drill.seal(body(), KEY)
    sealed[field] = value
    with pytest.raises(VerificationError):
        drill.verify(sealed, SM2PublicKey.from_der)


def test_the_pin_names_the_only_acceptable_signer() -> None:
    other = SM2PrivateKey.generate()
    sealed = drill.seal(body(), other)
    assert drill.verify(sealed, SM2PublicKey.from_der, other.public_key().fingerprint())
    with pytest.raises(VerificationError, match="pinned"):
        drill.verify(sealed, SM2PublicKey.from_der, KEY.public_key().fingerprint())
    # A record re-signed by someone else under the original signer's name.
    forged = dict(
        sealed, signer={**sealed["signer"], "fingerprint": KEY.public_key().fingerprint()}
    )
    with pytest.raises(VerificationError):
        drill.verify(forged, SM2PublicKey.from_der)


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"format": "tulou-drill-record/2"},
        {k: v for k, v in body(format=drill.FORMAT).items() if k != "rto"},
        body(format=drill.FORMAT, outcome="maybe"),
        body(format=drill.FORMAT, started="yesterday"),
    ],
)
def test_what_is_not_a_record_is_an_input_error(document: Any) -> None:
    with pytest.raises(InputError, match="not a drill record"):
        drill.parse(document)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(list(body())), st.none() | st.text() | st.integers()))
def test_parse_never_fails_but_with_input_error(changes: dict[str, Any]) -> None:
    document = {**drill.seal(body(), KEY), **changes}
    try:
        record = drill.parse(document)
    except InputError:
        return
    assert (record.drill_id, record.scenario) == (
        str(document["drill_id"]),
        str(document["scenario"]),
    )


def test_write_is_atomic_and_find_resolves_ids(tmp_path: Path) -> None:
    first = drill.write(drill.seal(body(), KEY), tmp_path)
    second = drill.write(drill.seal(body(drill_id="abababab" + "cd" * 12), KEY), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, second.name])
    assert json.loads(first.read_text())["drill_id"] == "ab" * 16
    assert drill.find(tmp_path, "ab" * 16) == first
    assert drill.find(tmp_path, "ababababcdcd") == second
    assert drill.find(tmp_path, second.stem) == second
    with pytest.raises(NotFoundError, match="ambiguous"):
        drill.find(tmp_path, "abababab")
    with pytest.raises(NotFoundError, match="not found"):
        drill.find(tmp_path, "ab")  # shorter than 8 characters is never taken as a prefix


def test_a_body_that_is_not_a_record_is_never_written(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        drill.write(body(), tmp_path)  # not sealed: no format, no signer
    assert not any(tmp_path.iterdir())


def test_a_record_is_never_overwritten(tmp_path: Path) -> None:
    sealed = drill.seal(body(), KEY)
    first = drill.write(sealed, tmp_path)
    with pytest.raises(InputError, match="already exists"):
        drill.write(drill.seal(body(outcome="passed"), KEY), tmp_path)
    assert json.loads(first.read_text())["outcome"] == "failed"
    assert [p.name for p in tmp_path.iterdir()] == [first.name]
