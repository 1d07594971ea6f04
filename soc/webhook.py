"""The signed webhook: each notification POSTed as JSON with an HMAC-SM3 signature.

Headers of every request::

    Content-Type: application/json
    X-Tulou-Timestamp: 1767225600            (Unix seconds when it was sent)
    X-Tulou-Signature: hmac-sm3=<64 hex>     HMAC-SM3(secret, timestamp "." body)

The receiver recomputes the HMAC over the timestamp, a dot and the exact body bytes with the
shared secret (:func:`signature`), compares in constant time, and refuses timestamps older
than a few minutes (replays). HMAC-SM3 is HMAC (RFC 2104) over SM3 (GB/T 32905), from
:mod:`crypto.sm3`. The secret comes from the environment (``TULOU_SOC_WEBHOOK_SECRET``, at
least 32 characters) and never appears in logs or reprs; nor does the URL (it may embed a token).
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from crypto.sm3 import hmac_sm3
from soc.notify import describe
from tulou.errors import ConfigError

log = logging.getLogger(__name__)
MIN_SECRET = 32
SIGNATURE_HEADER = "X-Tulou-Signature"
TIMESTAMP_HEADER = "X-Tulou-Timestamp"


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The value of the signature header for ``body`` sent at ``timestamp``."""
    return "hmac-sm3=" + hmac_sm3(secret, timestamp.encode("ascii") + b"." + body).hex()


def verify(
    secret: bytes,
    timestamp: str,
    body: bytes,
    header: str,
    *,
    now: float | None = None,
    max_age: float = 300.0,
) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > max_age:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)


class WebhookNotifier:
    """POST each message as signed JSON to ``url`` (http or https), with a short timeout."""

    def __init__(
        self, url: str, secret: str | bytes, *, timeout: float = 5.0, locale: str = "zh_CN"
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("the webhook URL must be an http(s) URL")
        key = secret.encode() if isinstance(secret, str) else secret
        if len(key) < MIN_SECRET:
            raise ConfigError(
                f"the webhook secret (TULOU_SOC_WEBHOOK_SECRET) needs at least {MIN_SECRET} "
                "characters: unsigned or weakly signed notifications can be forged"
            )
        self._url = url
        self._host = parts.hostname
        self._secret = key
        self._timeout = timeout
        self._locale = locale

    def __repr__(self) -> str:
        return f"WebhookNotifier(host={self._host!r})"

    def body(self, message: dict[str, Any]) -> bytes:
        return json.dumps(
            {
                **{k: v for k, v in message.items() if k != "recipients"},
                "text": describe(message, self._locale),
            },
            ensure_ascii=False,
            sort_keys=True,
        ).encode()

    def send(self, message: dict[str, Any]) -> None:
        body = self.body(message)
        stamp = str(int(time.time()))
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self._url,
            data=body,
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: stamp,
                SIGNATURE_HEADER: signature(self._secret, stamp, body),
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning("webhook to %s failed: %s", self._host, type(exc).__name__)
