"""The public surface of ``crypto``: every name in ``__all__`` exists and nothing runs at import."""

from __future__ import annotations

import subprocess
import sys

import crypto


def test_all_names_exist_and_are_sorted() -> None:
    assert crypto.__all__ == sorted(crypto.__all__)
    for name in crypto.__all__:
        assert getattr(crypto, name) is not None


def test_import_does_not_load_libcrypto() -> None:
    code = "import crypto, crypto._libcrypto as L, sys; sys.exit(L.lib.cache_info().currsize)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_typical_use_from_another_component() -> None:
    key = crypto.SM2PrivateKey.generate()
    token = b"header.claims"
    key.public_key().verify_raw(key.sign_raw(token), token)
    k = crypto.sm4.generate_key()
    assert crypto.sm4.open(k, crypto.sm4.seal(k, b"backup chunk", aad=b"id"), aad=b"id") == (
        b"backup chunk"
    )
    assert len(crypto.hmac_sm3(b"name key", b"object")) == 32
