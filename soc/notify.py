"""Notifications (assignment, ...) sent to a webhook.

:class:`Notifier` is the seam: :class:`WebhookNotifier` POSTs JSON to a URL; the recording fake
keeps what it was given. Delivery happens after the database commit, off the request path
(FastAPI background task); a failed delivery is logged (URL host only: a webhook URL may embed
a secret token) and never fails the analyst's action.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any, Protocol
from urllib.parse import urlsplit

from tulou.errors import ConfigError

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """``send(message)`` MUST NOT raise: delivery problems are logged and dropped."""

    def send(self, message: dict[str, Any]) -> None: ...


class NullNotifier:
    def send(self, message: dict[str, Any]) -> None:
        return None


class RecordingNotifier:
    """The fake: remembers every message."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


class WebhookNotifier:
    """POST each message as JSON to ``url`` (http or https), with a short timeout."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("the webhook URL must be an http(s) URL")
        self._url = url
        self._host = parts.hostname
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"WebhookNotifier(host={self._host!r})"

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message, ensure_ascii=False).encode()
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self._url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning("webhook to %s failed: %s", self._host, type(exc).__name__)
