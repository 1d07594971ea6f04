"""Crypto benchmark: ops/s and MB/s beside ``openssl speed`` measured in the same run.

Run: ``python -m bench.crypto`` (or ``python -m bench crypto``); ``--seconds`` per measurement;
``--native`` for only the native kernels' GB/s table with the CPU model, flags and kernels
(bench/crypto_native.py), which the full run prints last.
Ratios are ours / openssl's (higher is better); both sides divide by user CPU time.
gmssl (pure Python) is printed as a reference.
References: SM2 sign/verify vs ``openssl speed sm2``; SM3 vs ``-evp sm3``; HMAC-SM3 vs
``-hmac sm3``; SM4-CBC/CTR vs ``-evp sm4-cbc|sm4-ctr``; SM4-GCM (sealed) vs ``-evp sm4-ctr``
because OpenSSL 3.0's ``speed`` has no SM4-GCM (GCM is CTR plus GHASH, so this is strict).
16 MiB rows are compared with openssl's largest block (16 KiB), its bulk rate.
SM2 encryption and the envelope have no ``openssl speed`` counterpart: no ratio.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import time
from collections.abc import Callable

from crypto import envelope, sm4
from crypto.sm2 import SM2PrivateKey
from crypto.sm3 import hmac_sm3, sm3

KB, MB16 = 1024, 16 * 1024 * 1024


def _user_cpu() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` per second of user CPU time, best of several batches.

    ``openssl speed`` divides by user CPU time too (unless ``-elapsed``), so both sides are
    measured the same way and time spent descheduled on a shared machine counts for neither.
    """
    fn()
    best, deadline = 0.0, time.perf_counter() + 2 * seconds
    batch = max(seconds / 4, 0.1)
    while True:
        count, start = 0, _user_cpu()
        while True:
            fn()
            count += 1
            used = _user_cpu() - start
            if used >= batch:
                break
        best = max(best, count / used)
        if time.perf_counter() >= deadline:
            return best


def openssl_speed(args: list[str], seconds: float, runs: int = 3) -> str:
    """``openssl speed -mr`` output of ``runs`` runs (the parsers keep the best)."""
    out = []
    for _ in range(runs):
        proc = subprocess.run(
            ["openssl", "speed", "-mr", "-seconds", str(max(1, round(seconds))), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        out.append(proc.stdout)
    return "\n".join(out)


def openssl_bytes_per_s(algo: list[str], size: int, seconds: float) -> float | None:
    out = openssl_speed([*algo, "-bytes", str(size)], seconds)
    values = [float(v) for v in re.findall(r"^\+F:\d+:[^:]+:([0-9.]+)", out, re.M)]
    return max(values) if values else None


def openssl_sm2(seconds: float) -> tuple[float, float] | None:
    out = openssl_speed(["sm2"], seconds)
    pairs = re.findall(r"^\+F7:\d+:256:[^:]+:([0-9.]+):([0-9.]+)", out, re.M)
    if not pairs:
        return None
    return max(float(a) for a, _ in pairs), max(float(b) for _, b in pairs)


def row(
    name: str, size: str, ours: float, ref: float | None, unit: str, *, gm: float | None = None
) -> None:
    ratio = f"{ours / ref:6.2f}x" if ref else "     - "
    ref_s = f"{ref:12.1f}" if ref else f"{'-':>12}"
    gm_s = f"{gm:12.2f}" if gm is not None else f"{'-':>12}"
    print(f"{name:22} {size:>6} {ours:12.1f} {ref_s} {ratio} {gm_s}  {unit}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--no-gmssl", action="store_true", help="skip the pure-Python reference")
    parser.add_argument(
        "--native", action="store_true", help="only the native kernels' GB/s table (~1 min)"
    )
    opts = parser.parse_args()
    sec = opts.seconds
    from bench.crypto_native import cpu_header, native_rows  # it imports this module

    if opts.native:
        native_rows(sec)
        return
    for line in cpu_header():
        print(line)
    gm = None if opts.no_gmssl else _gmssl()
    lib = __import__("crypto._libcrypto", fromlist=["lib"]).lib()
    version = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=False)
    print(f"# openssl command: {version.stdout.strip()}")
    print(
        f"# SM2 backend: {lib.version} ({lib.path}); "
        "SM3/SM4: native where shown active below, else cryptography's OpenSSL"
    )
    head = ("operation", "size", "ours", "openssl", "ratio", "gmssl")
    print(f"{head[0]:22} {head[1]:>6} {head[2]:>12} {head[3]:>12} {head[4]:>7} {head[5]:>12}  unit")

    key = SM2PrivateKey.generate()
    pub = key.public_key()
    msg = os.urandom(KB)
    sig = key.sign(msg)
    ct = pub.encrypt(msg[:32])
    ref = openssl_sm2(sec)
    gsign = gverify = None
    if gm is not None:
        gsign, gverify = gm["sm2_sign"](), gm["sm2_verify"]()
    row("SM2 sign", "1KB", rate(lambda: key.sign(msg), sec), ref and ref[0], "ops/s", gm=gsign)
    row(
        "SM2 verify",
        "1KB",
        rate(lambda: pub.verify(sig, msg), sec),
        ref and ref[1],
        "ops/s",
        gm=gverify,
    )
    row("SM2 encrypt (32 B)", "32B", rate(lambda: pub.encrypt(msg[:32]), sec), None, "ops/s")
    row("SM2 decrypt (32 B)", "32B", rate(lambda: key.decrypt(ct), sec), None, "ops/s")
    for size, label in ((KB, "1KB"), (MB16, "16MB")):
        bulk(size, label, sec, key, gm)
    sm3_rows(sec)
    sm4_rows(sec)
    print()
    native_rows(sec)


def bulk(
    size: int,
    label: str,
    sec: float,
    key: SM2PrivateKey,
    gm: dict[str, Callable[..., float]] | None,
) -> None:
    """The symmetric rows for one message size."""
    k16 = sm4.generate_key()
    pub = key.public_key()
    data = os.urandom(size)
    osize = min(size, 16384)

    def mbs(fn: Callable[[], object]) -> float:
        return rate(fn, sec) * size / 1e6

    def ref_mb(algo: list[str]) -> float | None:
        value = openssl_bytes_per_s(algo, osize, sec)
        return value / 1e6 if value else None

    small = gm is not None and size == KB
    row(
        "SM3",
        label,
        mbs(lambda: sm3(data)),
        ref_mb(["-evp", "sm3"]),
        "MB/s",
        gm=gm["sm3"](size) if gm is not None and small else None,
    )
    row("HMAC-SM3", label, mbs(lambda: hmac_sm3(k16, data)), ref_mb(["-hmac", "sm3"]), "MB/s")
    ctr_ref = ref_mb(["-evp", "sm4-ctr"])
    sealed = sm4.seal(k16, data)
    row("SM4-GCM seal", label, mbs(lambda: sm4.seal(k16, data)), ctr_ref, "MB/s")
    row("SM4-GCM open", label, mbs(lambda: sm4.open(k16, sealed)), ctr_ref, "MB/s")
    row(
        "SM4-CBC encrypt",
        label,
        mbs(lambda: sm4.cbc_encrypt(k16, data)),
        ref_mb(["-evp", "sm4-cbc"]),
        "MB/s",
        gm=gm["sm4_cbc"](size) if gm is not None and small else None,
    )
    row("SM4-CTR encrypt", label, mbs(lambda: sm4.ctr_encrypt(k16, data)), ctr_ref, "MB/s")
    recipients = [("r@v1", pub)]
    env = envelope.seal(data, sender=key, sender_id="s@v1", recipients=recipients)
    trusted = {"s@v1": pub}
    row(
        "envelope seal",
        label,
        mbs(lambda: envelope.seal(data, sender=key, sender_id="s@v1", recipients=recipients)),
        None,
        "MB/s",
    )
    row(
        "envelope open",
        label,
        mbs(
            lambda: envelope.open(
                env, recipient_id="r@v1", decrypter=key, trusted_senders=trusted, replay=None
            )
        ),
        None,
        "MB/s",
    )


def sm3_rows(sec: float) -> None:
    """SM3: OpenSSL via ``cryptography`` beside the native one-shot and batch code (16 MiB
    rows vs ``openssl speed -evp sm3`` at 16 KiB). Batches print aggregate MB/s on one core:
    16 x 1 MiB, and 40 chunks of 0.5-3.9 MiB (a backup pack's worth)."""
    from functools import partial

    from cryptography.hazmat.primitives import hashes

    from crypto.sm3 import hmac_sm3_many, native_active, sm3_many

    def openssl_sm3(data: bytes) -> bytes:
        h = hashes.Hash(hashes.SM3())
        h.update(data)
        return h.finalize()

    ref = openssl_bytes_per_s(["-evp", "sm3"], 16384, sec)
    ref_mb = ref / 1e6 if ref else None
    data = os.urandom(MB16)
    print(f"# SM3 native backend active: {native_active()}")
    row(
        "SM3 (cryptography)",
        "16MB",
        rate(lambda: openssl_sm3(data), sec) * MB16 / 1e6,
        ref_mb,
        "MB/s",
    )
    row("SM3 one-shot", "16MB", rate(lambda: sm3(data), sec) * MB16 / 1e6, ref_mb, "MB/s")
    key = os.urandom(32)
    for label, sizes in (
        ("16x1MB", [1024 * KB] * 16),
        ("40xMB", [512 * KB + (i * 37 % 40) * 90 * KB for i in range(40)]),
    ):
        items = [data[:n] for n in sizes]
        total = sum(sizes) / 1e6
        row("SM3 many", label, rate(partial(sm3_many, items), sec) * total, ref_mb, "MB/s")
        row(
            "HMAC-SM3 many",
            label,
            rate(partial(hmac_sm3_many, key, items), sec) * total,
            ref_mb,
            "MB/s",
        )


def sm4_rows(sec: float) -> None:
    """SM4-GCM at 64 KiB, 1 MiB and 16 MiB: the sealed format (seal/open) on the native backend
    and on the OpenSSL one (crypto.sm4's backend switched for the measurement), bare GCM through
    ``cryptography``, all beside ``openssl speed -evp sm4-ctr`` at 16 KiB (its bulk rate)."""
    from functools import partial

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    ref = openssl_bytes_per_s(["-evp", "sm4-ctr"], 16384, sec)
    ref_mb = ref / 1e6 if ref else None
    native = sm4._native  # the bench compares the two backends of one API
    print(f"# SM4 native backend active: {sm4.native_active()}")
    k16, nonce = sm4.generate_key(), os.urandom(12)

    def cryptography_gcm(data: bytes) -> bytes:
        enc = Cipher(algorithms.SM4(k16), modes.GCM(nonce)).encryptor()
        return enc.update(data) + enc.finalize() + enc.tag

    backends = [(native, "native")] if native is not None else []
    for size, label in ((64 * KB, "64KB"), (1024 * KB, "1MB"), (MB16, "16MB")):
        data = os.urandom(size)
        mbs = rate(partial(cryptography_gcm, data), sec) * size / 1e6
        row("SM4-GCM (cryptography)", label, mbs, ref_mb, "MB/s")
        for backend, name in [*backends, (None, "openssl")]:
            sm4._native = backend
            try:
                sealed = sm4.seal(k16, data)
                seal_mb = rate(partial(sm4.seal, k16, data), sec) * size / 1e6
                open_mb = rate(partial(sm4.open, k16, sealed), sec) * size / 1e6
            finally:
                sm4._native = native
            row(f"SM4 seal ({name})", label, seal_mb, ref_mb, "MB/s")
            row(f"SM4 open ({name})", label, open_mb, ref_mb, "MB/s")


def _gmssl() -> dict[str, Callable[..., float]] | None:
    """gmssl's rates: a few iterations only, it is pure Python."""
    try:
        from gmssl import sm2 as gsm2
        from gmssl import sm3 as gsm3
        from gmssl import sm4 as gsm4
    except ImportError:
        return None
    key = None
    while key is None or key.public_key().point[1:].hex()[0] in "04":  # its lstrip("04") bug
        key = SM2PrivateKey.generate()
    der = key.to_der()
    at = der.index(bytes.fromhex("0201010420")) + 5
    ref = gsm2.CryptSM2(
        private_key=der[at : at + 32].hex(), public_key=key.public_key().point[1:].hex()
    )
    msg = os.urandom(KB)
    gsig = ref.sign_with_sm3(msg)

    def sm4_cbc(size: int) -> float:
        c = gsm4.CryptSM4()
        c.set_key(bytes(16), gsm4.SM4_ENCRYPT)
        data = os.urandom(size)
        return rate(lambda: c.crypt_cbc(bytes(16), data), 0.5) * size / 1e6

    return {
        "sm2_sign": lambda: rate(lambda: ref.sign_with_sm3(msg), 0.5),
        "sm2_verify": lambda: rate(lambda: ref.verify_with_sm3(gsig, msg), 0.5),
        "sm3": lambda size: rate(lambda: gsm3.sm3_hash(list(os.urandom(size))), 0.5) * size / 1e6,
        "sm4_cbc": sm4_cbc,
    }


if __name__ == "__main__":
    main()
