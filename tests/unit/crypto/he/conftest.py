"""A real 3-department key ceremony (t = 2), run once per session per preset."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from crypto.he import keygen
from crypto.he.container import Container
from crypto.sm2 import SM2PrivateKey

NAMES = ("civil", "health", "hr")


@dataclass
class World:
    keyset: keygen.KeySet
    keys: dict[str, SM2PrivateKey]
    shares: dict[str, Container]


def ceremony(preset: str, threshold: int = 2, names: tuple[str, ...] = NAMES) -> World:
    keys = {n: SM2PrivateKey.generate() for n in names}
    plan = keygen.plan(preset, threshold, [(n, keys[n].public_key()) for n in names])
    states, r1 = {}, []
    for n in names:
        states[n], msg = keygen.round1(plan, n, keys[n])
        r1.append(msg)
    interim, relays = keygen.aggregate1(plan, r1)
    r2, shares = [], {}
    for n in names:
        msg, shares[n] = keygen.round2(plan, states[n], relays[n], keys[n])
        r2.append(msg)
    keyset = keygen.KeySet.from_container(keygen.finalise(plan, interim, r2))
    return World(keyset, keys, shares)


@pytest.fixture(scope="session")
def bgv_world() -> World:
    return ceremony("bgv-n13")


@pytest.fixture(scope="session")
def ckks_world() -> World:
    return ceremony("ckks-n14")
