"""Key shares at rest: wrapped, atomic, bound to their metadata."""

from __future__ import annotations

import json
import stat

import pytest

from crypto.he import sharestore
from tulou.errors import InputError, VerificationError

from .conftest import World


def test_round_trip_wrong_passphrase_and_tampering(bgv_world: World, tmp_path) -> None:
    share = bgv_world.shares["civil"]
    path = tmp_path / "civil.share"
    sharestore.save(path, share, b"correct horse", iterations=1000)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert share.blobs[0][:64].hex() not in path.read_text()
    loaded = sharestore.load(path, b"correct horse", kind="key-share")
    assert loaded.blobs == share.blobs and loaded.header == share.header
    with pytest.raises(VerificationError, match="wrong passphrase"):
        sharestore.load(path, b"wrong", kind="key-share")
    raw = json.loads(path.read_text())
    raw["party"] = "health"
    path.write_text(json.dumps(raw))
    with pytest.raises(VerificationError):
        sharestore.load(path, b"correct horse", kind="key-share")
    with pytest.raises(InputError):
        sharestore.load(path, b"correct horse", kind="keygen-state")
