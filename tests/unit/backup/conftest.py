"""Shared helpers for the backup unit tests: a small source tree and a fast-KDF repository."""

from __future__ import annotations

import os
import random  # noqa: TID251 - reproducible test data, not secrets
from pathlib import Path

import pytest

from backup.repository import Repository
from backup.targets.memory import MemoryTarget

PASSPHRASE = "correct horse battery staple"


def make_tree(root: Path, seed: int = 1, size: int = 3 << 20) -> Path:
    """Random data, log-like text and a duplicate, as a backup source would have."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "random.bin").write_bytes(rng.randbytes(size))
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    lines = [
        f"2026-11-26T10:{i % 60:02d}:00Z host{i % 7} sshd: accepted user{i % 13}\n"
        for i in range(40_000)
    ]
    (logs / "auth.log").write_text("".join(lines))
    (logs / "copy.log").write_text("".join(lines))
    (root / "empty").write_bytes(b"")
    os.symlink("random.bin", root / "link")
    return root


@pytest.fixture
def target() -> MemoryTarget:
    return MemoryTarget()


@pytest.fixture
def repo(target: MemoryTarget) -> Repository:
    Repository.init(
        target,
        PASSPHRASE,
        kdf_iterations=1000,
        chunk_min=64 << 10,
        chunk_avg=256 << 10,
        chunk_max=1 << 20,
    )
    return Repository.open(target, PASSPHRASE)
