"""Password hashing and tokens."""

from __future__ import annotations

import pytest

from soc.security import hash_password, new_token, token_digest, verify_password
from tulou.errors import UsageError


def test_password_hash_round_trip_and_salt():
    stored = hash_password("a long enough password", n=2**14)
    assert stored.startswith("scrypt$16384$8$1$")
    assert verify_password("a long enough password", stored)
    assert not verify_password("a long enough passwore", stored)
    assert hash_password("a long enough password", n=2**14) != stored  # salted
    assert not verify_password("x", "md5$whatever")
    assert not verify_password("x", "garbage")
    with pytest.raises(UsageError):
        hash_password("short")


def test_tokens_are_random_and_stored_hashed():
    a, b = new_token(), new_token()
    assert a != b and a.startswith("tulou_") and len(a) > 40
    assert token_digest(a) != a and len(token_digest(a)) == 64
