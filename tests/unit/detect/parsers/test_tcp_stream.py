"""TCP reassembly of one direction: any segmentation, order, duplication gives the bytes back."""

from __future__ import annotations

import itertools
import random  # noqa: TID251 - the type of the generator Hypothesis hands in

from hypothesis import given, settings
from hypothesis import strategies as st

from detect.parsers.tcp_stream import MAX_BYTES, MAX_SEGMENTS, TcpStream


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=3000),
    cuts=st.lists(st.integers(1, 2999), max_size=20),
    rng=st.randoms(use_true_random=False),
    start=st.sampled_from([0, 1000, 2**32 - 700]),  # also across the 2**32 wrap
    repeats=st.integers(0, 5),
)
def test_any_segmentation_order_and_retransmission(
    data: bytes, cuts: list[int], rng: random.Random, start: int, repeats: int
) -> None:
    points = sorted({c for c in cuts if c < len(data)} | {0, len(data)})
    segments = [(start + a, data[a:b]) for a, b in itertools.pairwise(points)]
    # Retransmissions, also overlapping ones (a later segment re-sent from an earlier start).
    for _ in range(repeats):
        a, b = sorted(rng.sample(range(len(data) + 1), 2)) if len(data) > 1 else (0, 1)
        segments.append((start + a, data[a:b]))
    first, rest = segments[0], segments[1:]
    rng.shuffle(rest)
    stream = TcpStream(first[0] % 2**32, 0)
    for seq, payload in [first, *rest]:
        assert stream.add(seq % 2**32, payload) is None
    assert bytes(stream.data) == data
    assert stream.gap() is None
    assert stream.waiting_bytes == 0


def test_a_gap_that_never_fills_is_reported() -> None:
    stream = TcpStream(100, 0)
    assert stream.add(100, b"GET / HT") is None
    assert stream.add(120, b"Host: x\r\n\r\n") is None  # 12 bytes missing at 108
    assert stream.gap() == "12 bytes missing at seq 108"
    for i in range(MAX_SEGMENTS - 1):
        assert stream.add(200 + i, b"x") is None
    reason = stream.add(500, b"y")
    assert reason is not None
    assert "gap of 392 bytes at seq 108" in reason


def test_in_order_bytes_are_bounded() -> None:
    stream = TcpStream(0, 0)
    assert stream.add(0, bytes(MAX_BYTES)) is None
    assert (
        stream.add(MAX_BYTES, b"x") == f"more than {MAX_BYTES} bytes without the end of the message"
    )
