"""The Redis :class:`~gateway.store.base.StateStore`: every gateway instance shares one Redis.

Keys (one Redis database, or a Sentinel-managed primary; all keys of one call live in one
instance, so this is not written for Redis Cluster)::

    tulou:rl:<bucket>          hash {t: tokens, at: server time}; expires when full again
    tulou:jti:<token id>       the binding (device fingerprint or address); expires with the token
    tulou:revoked:<kind>       sorted set value -> expiry (epoch s, +inf = permanent)
    channel tulou:revocations  JSON of every change, for the other instances

Rate limits are Lua scripts clocked by ``TIME`` on the Redis server (instances' clocks may
differ; the buckets do not care), so a take over several buckets is atomic and all-or-nothing
across instances. The token binding is one script too (``SET NX`` then compare).

Failures: every call has a short socket timeout (``timeout``, default 0.25 s); after a
failure the store is treated as down for ``retry`` seconds (calls raise
:class:`StoreUnavailable` at once instead of stalling the event loop on each request), then
tried again. ``on_state(up, reason)`` is told about each transition, for the audit.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from gateway.store.base import KINDS, BucketSpec, Change, Snapshot, StoreUnavailable

log = logging.getLogger(__name__)
CHANNEL = "tulou:revocations"

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""
_LEVEL = """
local function level(key, rate, burst)
  local v = redis.call('HMGET', key, 't', 'at')
  if not v[1] then return burst end
  return math.min(burst, tonumber(v[1]) + math.max(0, now - tonumber(v[2])) * rate)
end
local function store(key, value, rate, burst)
  redis.call('HSET', key, 't', string.format('%.17g', value), 'at', string.format('%.17g', now))
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
end
"""
TAKE = (
    _NOW
    + _LEVEL
    + """
local cost = tonumber(ARGV[1])
local levels = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local rate, burst = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  levels[i] = level(key, rate, burst)
  if levels[i] < cost then wait = math.max(wait, (cost - levels[i]) / rate) end
end
if wait > 0 then return string.format('%.6f', wait) end
for i, key in ipairs(KEYS) do
  store(key, levels[i] - cost, tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1]))
end
return false
"""
)
LEASE = (
    _NOW
    + _LEVEL
    + """
local rate, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local have = level(KEYS[1], rate, burst)
local granted = math.min(want, math.floor(have))
store(KEYS[1], have - granted, rate, burst)
return {granted, string.format('%.6f', math.max(0, (1 - (have - granted)) / rate))}
"""
)
AVAILABLE = (
    _NOW
    + _LEVEL
    + """
if level(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])) >= 1 then return 1 end
return 0
"""
)
BIND = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if ARGV[3] == '1' then return 0 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
"""


class RedisStore:
    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        timeout: float = 0.25,
        retry: float = 0.5,
        on_state: Callable[[bool, str], None] | None = None,
    ) -> None:
        self.url = url
        self._options: dict[str, Any] = {
            "password": password,
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
        }
        self.client: Any = redis.Redis.from_url(url, single_connection_client=True, **self._options)
        self._take = self.client.register_script(TAKE)
        self._lease = self.client.register_script(LEASE)
        self._available = self.client.register_script(AVAILABLE)
        self._bind = self.client.register_script(BIND)
        self.retry = retry
        self.on_state = on_state
        self._down_until = 0.0
        self._down_reason = ""
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Change], None]] = []
        self._subscriber: threading.Thread | None = None
        self._closed = threading.Event()

    def __repr__(self) -> str:  # never the password
        return f"RedisStore({self.url.split('@')[-1]!r})"

    # -- failure handling -------------------------------------------------------------------------
    def _call(self, what: str, func: Callable[[], Any]) -> Any:
        if self._down_until and time.monotonic() < self._down_until:
            raise StoreUnavailable(f"shared state down ({self._down_reason})")
        try:
            result = func()
        except (redis.RedisError, OSError, ValueError) as exc:
            self._mark_down(f"{what}: {type(exc).__name__}: {exc}")
            raise StoreUnavailable(f"shared state unreachable ({what}: {exc})") from None
        if self._down_until:
            self._down_until = 0.0
            self._notify(True, "shared state reachable again")
        return result

    def _mark_down(self, reason: str) -> None:
        was_up = not self._down_until
        self._down_until = time.monotonic() + self.retry
        self._down_reason = reason
        if was_up:
            log.error("shared state (Redis) unreachable: %s", reason)
            self._notify(False, reason)

    def _notify(self, up: bool, reason: str) -> None:
        if self.on_state is not None:
            try:
                self.on_state(up, reason)
            except Exception:  # the audit of a transition must not break the call path
                log.exception("state transition listener failed")

    # -- rate limits ------------------------------------------------------------------------------
    def take(self, buckets: Sequence[tuple[str, BucketSpec]], cost: int = 1) -> float | None:
        if not buckets:
            return None
        keys = [f"tulou:rl:{key}" for key, _ in buckets]
        args: list[str | int] = [cost]
        for _, spec in buckets:
            args += [repr(spec.rate), repr(spec.burst)]
        wait = self._call("take", lambda: self._take(keys=keys, args=args))
        return None if wait is None else float(wait)

    def lease(self, key: str, spec: BucketSpec, want: int) -> tuple[int, float]:
        args: list[str | int] = [repr(spec.rate), repr(spec.burst), want]
        granted, wait = self._call(
            "lease", lambda: self._lease(keys=[f"tulou:rl:{key}"], args=args)
        )
        return int(granted), float(wait)

    def available(self, key: str, spec: BucketSpec) -> bool:
        args = [repr(spec.rate), repr(spec.burst)]
        found = self._call("peek", lambda: self._available(keys=[f"tulou:rl:{key}"], args=args))
        return bool(found)

    # -- replay -----------------------------------------------------------------------------------
    def bind_token(self, jti: str, binding: str, ttl: float, single_use: bool) -> bool:
        args: list[str | int] = [binding, max(1, math.ceil(ttl * 1000)), "1" if single_use else "0"]
        found = self._call("bind", lambda: self._bind(keys=[f"tulou:jti:{jti}"], args=args))
        return bool(found)

    # -- revocations and blocks -----------------------------------------------------------------
    def revoke(self, change: Change) -> None:
        if change.kind not in KINDS:
            raise ValueError(f"unknown revocation kind {change.kind!r}")
        key = f"tulou:revoked:{change.kind}"
        message = json.dumps(
            {
                "kind": change.kind,
                "value": change.value,
                "until": change.until,
                "removed": change.removed,
            }
        )

        def write() -> None:
            pipe = self.client.pipeline(transaction=True)
            if change.removed:
                pipe.zrem(key, change.value)
            else:
                score = "+inf" if change.until is None else repr(change.until)
                pipe.zadd(key, {change.value: score})
            pipe.publish(CHANNEL, message)
            pipe.execute()

        self._call("revoke", write)

    def snapshot(self) -> Snapshot:
        now = time.time()

        def read() -> dict[str, dict[str, float]]:
            pipe = self.client.pipeline(transaction=False)
            for kind in KINDS:
                pipe.zrangebyscore(f"tulou:revoked:{kind}", f"({now!r}", "+inf", withscores=True)
            results = pipe.execute()
            return {
                kind: {value.decode(): float(score) for value, score in rows}
                for kind, rows in zip(KINDS, results, strict=True)
            }

        return Snapshot(self._call("snapshot", read))

    def subscribe(self, callback: Callable[[Change], None]) -> None:
        with self._lock:
            self._listeners.append(callback)
            if self._subscriber is None:
                self._subscriber = threading.Thread(
                    target=self._listen, name="tulou-state-sub", daemon=True
                )
                self._subscriber.start()

    def _listen(self) -> None:
        while not self._closed.is_set():
            client: Any = None
            try:
                client = redis.Redis.from_url(self.url, **{**self._options, "socket_timeout": 2.0})
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                while not self._closed.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message and message.get("type") == "message":
                        self._deliver(message["data"])
            except (redis.RedisError, OSError) as exc:
                log.warning("revocation subscription lost (%s); reconnecting", exc)
                self._closed.wait(0.5)
            finally:
                if client is not None:
                    client.close()

    def _deliver(self, data: bytes) -> None:
        try:
            raw = json.loads(data)
            change = Change(
                str(raw["kind"]), str(raw["value"]), raw.get("until"), bool(raw.get("removed"))
            )
        except (ValueError, KeyError, TypeError):
            log.error("ignored a malformed revocation message")
            return
        for listener in tuple(self._listeners):
            try:
                listener(change)
            except Exception:
                log.exception("revocation listener failed")

    def ping(self) -> None:
        self._call("ping", self.client.ping)

    def close(self) -> None:
        self._closed.set()
        if self._subscriber is not None:
            self._subscriber.join(2)
        self.client.close()
