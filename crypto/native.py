"""Choosing the native SM3/SM4 backend (``crypto/_native``) or OpenSSL, once per process.

The native extensions are used when they were built, the CPU has what their vector code needs
(each extension's ``available()``), and ``TULOU_CRYPTO_NATIVE`` is not ``0``. The choice is made
at import and does not change afterwards; both backends give identical results (the crypto
test suite runs both). docs/crypto.md, "Native backend".
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def load(name: str) -> ModuleType | None:
    """The extension ``crypto.<name>`` if it should be used, else None (OpenSSL)."""
    if os.environ.get("TULOU_CRYPTO_NATIVE", "1").strip() == "0":
        return None
    try:
        ext = importlib.import_module(f"crypto.{name}")
    except ImportError:  # not built (e.g. no C compiler at install time)
        return None
    return ext if ext.available() else None
