"""crypto.native.load: when the native extensions are used, and when OpenSSL is."""

from __future__ import annotations

import pytest

from crypto import native


def test_a_missing_extension_means_openssl() -> None:
    assert native.load("_no_such_extension") is None


def test_the_switch_turns_native_code_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TULOU_CRYPTO_NATIVE", "0")
    assert native.load("_sm3x") is None
    assert native.load("_sm4x") is None


@pytest.mark.parametrize("name", ["_sm3x", "_sm4x"])
def test_a_built_extension_is_used_when_the_cpu_runs_it(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.delenv("TULOU_CRYPTO_NATIVE", raising=False)
    ext = pytest.importorskip(f"crypto.{name}")  # built by scripts/setup.sh
    assert native.load(name) is (ext if ext.available() else None)
