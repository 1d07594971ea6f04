"""Password hashing, API tokens and session secrets.

Passwords use scrypt (``hashlib.scrypt``, memory-hard, ~30 MiB and tens of milliseconds per
guess). The stored form is ``scrypt$N$r$p$salt$hash`` (base64) so the cost can be raised later
without breaking existing hashes. API tokens and session cookies are 256-bit random strings;
only their SHA-256 is stored, so a database leak does not leak credentials.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from soc.i18n import _
from tulou.errors import UsageError

SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
_MAXMEM = 128 * 1024 * 1024
MIN_PASSWORD_LENGTH = 12
TOKEN_PREFIX = "tulou_"  # noqa: S105 - a public prefix, not a secret


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, n: int = SCRYPT_N) -> str:
    """A salted scrypt hash of ``password`` in the self-describing stored form."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UsageError(
            _("a password needs at least {n} characters").format(n=MIN_PASSWORD_LENGTH)
        )
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, maxmem=_MAXMEM, dklen=32
    )
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a stored hash; False for malformed hashes."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
            dklen=32,
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest, base64.b64decode(expected))


# Checked against when the user does not exist, so that unknown and known user names cost the
# same time and a login form cannot be used to enumerate accounts.
_DUMMY_HASH: str | None = None


def burn_password_check(password: str) -> None:
    """Spend the time a real check would (for unknown users)."""
    global _DUMMY_HASH  # noqa: PLW0603 - computed once, lazily (nothing at import time)
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    verify_password(password, _DUMMY_HASH)


def new_token() -> str:
    """A fresh API token or session id (shown once to its owner, stored only hashed)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
