"""Native SM4 (crypto._sm4x) against GB/T 32907 vectors and OpenSSL; both paths of crypto.sm4.

OpenSSL is reached through ``cryptography`` (an independent implementation). Lengths are drawn
around every boundary of the native kernels: the 16-byte block, the 64/128/256-byte sets of the
xmm, ymm and zmm kernels (256 is also GHASH's aggregation width), their 256/512/1024-byte
multi-set passes and the 4096-byte segment that alternates CTR and GHASH; plus MiB inputs.

The tests in this process exercise the kernel the extension chose for this CPU;
``test_every_other_kernel_this_cpu_runs`` runs this whole module again in a subprocess once per
other kernel the CPU can run (``TULOU_SM4_KERNEL``), so every runnable kernel is checked.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

import crypto.sm4 as sm4mod
from crypto import _sm4x
from tests.cpu import missing
from tulou.errors import InputError, VerificationError

# GB/T 32907-2016 Annex A, example 1 (A.1): key = plaintext = 0123456789abcdeffedcba9876543210.
KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
ONCE = "681edf34d206965e86b3e94f536e4246"
# GB/T 32907-2016 Annex A, example 2 (A.2): the same block encrypted 1,000,000 times.
MILLION = "595298c7c6fd271f0402f804c33d3f66"

ROOT = Path(__file__).resolve().parents[3]
NATIVE_DIR = ROOT / "crypto" / "_native"
BOUNDARY = (0, 1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 255, 256, 257, 383, 384, 385, 511, 512)
BOUNDARY += (513, 767, 768, 1023, 1024, 1025, 4095, 4096, 4097, 4607, 4608, 5119, 5120, 8193)

lengths = st.one_of(st.sampled_from(BOUNDARY), st.integers(0, 3000))


def ref_gcm_encrypt(key: bytes, nonce: bytes, aad: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    return enc.update(data) + enc.finalize() + enc.tag


#: Each kernel of crypto/_native/sm4x.c, best first, and the /proc/cpuinfo flags it needs.
KERNELS = {
    "avx512": ("avx512f", "avx512bw", "avx512vl", "gfni", "vpclmulqdq", "pclmulqdq", "avx2"),
    "vaes": ("avx2", "vaes", "vpclmulqdq", "aes", "pclmulqdq", "avx", "ssse3", "sse4_1"),
    "aesni-avx2": ("avx2", "aes", "pclmulqdq", "avx", "ssse3", "sse4_1"),
    "aesni": ("aes", "pclmulqdq", "ssse3", "sse4_1"),
}
RUNNABLE = [name for name, flags in KERNELS.items() if not missing(flags)]
#: The kernel this process must use: the one named by TULOU_SM4_KERNEL, else the best one.
EXPECTED = os.environ.get("TULOU_SM4_KERNEL") or (RUNNABLE[0] if RUNNABLE else None)
# Every CPU with AES-NI runs a kernel. Skipped (and accepted by the CI gate) only where the CPU
# lacks these flags: tests/cpu.py.
needs_native = pytest.mark.cpu(*KERNELS["aesni"])


def test_native_is_active_where_the_cpu_has_the_features() -> None:
    # CI must not silently fall back to OpenSSL on a machine that can run native code.
    assert _sm4x.kernels() == RUNNABLE
    assert _sm4x.kernel() == EXPECTED
    assert _sm4x.available() == (EXPECTED is not None)
    if EXPECTED is not None and os.environ.get("TULOU_CRYPTO_NATIVE", "1").strip() != "0":
        assert sm4mod.native_active()


def test_a_kernel_the_cpu_cannot_run_is_never_replaced_by_another() -> None:
    code = "from crypto import _sm4x; print(_sm4x.kernel(), _sm4x.available())"
    for name in ("no-such-kernel", *(k for k in KERNELS if k not in RUNNABLE)):
        env = {**os.environ, "TULOU_SM4_KERNEL": name}
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert out.stdout.split() == ["None", "False"], out.stderr


@pytest.mark.parametrize(
    "kernel",
    [
        pytest.param(name, marks=pytest.mark.cpu(*flags))
        for name, flags in KERNELS.items()
        if name != _sm4x.kernel()
    ],
)
def test_every_other_kernel_this_cpu_runs(kernel: str) -> None:
    """This module's tests once more in a subprocess that uses ``kernel``."""
    env = {**os.environ, "TULOU_SM4_KERNEL": kernel}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            "not every_other_kernel and not derived_ones",  # those two do not use a kernel
            str(Path(__file__).relative_to(ROOT)),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and " skipped" not in proc.stdout, proc.stdout[-2000:]


def _load_derivation() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "derive_sm4_gfni", NATIVE_DIR / "derive_sm4_gfni.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _load_aesni_derivation() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "derive_sm4_aesni", NATIVE_DIR / "derive_sm4_aesni.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_aesni_constants_are_the_derived_ones() -> None:
    # derive() checks all 256 S-box values and the modelled round function against GB/T 32907
    # Table 1 (else it exits); the header must carry exactly its output, and nothing else.
    want = _load_aesni_derivation().derive()
    header = (NATIVE_DIR / "sm4_aesni.h").read_text()
    found = {
        name: [int(v, 16) for v in values.split(",")]
        for name, values in re.findall(
            r"#define SM4_AESNI_(\w+) (0x[0-9a-f]{2}(?:, 0x[0-9a-f]{2})*)\n", header
        )
    }
    assert found == want
    assert all(len(v) == 16 for v in found.values())


def test_gfni_constants_are_the_derived_ones() -> None:
    # derive() checks all 256 S-box values against GB/T 32907 Table 1 (else it exits); the
    # header must carry exactly its output.
    q1, c1, q2, c2 = _load_derivation().derive()
    header = (NATIVE_DIR / "sm4_avx512.h").read_text()
    found = dict(re.findall(r"#define (SM4_GFNI_\w+) (0x[0-9a-f]+)", header))
    assert {k: int(v, 16) for k, v in found.items()} == {
        "SM4_GFNI_M1": q1,
        "SM4_GFNI_C1": c1,
        "SM4_GFNI_M2": q2,
        "SM4_GFNI_C2": c2,
    }


@needs_native
def test_gbt_32907_example_1() -> None:
    assert _sm4x.ecb_encrypt_blocks(KEY, KEY).hex() == ONCE
    assert _sm4x.ecb_decrypt_blocks(KEY, bytes.fromhex(ONCE)) == KEY


@pytest.mark.slow
@needs_native
def test_gbt_32907_example_2_one_million_iterations() -> None:
    block = KEY
    for _ in range(1_000_000):
        block = _sm4x.ecb_encrypt_blocks(KEY, block)
    assert block.hex() == MILLION


@needs_native
@settings(deadline=None)  # the machine is shared: no per-example timing
@given(st.binary(min_size=16, max_size=16), st.integers(0, 40))
def test_ecb_matches_openssl(key: bytes, nblocks: int) -> None:
    data = os.urandom(16 * nblocks)
    ref = Cipher(algorithms.SM4(key), modes.ECB()).encryptor().update(data)
    assert _sm4x.ecb_encrypt_blocks(key, data) == ref
    assert _sm4x.ecb_decrypt_blocks(key, bytearray(ref)) == data


@needs_native
@settings(max_examples=150, deadline=None)
@given(
    st.binary(min_size=16, max_size=16),
    st.binary(min_size=12, max_size=12),
    lengths,
    st.one_of(st.sampled_from((0, 1, 16, 18, 257)), st.integers(0, 600)),
)
def test_gcm_matches_openssl(key: bytes, nonce: bytes, size: int, aad_size: int) -> None:
    data, aad = os.urandom(size), os.urandom(aad_size)
    sealed = _sm4x.gcm_encrypt(key, nonce, aad, data)
    assert sealed == ref_gcm_encrypt(key, nonce, aad, data)
    assert _sm4x.gcm_decrypt(key, nonce, aad, sealed) == data


@needs_native
@pytest.mark.parametrize("size", [(1 << 20) + 7, 3 * (1 << 20)])
def test_gcm_matches_openssl_on_mib_inputs(size: int) -> None:
    key, nonce, data = os.urandom(16), os.urandom(12), os.urandom(size)
    sealed = _sm4x.gcm_encrypt(key, nonce, b"hdr", memoryview(data))
    assert sealed == ref_gcm_encrypt(key, nonce, b"hdr", data)
    assert _sm4x.gcm_decrypt(key, nonce, b"hdr", bytearray(sealed)) == data


@needs_native
@settings(max_examples=60, deadline=None)
@given(lengths, st.data())
def test_gcm_rejects_any_single_bit_flip(size: int, draw: st.DataObject) -> None:
    key, nonce, aad, data = os.urandom(16), os.urandom(12), os.urandom(20), os.urandom(size)
    sealed = bytearray(_sm4x.gcm_encrypt(key, nonce, aad, data))
    where = draw.draw(st.sampled_from(["sealed", "aad", "nonce", "key"]))
    parts = {
        "sealed": sealed,
        "aad": bytearray(aad),
        "nonce": bytearray(nonce),
        "key": bytearray(key),
    }
    target = parts[where]
    pos = draw.draw(st.integers(0, len(target) - 1)) if target else None
    if pos is None:  # empty AAD: extend it instead
        target.append(0)
    else:
        target[pos] ^= 1 << draw.draw(st.integers(0, 7))
    with pytest.raises(ValueError, match="authentication failed"):
        _sm4x.gcm_decrypt(parts["key"], parts["nonce"], parts["aad"], parts["sealed"])


@needs_native
def test_bad_sizes_and_types_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        _sm4x.gcm_encrypt(b"short", bytes(12), b"", b"x")
    with pytest.raises(ValueError, match="12 bytes"):
        _sm4x.gcm_encrypt(bytes(16), bytes(16), b"", b"x")
    with pytest.raises(ValueError, match="tag"):
        _sm4x.gcm_decrypt(bytes(16), bytes(12), b"", bytes(15))
    with pytest.raises(ValueError, match="multiple of 16"):
        _sm4x.ecb_encrypt_blocks(bytes(16), bytes(17))
    with pytest.raises(ValueError, match="multiple of 16"):
        _sm4x.gcm_seal_chunks(bytes(16), b"", b"x", 1000, b"")
    with pytest.raises(ValueError, match="truncated"):
        _sm4x.gcm_open_chunks(bytes(16), b"", bytes(1024 + 16 + 15), 1024)
    with pytest.raises(TypeError):
        _sm4x.gcm_encrypt(bytes(16), bytes(12), "text", b"x")  # type: ignore[arg-type]


# --- crypto.sm4's sealed format: native and OpenSSL produce and accept the same bytes --------


def _seal_four_ways(data: bytes, aad: bytes, bits: int, cut: int) -> list[bytes]:
    """Streaming (split at ``cut``) and one-shot sealing, natively and with OpenSSL."""
    salt = os.urandom(16)
    out = []
    with pytest.MonkeyPatch.context() as m:
        m.setattr(secrets, "token_bytes", lambda n: salt[:n])
        for native in (sm4mod._native, None):
            m.setattr(sm4mod, "_native", native)
            sealer = sm4mod.Sealer(KEY, aad=aad, chunk_bits=bits)
            out.append(sealer.update(data[:cut]) + sealer.update(data[cut:]) + sealer.finalize())
            out.append(sm4mod.Sealer(KEY, aad=aad, chunk_bits=bits).seal_all(data))
    return out


def _open_outcome(sealed: bytes, aad: bytes, native: bool, streaming: bool) -> object:
    with pytest.MonkeyPatch.context() as m:
        m.setattr(sm4mod, "_native", sm4mod._native if native else None)
        try:
            if not streaming:
                return sm4mod.open(KEY, sealed, aad=aad)
            opener = sm4mod.Opener(KEY, aad=aad)
            half = len(sealed) // 2
            return opener.update(sealed[:half]) + opener.update(sealed[half:]) + opener.finalize()
        except (VerificationError, InputError) as exc:
            return (type(exc), str(exc))


@needs_native
@settings(max_examples=40, deadline=None)
@given(lengths, st.binary(max_size=40), st.sampled_from([10, 11, 12]), st.integers(0, 9000))
def test_sealed_format_is_identical_on_both_paths(
    size: int, aad: bytes, bits: int, cut: int
) -> None:
    data = os.urandom(size)
    sealed = _seal_four_ways(data, aad, bits, min(cut, size))
    assert len(set(sealed)) == 1, "native and OpenSSL, streaming and one-shot, must agree"
    for native in (True, False):
        for streaming in (True, False):
            assert _open_outcome(sealed[0], aad, native, streaming) == data


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 5000),
    st.lists(st.integers(0, 5000), max_size=8),
    st.sampled_from([10, 11]),
    st.booleans(),
)
def test_streaming_in_any_pieces_equals_one_shot(
    size: int, cuts: list[int], bits: int, native: bool
) -> None:
    # Full chunks are processed straight from each piece and only partial ones are buffered:
    # pieces ending before, at and after chunk (and tag) boundaries must not change a byte.
    data, salt = os.urandom(size), os.urandom(16)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(secrets, "token_bytes", lambda n: salt[:n])
        m.setattr(sm4mod, "_native", sm4mod._native if native else None)
        sealer = sm4mod.Sealer(KEY, aad=b"a", chunk_bits=bits)
        parts = [sealer.update(p) for p in _pieces(data, cuts)]
        sealed = b"".join(parts) + sealer.finalize()
        assert sealed == sm4mod.Sealer(KEY, aad=b"a", chunk_bits=bits).seal_all(data)
        opener = sm4mod.Opener(KEY, aad=b"a")
        opened = [opener.update(p) for p in _pieces(sealed, cuts)]
        assert b"".join(opened) + opener.finalize() == data


@needs_native
@settings(max_examples=60, deadline=None)
@given(st.integers(0, 4000), st.data())
def test_damaged_messages_fail_the_same_way_on_both_paths(size: int, draw: st.DataObject) -> None:
    sealed = bytearray(sm4mod.Sealer(KEY, chunk_bits=10).seal_all(os.urandom(size)))
    kind = draw.draw(st.sampled_from(["truncate", "flip", "swap", "extend"]))
    if kind == "truncate":
        del sealed[draw.draw(st.integers(0, len(sealed) - 1)) :]
    elif kind == "flip":
        sealed[draw.draw(st.integers(0, len(sealed) - 1))] ^= 1 << draw.draw(st.integers(0, 7))
    elif kind == "swap" and len(sealed) > sm4mod.HEADER_SIZE + 2 * 1040:
        a = sm4mod.HEADER_SIZE
        sealed[a : a + 2080] = sealed[a + 1040 : a + 2080] + sealed[a : a + 1040]
    else:
        sealed += b"\x00" * draw.draw(st.integers(1, 1100))
    outcomes = {
        repr(_open_outcome(bytes(sealed), b"", native, streaming))
        for native in (True, False)
        for streaming in (True, False)
    }
    assert len(outcomes) == 1
    assert "Error" in outcomes.pop()


@needs_native
def test_native_open_maps_a_wrong_tag_to_verification_error() -> None:
    sealed = bytearray(sm4mod.seal(KEY, b"x" * 5000, aad=b"a"))
    sealed[-1] ^= 1
    with pytest.raises(VerificationError, match="authentication failed"):
        sm4mod.open(KEY, bytes(sealed), aad=b"a")
    with pytest.raises(VerificationError):
        sm4mod.open(KEY, sm4mod.seal(KEY, b"x"), aad=b"other")


def test_environment_switch_forces_openssl() -> None:
    code = "import crypto.sm4 as s; print(s.native_active())"
    for value, expected in (("0", "False"), ("1", str(_sm4x.available()))):
        env = {**os.environ, "TULOU_CRYPTO_NATIVE": value}
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == expected
