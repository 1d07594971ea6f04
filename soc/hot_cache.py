"""A response cache for the hot queue GETs, kept correct by the data version.

The triage queue (``GET /api/v1/alerts?...``) and an alert's detail (``GET /api/v1/alerts/{id}``)
are what every analyst's screen polls. Their FastAPI endpoints store each 200 body they encode
here, keyed by the exact path and query string, tagged with the data version
(:mod:`soc.data_version`) read in the same session *before* the data. The metrics endpoint
stores its body with the expiry of its own TTL cache instead (metrics are time-bound, not
version-bound: "open past the SLA target" changes with the clock).

:class:`HotGetMiddleware` (raw ASGI, in front of routing and dependency resolution) answers a
GET whose key is cached, when -- in one database session, on every request --

1. the ``Authorization: Bearer`` token belongs to an active user and is not revoked, and that
   user's role is one the endpoint admits (:func:`soc.auth.token_usable` and
   :func:`soc.auth.admits` over the endpoint's own role set: the checks
   :func:`soc.auth.principal_from_token` and :func:`soc.deps.require` make), and
2. the data version still equals the entry's tag (no alert, tag or user changed since), or for
   a time-bound entry, its expiry has not passed.

Anything else -- a miss, a stale entry, a cookie session, any authentication or role problem --
goes to the normal endpoint, which gives the normal answer (and errors) and refreshes the
entry. So the cache never decides *who* may see something, only spares re-reading and
re-encoding what that caller may see. Reads are not audited (the audit chain records
analyst actions), on either path.

The cache is per process, bounded in entries and bytes (the oldest entries go first).

**Single flight on misses** (:meth:`HotCache.fill`): after a write, every cached body is stale
and all the clients polling one URL miss at once. The endpoint fills a key under a lock for
that key (striped: 256 locks); whoever waited on it then re-checks the entry against the data
version read *now* and, if another caller just stored a current body, answers that instead of
running the same queries again. The check is the one the middleware makes (tag equals the
current version), so an answer is never older than the latest write it could see.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from soc import auth, security
from soc.db import Database

type Key = tuple[str, bytes]

#: Seconds an expired time-bound entry is still served while one caller refreshes it.
REFRESH_GRACE = 5.0
#: Lock stripes for single-flight fills (keys that share a stripe fill one after the other).
FILL_STRIPES = 256
type Scope = MutableMapping[str, Any]
type Message = MutableMapping[str, Any]
type Receive = Callable[[], Awaitable[Message]]
type Send = Callable[[Message], Awaitable[None]]
type ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Entry:
    version: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    roles: frozenset[str]
    #: For time-bound bodies (the metrics: their own TTL cache decides freshness): fresh
    #: until this ``time.monotonic()``; the data version is not checked. None: version-bound.
    expires: float | None = None


class HotCache:
    """Encoded 200 responses by (path, query string); ``max_entries`` 0 disables it."""

    def __init__(self, max_entries: int = 4096, max_bytes: int = 64 << 20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: dict[Key, Entry] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0  # answered from the cache (for tests and the benchmark's report)
        self.fills = 0  # bodies produced by an endpoint and stored
        self.shared = 0  # misses answered by a body another caller filled meanwhile
        self._fill_locks = tuple(threading.Lock() for _ in range(FILL_STRIPES))

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0

    def get(self, key: Key) -> Entry | None:
        return self._entries.get(key)

    def put(
        self,
        key: Key,
        version: int,
        body: bytes,
        headers: dict[str, str],
        roles: frozenset[str],
        *,
        expires: float | None = None,
    ) -> None:
        if not self.enabled or len(body) > self.max_bytes:
            return
        if expires is not None and expires <= time.monotonic():
            return
        raw = tuple((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
        entry = Entry(version, body, raw, roles, expires)
        with self._lock:
            self.fills += 1
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            while self._entries and (
                len(self._entries) >= self.max_entries or self._bytes + len(body) > self.max_bytes
            ):
                oldest = next(iter(self._entries))
                self._bytes -= len(self._entries.pop(oldest).body)
            self._entries[key] = entry
            self._bytes += len(body)

    def fill[T](
        self, key: Key, current_version: Callable[[], int], produce: Callable[[], T]
    ) -> Entry | T:
        """Single-flight miss handling for version-bound ``key`` (call from a worker thread).

        Under ``key``'s lock: if an entry tagged with ``current_version()`` is cached (another
        caller filled it while this one waited), return it; else return ``produce()`` (which
        stores the body itself, tagged with the version it read before its data).
        """
        with self._fill_locks[hash(key) % FILL_STRIPES]:
            entry = self._entries.get(key)
            if entry is not None and entry.expires is None and entry.version == current_version():
                self.shared += 1
                return entry
            return produce()

    def renew(self, key: Key, entry: Entry, until: float) -> None:
        """Keep serving a time-bound ``entry`` until ``until`` (while it is being refreshed)."""
        with self._lock:
            if self._entries.get(key) is entry:
                self._entries[key] = Entry(
                    entry.version, entry.body, entry.headers, entry.roles, until
                )

    def __len__(self) -> int:
        return len(self._entries)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


class HotGetMiddleware:
    """Serve fresh cached GETs for authorised token callers; everything else passes through."""

    def __init__(self, app: ASGIApp, *, cache: HotCache, db: Database) -> None:
        self.app = app
        self.cache = cache
        self.db = db
        # SQLite in WAL mode: readers never wait for writers and the two indexed lookups take
        # tens of microseconds, so they run on the event loop; a thread hop (and the GIL
        # hand-over it costs under load) would take longer than the queries. A PostgreSQL
        # round trip must not block the loop: there it runs in the thread pool.
        self.inline = db.dialect == "sqlite"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            key = (scope["path"], scope["query_string"])
            entry = self.cache.get(key)
            if entry is not None and entry.expires is not None:
                now = time.monotonic()
                if now >= entry.expires:
                    # This caller refreshes it through the endpoint; meanwhile the others keep
                    # the previous body, like the metrics cache itself does (at most one
                    # refresh interval more: then the next caller tries again).
                    self.cache.renew(key, entry, now + REFRESH_GRACE)
                    entry = None
            token = _bearer(scope) if entry is not None else None
            if entry is not None and token is not None:
                if self.inline:
                    fresh = self._check(token, entry)
                else:
                    fresh = await run_in_threadpool(self._check, token, entry)
                if fresh:
                    self.cache.hits += 1
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 200,
                            "headers": [
                                (b"content-length", str(len(entry.body)).encode()),
                                *entry.headers,
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": entry.body})
                    return
        await self.app(scope, receive, send)

    def _check(self, token: str, entry: Entry) -> bool:
        """The caller may see it and it is current: one statement, so one snapshot, every time.

        The same functions :func:`soc.auth.principal_from_token` (a known, usable token) and
        :func:`soc.deps.require` (the endpoint's role set) call; a failure of any goes to the
        normal path, which answers 401/403 itself.
        """
        with self.db.engine.connect() as connection:
            row = connection.execute(_CHECK, {"token_hash": security.token_digest(token)}).first()
            connection.rollback()
        if row is None or not auth.token_usable(revoked=row.revoked, active=row.active):
            return False
        if not auth.admits(entry.roles, row.role):
            return False
        if entry.expires is not None:
            return time.monotonic() < entry.expires
        return bool(row.version == entry.version)


# Token, user and data version in one statement: a consistent snapshot on both databases.
_CHECK = text(
    "SELECT t.revoked, u.active, u.role, "
    "(SELECT v.version FROM soc_data_version v WHERE v.id = 1) AS version "
    "FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = :token_hash"
)
