"""Users, roles, API tokens and web sessions.

Roles (docs/soc.md has the full role x endpoint table):

- ``analyst``   triages alerts and works cases;
- ``officer``   runs backups and disaster-recovery drills, reads metrics and reports;
- ``regulator`` reads reports and metrics, changes nothing;
- ``admin``     everything, including users and tokens;
- ``service``   machine accounts (detect): ingest alerts and register rules, nothing else.
  Service accounts have no password: they authenticate with API tokens only.

Every caller is resolved to a :class:`Principal` (from ``Authorization: Bearer <token>`` or the
session cookie); the FastAPI dependencies in :mod:`soc.deps` check its role.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc import security
from soc.errors import AuthenticationError
from soc.models import ApiToken, User, WebSession, utcnow
from tulou.errors import NotFoundError, UsageError

ROLES: tuple[str, ...] = ("analyst", "officer", "regulator", "admin", "service")
HUMAN_ROLES: tuple[str, ...] = ("analyst", "officer", "regulator", "admin")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (via a session or a token)."""

    user_id: int
    username: str
    role: str
    via: str  # "session" | "token"
    csrf_token: str | None = None


def create_user(session: Session, username: str, role: str, password: str | None) -> User:
    """Create a user. Humans need a password; service accounts must not have one."""
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if (
        not username
        or len(username) > 64
        or not username.replace("-", "").replace("_", "").replace(".", "").isalnum()
    ):
        raise UsageError("a user name is 1-64 letters, digits, '-', '_' or '.'")
    if role == "service":
        if password is not None:
            raise UsageError("service accounts authenticate with tokens, not passwords")
        password_hash = None
    else:
        if password is None:
            raise UsageError(f"a {role} needs a password")
        password_hash = security.hash_password(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UsageError(f"user {username!r} already exists")
    user = User(username=username, role=role, password_hash=password_hash, active=True)
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    return user


def create_token(session: Session, username: str, name: str) -> str:
    """Issue an API token for ``username``; the token is returned once and stored hashed."""
    user = find_user(session, username)
    token = security.new_token()
    session.add(ApiToken(user_id=user.id, name=name, token_hash=security.token_digest(token)))
    session.flush()
    return token


def revoke_tokens(session: Session, username: str, name: str | None = None) -> int:
    user = find_user(session, username)
    query = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))
    if name is not None:
        query = query.where(ApiToken.name == name)
    tokens = list(session.scalars(query))
    for token in tokens:
        token.revoked = True
    return len(tokens)


def principal_from_token(session: Session, token: str) -> Principal:
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == security.token_digest(token))
    ).first()
    if row is None or row[0].revoked or not row[1].active:
        raise AuthenticationError("invalid or revoked API token")
    user = row[1]
    return Principal(user.id, user.username, user.role, "token")


def login(session: Session, username: str, password: str, *, hours: int) -> tuple[str, User]:
    """Check a password and open a session; returns (session token, user)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or user.password_hash is None:
        security.burn_password_check(password)
        raise AuthenticationError("wrong user name or password")
    if not security.verify_password(password, user.password_hash) or not user.active:
        raise AuthenticationError("wrong user name or password")
    token = security.new_token()
    session.add(
        WebSession(
            token_hash=security.token_digest(token),
            user_id=user.id,
            csrf_token=security.new_token(),
            expires_at=utcnow() + timedelta(hours=hours),
        )
    )
    session.flush()
    return token, user


def principal_from_session(session: Session, token: str, now: datetime | None = None) -> Principal:
    row = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == security.token_digest(token))
    ).first()
    if row is None or row[0].expires_at <= (now or utcnow()) or not row[1].active:
        raise AuthenticationError("not logged in or the session expired")
    web, user = row
    return Principal(user.id, user.username, user.role, "session", web.csrf_token)


def logout(session: Session, token: str) -> None:
    web = session.scalar(
        select(WebSession).where(WebSession.token_hash == security.token_digest(token))
    )
    if web is not None:
        session.delete(web)
