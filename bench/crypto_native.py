"""The native SM3/SM4 kernels in GB/s beside OpenSSL in the same run, with the CPU they ran on.

Run: ``python -m bench crypto --native`` (this table only, ~1 min) or ``python -m bench crypto``
(everything). Rows (GB/s of user CPU time, best of several batches; 1 GB = 10^9 bytes):

- ``native``: crypto.sm3 / crypto.sm4 on the extension's kernel (named in the header);
- ``cryptography``: the same call with the native backend switched off (OpenSSL 4.0 bundled
  by ``cryptography``; what ``TULOU_CRYPTO_NATIVE=0`` runs);
- ``openssl SM``: ``openssl speed`` of the system OpenSSL 3.0 at 16 KiB blocks: ``-evp sm4-ctr``
  for SM4-GCM (3.0's ``speed`` has no SM4-GCM; GCM is CTR plus GHASH, so this reference is the
  stricter one), ``-evp sm3`` and ``-hmac sm3``;
- ``AES/SHA``: ``openssl speed -evp aes-256-gcm`` and ``-evp sha256`` / ``-hmac sha256``, the
  AES-NI/SHA-NI primitives restic-class tools run on this CPU (restic itself uses AES-256-CTR +
  Poly1305 and SHA-256), as context for what SM4/SM3 cost in comparison.

Batches (``sm3_many``) are aggregate GB/s on one core; OpenSSL hashes one message at a time, so
its single-stream rate is the reference.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as chmac

from bench.crypto import openssl_bytes_per_s, rate
from crypto import sm3, sm4

MIB = 1 << 20
#: /proc/cpuinfo flags that decide which kernel runs (printed present or absent).
FLAGS: tuple[str, ...] = ("aes", "pclmulqdq", "ssse3", "sse4_1", "avx", "avx2", "bmi2", "vaes")
FLAGS += ("vpclmulqdq", "gfni", "avx512f", "avx512bw", "avx512vl", "sha_ni")


def cpu_header() -> list[str]:
    """The CPU model, the flags that matter, the kernels in use and the load average."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    line = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
    have = set(line.group(1).split()) if line else set()
    ext4 = getattr(sm4, "_native", None)
    ext3 = getattr(sm3, "_native", None)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"# CPU: {model.group(1) if model else 'unknown'}, {os.cpu_count()} logical CPUs",
        "# flags: " + " ".join(f if f in have else f"-{f}" for f in FLAGS) + "  (-x: absent)",
        f"# SM4 kernel: {ext4.kernel() if ext4 else 'none (OpenSSL)'}"
        + (f" of {', '.join(ext4.kernels())}" if ext4 else "")
        + f"; SM3 kernel: {ext3.kernel() if ext3 else 'none (OpenSSL)'}",
        f"# load average at start: {load}",
    ]


def _openssl_gb(args: list[str], sec: float) -> float | None:
    value = openssl_bytes_per_s(args, 16384, sec)
    return value / 1e9 if value else None


def _gb(fn: Callable[[], object], nbytes: int, sec: float) -> float:
    return rate(fn, sec) * nbytes / 1e9


def _fmt(value: float | None) -> str:
    return f"{value:8.3f}" if value is not None else f"{'-':>8}"


def _ratio(a: float, b: float | None) -> str:
    return f"{a / b:6.2f}x" if b else f"{'-':>7}"


def _ossl_sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def _ossl_hmac(key: bytes, data: bytes) -> bytes:
    mac = chmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


def _each(fn: Callable[[bytes], bytes], items: list[bytes]) -> list[bytes]:
    return [fn(x) for x in items]


def native_rows(sec: float) -> None:
    """Print the header and the table (GB/s)."""
    for text in cpu_header():
        print(text)
    ref = {
        "sm4": _openssl_gb(["-evp", "sm4-ctr"], sec),
        "aes": _openssl_gb(["-evp", "aes-256-gcm"], sec),
        "sm3": _openssl_gb(["-evp", "sm3"], sec),
        "sha": _openssl_gb(["-evp", "sha256"], sec),
        "hsm3": _openssl_gb(["-hmac", "sm3"], sec),
        "hsha": _openssl_gb(["-hmac", "sha256"], sec),
    }
    cols = ("operation", "size", "native", "crypto-", "openssl", "nat/SM", "AES/SHA", "nat/AES")
    print(
        f"{cols[0]:24} {cols[1]:>9} {cols[2]:>8} {cols[3]:>8} {cols[4]:>8} {cols[5]:>7} "
        f"{cols[6]:>8} {cols[7]:>7}"
    )
    print(f"{'':24} {'':>9} {'':>8} {'graphy':>8} {'SM 3.0':>8}")

    def line(name: str, size: str, nat: float, alt: float, *, sm: str, other: str) -> None:
        print(
            f"{name:24} {size:>9} {nat:8.3f} {alt:8.3f} {_fmt(ref[sm])} {_ratio(nat, ref[sm])} "
            f"{_fmt(ref[other])} {_ratio(nat, ref[other])}"
        )

    key16 = sm4.generate_key()
    native4 = sm4._native  # the bench compares the two backends of one API
    for size, label in ((64 * 1024, "64KiB"), (MIB, "1MiB"), (16 * MIB, "16MiB")):
        data = os.urandom(size)
        sealed = sm4.seal(key16, data)
        results = {}
        for backend in (native4, None):
            sm4._native = backend
            try:
                results[backend is None] = (
                    _gb(partial(sm4.seal, key16, data), size, sec),
                    _gb(partial(sm4.open, key16, sealed), size, sec),
                )
            finally:
                sm4._native = native4
        for i, op in enumerate(("seal", "open")):
            nat, alt = results[False][i], results[True][i]
            line(f"SM4-GCM {op} (sealed)", label, nat, alt, sm="sm4", other="aes")

    data = os.urandom(16 * MIB)
    key = os.urandom(32)
    line(
        "SM3 one stream",
        "16MiB",
        _gb(partial(sm3.sm3, data), len(data), sec),
        _gb(partial(_ossl_sm3, data), len(data), sec),
        sm="sm3",
        other="sha",
    )
    line(
        "HMAC-SM3 one stream",
        "16MiB",
        _gb(partial(sm3.hmac_sm3, key, data), len(data), sec),
        _gb(partial(_ossl_hmac, key, data), len(data), sec),
        sm="hsm3",
        other="hsha",
    )
    for label, sizes in (
        ("16x1MiB", [MIB] * 16),
        ("40x0.5-4M", [512 * 1024 + (i * 37 % 40) * 90 * 1024 for i in range(40)]),
        ("256x4KiB", [4096] * 256),
    ):
        items = [data[:n] for n in sizes]
        total = sum(sizes)
        line(
            "SM3 batch (sm3_many)",
            label,
            _gb(partial(sm3.sm3_many, items), total, sec),
            _gb(partial(_each, _ossl_sm3, items), total, sec),
            sm="sm3",
            other="sha",
        )
        line(
            "HMAC-SM3 batch",
            label,
            _gb(partial(sm3.hmac_sm3_many, key, items), total, sec),
            _gb(partial(_each, partial(_ossl_hmac, key), items), total, sec),
            sm="hsm3",
            other="hsha",
        )
    print(f"# load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
