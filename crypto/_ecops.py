"""SM2-curve point arithmetic in OpenSSL 3's libcrypto through ctypes (for PSI blinding).

Only what private set intersection needs: decode a point (OpenSSL checks it lies on the
curve), multiply it by a secret scalar, encode it compressed. The scalar lives in an OpenSSL
``BIGNUM`` freed with ``BN_clear_free``; ``EC_POINT_mul`` on a prime curve is OpenSSL's
constant-time Montgomery ladder. Nothing is loaded at import time.
"""

from __future__ import annotations

import ctypes
import functools
import weakref
from collections.abc import Sequence
from typing import Any

from crypto import _libcrypto
from tulou.errors import ConfigError, InputError

NID_SM2 = 1172
COMPRESSED = 2
_P = ctypes.c_void_p
_SIGS = {
    "EC_GROUP_new_by_curve_name": (_P, [ctypes.c_int]),
    "EC_POINT_new": (_P, [_P]),
    "EC_POINT_free": (None, [_P]),
    "EC_POINT_oct2point": (ctypes.c_int, [_P, _P, ctypes.c_char_p, ctypes.c_size_t, _P]),
    "EC_POINT_point2oct": (
        ctypes.c_size_t,
        [_P, _P, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, _P],
    ),
    "EC_POINT_mul": (ctypes.c_int, [_P, _P, _P, _P, _P, _P]),
    "EC_POINT_is_at_infinity": (ctypes.c_int, [_P, _P]),
    "BN_bin2bn": (_P, [ctypes.c_char_p, ctypes.c_int, _P]),
    "BN_clear_free": (None, [_P]),
    "BN_CTX_new": (_P, []),
    "BN_CTX_free": (None, [_P]),
    "ERR_clear_error": (None, []),
}


class _EC:
    def __getattr__(self, name: str) -> Any:  # the functions of _SIGS, set in __init__
        raise AttributeError(name)

    def __init__(self) -> None:
        dll = ctypes.CDLL(_libcrypto.lib().path)
        for name, (res, args) in _SIGS.items():
            fn = getattr(dll, name)
            fn.restype, fn.argtypes = res, args
            setattr(self, name, fn)
        self.group = self.EC_GROUP_new_by_curve_name(NID_SM2)
        if not self.group:
            raise ConfigError("OpenSSL has no SM2 curve")


@functools.cache
def ec() -> _EC:
    return _EC()


class Scalar:
    """A secret scalar in [1, n-1] held as an OpenSSL BIGNUM (cleared when freed)."""

    __slots__ = ("__weakref__", "_bn", "_fin")

    def __init__(self, value: bytes) -> None:
        e = ec()
        self._bn = e.BN_bin2bn(value, len(value), None)
        if not self._bn:
            raise MemoryError("BN_bin2bn")
        self._fin = weakref.finalize(self, e.BN_clear_free, self._bn)

    def __repr__(self) -> str:
        return "Scalar(<secret>)"

    def multiply(self, points: Sequence[bytes]) -> list[bytes]:
        """[k]P for every encoded point P (compressed out); refuses points off the curve."""
        e = ec()
        ctx = e.BN_CTX_new()
        p = e.EC_POINT_new(e.group)
        r = e.EC_POINT_new(e.group)
        buf = ctypes.create_string_buffer(33)
        out = []
        try:
            for i, enc in enumerate(points):
                if e.EC_POINT_oct2point(e.group, p, enc, len(enc), ctx) != 1:
                    e.ERR_clear_error()
                    raise InputError(f"point {i} is not on the SM2 curve")
                if e.EC_POINT_mul(
                    e.group, r, None, p, self._bn, ctx
                ) != 1 or e.EC_POINT_is_at_infinity(e.group, r):
                    raise InputError(f"point {i} cannot be blinded")
                n = e.EC_POINT_point2oct(e.group, r, COMPRESSED, buf, 33, ctx)
                out.append(buf.raw[:n])
        finally:
            e.EC_POINT_free(p)
            e.EC_POINT_free(r)
            e.BN_CTX_free(ctx)
        return out
