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
from sqlalchemy.orm import Session, aliased

from soc import login as lockout
from soc import security
from soc.errors import AuthenticationError
from soc.i18n import _
from soc.models import ApiToken, User, WebSession, utcnow
from tulou.errors import NotFoundError, UsageError

ROLES: tuple[str, ...] = ("analyst", "officer", "regulator", "admin", "service")
HUMAN_ROLES: tuple[str, ...] = ("analyst", "officer", "regulator", "admin")

# Who may do what: the one table of role sets. soc.deps builds its dependencies from these and
# the hot cache (soc.hot_cache) checks a cached body against the very set its endpoint requires.
ANALYSTS = frozenset({"analyst", "admin"})
OFFICERS = frozenset({"officer", "admin"})
REGULATORS = frozenset({"regulator", "officer", "admin"})
STAFF = frozenset(HUMAN_ROLES)
ADMINS = frozenset({"admin"})
SERVICES = frozenset({"service", "admin"})


def admits(roles: frozenset[str], role: str) -> bool:
    """Whether a caller with ``role`` may use what ``roles`` guards (the one role check)."""
    return role in roles


def token_usable(*, revoked: bool, active: bool) -> bool:
    """Whether a stored API token authenticates: not revoked, and its user still active."""
    return not revoked and active


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (via a session or a token)."""

    user_id: int
    username: str
    role: str
    via: str  # "session" | "token"
    csrf_token: str | None = None
    #: The user's language (None: not chosen; the request's then applies).
    locale: str | None = None
    #: Who minted the token, when another user did (an admin acting in this user's name).
    issued_by: str | None = None


def create_user(session: Session, username: str, role: str, password: str | None) -> User:
    """Create a user. Humans need a password; service accounts must not have one."""
    if role not in ROLES:
        raise UsageError(
            _("unknown role {role!r}; roles: {roles}").format(role=role, roles=", ".join(ROLES))
        )
    if (
        not username
        or len(username) > 64
        or not username.replace("-", "").replace("_", "").replace(".", "").isalnum()
    ):
        raise UsageError(_("a user name is 1-64 letters, digits, '-', '_' or '.'"))
    if role == "service":
        if password is not None:
            raise UsageError(_("service accounts authenticate with tokens, not passwords"))
        password_hash = None
    else:
        if password is None:
            raise UsageError(_("a {role} needs a password").format(role=role))
        password_hash = security.hash_password(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UsageError(_("user {name!r} already exists").format(name=username))
    user = User(username=username, role=role, password_hash=password_hash, active=True)
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(_("no user {name!r}").format(name=username))
    return user


def create_token(
    session: Session, username: str, name: str, *, issued_by: int | None = None
) -> str:
    """Issue an API token for ``username``; the token is returned once and stored hashed.

    ``issued_by`` is the user minting it when that is someone else (an admin): recorded, so the
    token can never change anything in its user's name and its user sees it.
    """
    user = find_user(session, username)
    token = security.new_token()
    if issued_by == user.id:
        issued_by = None
    session.add(
        ApiToken(
            user_id=user.id,
            name=name,
            token_hash=security.token_digest(token),
            issued_by=issued_by,
        )
    )
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
    if row is None or not token_usable(revoked=row[0].revoked, active=row[1].active):
        raise AuthenticationError(_("invalid or revoked API token"))
    token_row, user = row
    issuer = None
    if token_row.issued_by is not None:
        issuer = session.scalar(select(User.username).where(User.id == token_row.issued_by))
        issuer = issuer or f"user:{token_row.issued_by}"
    return Principal(
        user.id, user.username, user.role, "token", locale=user.locale, issued_by=issuer
    )


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """What a login attempt came to: a session token, or why not (audited by the caller)."""

    token: str | None
    user: User | None
    #: "ok", "wrong_password", "unknown_user", "locked", "inactive", "throttled"
    result: str
    locked_minutes: int = 0


def login(
    session: Session, username: str, password: str, *, hours: int, now: datetime | None = None
) -> LoginOutcome:
    """Check a password and open a session; refuses locked and deactivated accounts.

    Never raises for a bad password: the failure count must be committed, so the caller's
    transaction has to succeed (see :mod:`soc.login`).
    """
    now = now or utcnow()
    user = session.scalar(select(User).where(User.username == username))
    if user is None or user.password_hash is None:
        security.burn_password_check(password)
        return LoginOutcome(None, None, "unknown_user")
    if lockout.locked(user.locked_until, now):
        security.burn_password_check(password)
        assert user.locked_until is not None
        return LoginOutcome(None, user, "locked", lockout.minutes_left(user.locked_until, now))
    if not security.verify_password(password, user.password_hash):
        user.failed_logins, user.locked_until = lockout.after_failure(user.failed_logins, now)
        if user.locked_until is not None:
            return LoginOutcome(None, user, "locked", lockout.minutes_left(user.locked_until, now))
        return LoginOutcome(None, user, "wrong_password")
    if not user.active:
        return LoginOutcome(None, user, "inactive")
    user.failed_logins, user.locked_until = 0, None
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
    return LoginOutcome(token, user, "ok")


def principal_from_session(session: Session, token: str, now: datetime | None = None) -> Principal:
    row = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == security.token_digest(token))
    ).first()
    if row is None or row[0].expires_at <= (now or utcnow()) or not row[1].active:
        raise AuthenticationError(_("not logged in or the session expired"))
    web, user = row
    return Principal(
        user.id, user.username, user.role, "session", web.csrf_token, locale=user.locale
    )


def deactivate(session: Session, username: str) -> User:
    """Deactivate a user: sessions end and tokens stop working at once (both check ``active``)."""
    user = find_user(session, username)
    user.active = False
    for web in session.scalars(select(WebSession).where(WebSession.user_id == user.id)):
        session.delete(web)
    return user


def reactivate(session: Session, username: str) -> User:
    user = find_user(session, username)
    user.active = True
    user.failed_logins, user.locked_until = 0, None
    return user


def tokens_of(session: Session, user_id: int) -> list[tuple[ApiToken, str | None]]:
    """A user's tokens with the name of whoever else minted each (for the user's own page)."""
    issuer = aliased(User)
    rows = session.execute(
        select(ApiToken, issuer.username)
        .outerjoin(issuer, issuer.id == ApiToken.issued_by)
        .where(ApiToken.user_id == user_id)
        .order_by(ApiToken.id)
    )
    return [(token, name) for token, name in rows]


def logout(session: Session, token: str) -> None:
    web = session.scalar(
        select(WebSession).where(WebSession.token_hash == security.token_digest(token))
    )
    if web is not None:
        session.delete(web)
