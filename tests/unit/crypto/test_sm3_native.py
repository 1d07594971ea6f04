"""Native SM3 (crypto._sm3x) against GB/T 32905 vectors and OpenSSL; both paths of crypto.sm3.

OpenSSL is reached through ``cryptography`` (an independent implementation); the batch tests
mix lengths around every block boundary (55/56: the length field still fits / does not fit in
the last block; 63/64/65; 119/120) with multi-KiB items, so lanes of the 16-lane AVX-512 and
8-lane AVX2 code end at different blocks and are refilled from the queue.

The tests in this process use the kernel the extension chose for this CPU;
``test_every_other_kernel_this_cpu_runs`` runs the module again in a subprocess for each other
vector kernel the CPU can run (``TULOU_SM3_KERNEL``), ``test_portable_code_matches_openssl`` the
portable C.
"""

from __future__ import annotations

import os
import random  # noqa: TID251 - reproducible test lengths, nothing secret
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as chmac
from hypothesis import given, settings
from hypothesis import strategies as st

import crypto.sm3 as sm3mod
from crypto import _sm3x
from tests.cpu import missing
from tulou.errors import UsageError

# GB/T 32905-2016 Annex A, example 1 (A.1): the 24-bit message "abc".
ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
# GB/T 32905-2016 Annex A, example 2 (A.2): the 512-bit message "abcd" repeated 16 times.
ABCD16 = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"

BOUNDARY = (0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129)
ROOT = Path(__file__).resolve().parents[3]


def ref_sm3(data: bytes | bytearray | memoryview) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(bytes(data))
    return h.finalize()


def ref_hmac(key: bytes, data: bytes | bytearray | memoryview) -> bytes:
    mac = chmac.HMAC(key, hashes.SM3())
    mac.update(bytes(data))
    return mac.finalize()


#: The vector kernels of crypto/_native/sm3x.c, best first, and the /proc/cpuinfo flags each
#: needs (the portable C needs none).
KERNELS = {"avx512": ("avx512f", "avx512bw"), "avx2": ("avx2",)}
RUNNABLE = [name for name, flags in KERNELS.items() if not missing(flags)]
#: The kernel this process must use: the one TULOU_SM3_KERNEL names, else the best one.
EXPECTED = os.environ.get("TULOU_SM3_KERNEL") or (RUNNABLE[0] if RUNNABLE else "portable")
#: What the weakest multi-buffer kernel needs; tests/cpu.py skips (CI accepts) where absent.
NEEDS_MB = pytest.mark.cpu(*KERNELS["avx2"])


def test_native_path_is_active_where_the_cpu_has_a_kernel() -> None:
    """CI must not silently fall back: on a CPU with AVX2 the extension is built and used."""
    assert _sm3x.kernel() == EXPECTED
    assert _sm3x.available() == (EXPECTED in KERNELS)
    forced_off = os.environ.get("TULOU_CRYPTO_NATIVE", "1").strip() == "0"
    assert sm3mod.native_active() is (_sm3x.available() and not forced_off)


@pytest.mark.parametrize(
    "kernel",
    [
        pytest.param(name, marks=pytest.mark.cpu(*flags))
        for name, flags in KERNELS.items()
        if name != _sm3x.kernel()
    ],
)
def test_every_other_kernel_this_cpu_runs(kernel: str) -> None:
    """This module's tests once more in a subprocess that uses ``kernel``."""
    env = {**os.environ, "TULOU_SM3_KERNEL": kernel}
    args = ["-q", "-p", "no:cacheprovider", "-k", "not every_other_kernel"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *args, str(Path(__file__).relative_to(ROOT))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and " skipped" not in proc.stdout, proc.stdout[-2000:]


def test_environment_variable_forces_openssl() -> None:
    code = "import crypto.sm3 as m; print(m.native_active(), m.sm3(b'abc').hex())"
    env = {**os.environ, "TULOU_CRYPTO_NATIVE": "0"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", ABC]


def test_portable_code_matches_openssl() -> None:
    """TULOU_SM3_KERNEL=portable switches the vector code off: the portable C must agree too."""
    code = (
        "import os, random, sys; from crypto import _sm3x; "
        "from tests.unit.crypto.test_sm3_native import ref_hmac, ref_sm3; "
        "assert not _sm3x.available() and _sm3x.kernel() == 'portable'; rnd = random.Random(5); "
        "items = [os.urandom(rnd.choice((0, 55, 56, 64, 65, 3000))) for _ in range(40)]; "
        "assert _sm3x.sm3_many(items) == [ref_sm3(x) for x in items]; "
        "assert _sm3x.hmac_sm3_many(b'k' * 70, items) == [ref_hmac(b'k' * 70, x) for x in items]; "
        "assert [_sm3x.sm3(x) for x in items] == [ref_sm3(x) for x in items]; "
        "assert _sm3x.hmac_sm3(b'k', items[5]) == ref_hmac(b'k', items[5]); print('ok')"
    )
    env = {**os.environ, "TULOU_SM3_KERNEL": "portable"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert out.stdout.strip() == "ok", out.stderr


def test_gbt_32905_annex_a_vectors_native() -> None:
    assert _sm3x.sm3(b"abc").hex() == ABC
    assert _sm3x.sm3(b"abcd" * 16).hex() == ABCD16
    # Interleaved in a batch larger than one round of lanes (16), in every lane position.
    batch = [b"abc", b"abcd" * 16] * 17
    assert [d.hex() for d in _sm3x.sm3_many(batch)] == [ABC, ABCD16] * 17


@pytest.fixture(params=[pytest.param("native", marks=NEEDS_MB), "openssl"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a wrapper test on both paths of crypto.sm3 (native, then forced OpenSSL)."""
    if request.param == "native":
        assert _sm3x.available(), "the CPU has the features but the extension says no"
        monkeypatch.setattr(sm3mod, "_native", _sm3x)
    else:
        monkeypatch.setattr(sm3mod, "_native", None)
    yield request.param


def test_wrapper_vectors_and_batches(backend: str) -> None:
    assert sm3mod.sm3(b"abc").hex() == ABC
    items: list[bytes] = [os.urandom(n) for n in (*BOUNDARY, 5000, 70_000)] * 2
    assert sm3mod.sm3_many(items) == [ref_sm3(x) for x in items]
    key = os.urandom(20)
    assert sm3mod.hmac_sm3_many(key, items) == [ref_hmac(key, x) for x in items]
    assert sm3mod.hmac_sm3(key, items[3]) == ref_hmac(key, items[3])
    assert sm3mod.sm3_many([]) == [] and sm3mod.hmac_sm3_many(key, []) == []
    with pytest.raises(UsageError):
        sm3mod.hmac_sm3_many(b"", items)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.sm3("text"),
        lambda m: m.sm3(12),
        lambda m: m.sm3_many([b"ok", "text"]),
        lambda m: m.sm3_many(5),
        lambda m: m.sm3_many([b"ok", None, b"ok", b"ok", b"ok"]),
        lambda m: m.hmac_sm3(b"key", "text"),
        lambda m: m.hmac_sm3_many(b"key", [b"ok"] * 4 + [3]),
        lambda m: m.hmac_sm3_many(b"key", 7),
    ],
)
def test_wrong_types_raise_type_error(backend: str, call: Callable[[ModuleType], object]) -> None:
    with pytest.raises(TypeError):
        call(sm3mod)


def test_native_wrong_types_raise_type_error() -> None:
    with pytest.raises(TypeError):
        _sm3x.hmac_sm3("key", b"data")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _sm3x.hmac_sm3_many("key", [b"data"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _sm3x.sm3_many([b"a", b"b", b"c", b"d", "e"])  # type: ignore[list-item]


def test_buffers_are_released_after_success_and_failure() -> None:
    """A bytearray exported to the C code can be resized again afterwards (no leaked export)."""
    arrays = [bytearray(os.urandom(100)) for _ in range(20)]
    _sm3x.sm3_many(arrays)
    _sm3x.hmac_sm3_many(b"k", arrays)
    with pytest.raises(TypeError):
        _sm3x.sm3_many([*arrays, "not a buffer"])  # type: ignore[list-item]
    for a in arrays:
        a.extend(b"more")  # BufferError if an export leaked
    assert _sm3x.sm3_many(arrays) == [ref_sm3(a) for a in arrays]


_KINDS = (bytes, bytearray, memoryview)
_items = st.tuples(
    st.one_of(
        st.sampled_from(BOUNDARY).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
        st.binary(min_size=129, max_size=6000),
    ),
    st.sampled_from(range(len(_KINDS))),
).map(lambda t: _KINDS[t[1]](t[0]))


@settings(deadline=None, max_examples=60)  # shared machine: no per-example timing
@given(st.sampled_from(BOUNDARY).flatmap(lambda n: st.binary(min_size=n, max_size=n)) | st.binary())
def test_single_matches_openssl(data: bytes) -> None:
    assert _sm3x.sm3(data) == ref_sm3(data)
    assert _sm3x.sm3(memoryview(bytearray(data))) == ref_sm3(data)


@settings(deadline=None, max_examples=60)
@given(st.binary(max_size=150), st.binary(max_size=300))
def test_hmac_single_matches_openssl(key: bytes, data: bytes) -> None:
    """Keys shorter than, equal to and longer than the 64-byte block (hashed first)."""
    assert _sm3x.hmac_sm3(key, data) == ref_hmac(key, data)
    assert _sm3x.hmac_sm3(bytearray(key), memoryview(data)) == ref_hmac(key, data)


@settings(deadline=None, max_examples=40)
@given(
    st.sampled_from((1, 2, 3, 4, 15, 16, 17, 40)).flatmap(
        lambda n: st.lists(_items, min_size=n, max_size=n)
    ),
    st.binary(min_size=1, max_size=100),
)
def test_batches_match_openssl(items: list[bytes], key: bytes) -> None:
    expected = [ref_sm3(x) for x in items]
    assert _sm3x.sm3_many(items) == expected
    assert _sm3x.hmac_sm3_many(key, items) == [ref_hmac(key, x) for x in items]
    doubled = items + items[::-1]  # duplicates, in another order
    assert _sm3x.sm3_many(doubled) == expected + expected[::-1]


def test_large_mixed_batch_keeps_order() -> None:
    """40 items of 0..600 KiB (seeded): lanes end at different blocks and are refilled."""
    rnd = random.Random(32905)
    blob = os.urandom(600 * 1024 + 200)
    items = [
        memoryview(blob)[rnd.randrange(0, 100) :][: rnd.randrange(0, 600 * 1024)] for _ in range(40)
    ]
    items[7] = items[3]
    assert _sm3x.sm3_many(items) == [ref_sm3(x) for x in items]
    key = os.urandom(100)
    assert _sm3x.hmac_sm3_many(key, items) == [ref_hmac(key, x) for x in items]


def test_batches_in_parallel_threads_agree() -> None:
    """The GIL is released for the whole batch: concurrent batches must not disturb each other."""
    batches = [[os.urandom(n) for n in range(5000 + t, 5000 + t + 20 * 97, 97)] for t in range(4)]
    expected = [[ref_sm3(x) for x in batch] for batch in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(_sm3x.sm3_many, batches * 3))
    assert results == expected * 3


def test_many_small_batches_match_openssl() -> None:
    """Seeded batches of 1-49 mostly short items: lanes end, pad, move and refill constantly."""
    rnd = random.Random(7)
    blob = os.urandom(20_000)
    for _ in range(300):
        lengths = [
            rnd.choice((rnd.randrange(400), rnd.randrange(20_000), 55, 56, 119, 120))
            for _ in range(rnd.randrange(1, 50))
        ]
        items = [blob[:n] for n in lengths]
        assert _sm3x.sm3_many(items) == [ref_sm3(x) for x in items], lengths
