"""Deliver alerts to the SOC's ingest API over HTTP (detect never imports the SOC).

``POST <base>/api/v1/alerts/ingest`` with ``{"alerts": [Alert.to_dict(), ...]}`` (at most
:data:`BATCH` per request) and ``Authorization: Bearer <service token>``; the SOC answers
``{created, grouped, duplicates, rejected, alert_ids}`` and is idempotent on ``alert_id``.
The token comes from settings/environment, never from the URL or argv, and is never logged.
Connection errors and 5xx raise :class:`UnavailableError`; 401/403 a :class:`ConfigError`; an
item the SOC refused an :class:`InputError` naming the alert. Standard library only.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from detect.alerts.base import DeliveryResult
from tulou.alerts import Alert
from tulou.errors import ConfigError, InputError, UnavailableError, UsageError

BATCH = 500
PATH = "/api/v1/alerts/ingest"


class HttpAlertSink:
    def __init__(self, url: str, token: str | None, *, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"not an http(s) URL: {url!r}")
        if parts.username or parts.password:
            raise ConfigError("the SOC URL must not carry credentials; set the token instead")
        self.url = url.rstrip("/")
        self._token = token
        self._timeout = timeout

    def __repr__(self) -> str:  # never the token
        return f"HttpAlertSink({self.url!r})"

    def deliver(self, alerts: Sequence[Alert]) -> DeliveryResult:
        result = DeliveryResult()
        for start in range(0, len(alerts), BATCH):
            batch = alerts[start : start + BATCH]
            body = self._post({"alerts": [a.to_dict() for a in batch]})
            rejected = body.get("rejected") or []
            if rejected:
                first = rejected[0]
                alert = batch[int(first.get("index", 0))]
                raise InputError(f"SOC refused alert {alert.alert_id}: {first.get('error')}")
            duplicates = int(body.get("duplicates", 0))
            result.duplicates += duplicates
            result.delivered += len(batch) - duplicates
        return result

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.url + PATH, data=json.dumps(payload).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                data = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                raise UnavailableError(f"SOC ingest at {self.url}: HTTP {exc.code}") from exc
            if exc.code in (401, 403):
                raise ConfigError(f"SOC ingest at {self.url} refused the service token") from exc
            raise InputError(f"SOC ingest at {self.url}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise UnavailableError(f"SOC ingest at {self.url}: {type(exc).__name__}") from exc
        return dict(data) if isinstance(data, dict) else {}

    def alerts(self) -> list[Alert]:
        raise UsageError("the SOC sink cannot list alerts: use the SOC API")

    def close(self) -> None:
        pass
