"""The one client of the SOC's alert ingest API (detect's alert sink and backup's drill alerts).

Request: ``POST <base>/api/v1/alerts/ingest`` with ``{"alerts": [Alert.to_dict(), ...]}`` (at
most :data:`MAX_BATCH` per request; longer lists are sent in batches, in order) and
``Authorization: Bearer <service token>``. Response (the SOC writes it, :meth:`IngestResult.
from_response` reads it): ``{"created", "grouped", "duplicates", "rejected": [{"index",
"error"}], "alert_ids"}``. The SOC is idempotent on ``alert_id``: sending an alert twice counts
it as a duplicate.

Rules every caller gets for free:

- The token comes from settings or the environment, never from the URL or argv: a URL with
  credentials is refused (:class:`ConfigError`) before anything is sent, and neither the token
  nor the URL's query appears in a message or a repr.
- Items the SOC refused are returned as :class:`Rejection` values naming the alert (index into
  the caller's sequence, ``alert_id``, the SOC's reason); the other items of the batch are
  stored. Nothing is dropped silently: the caller decides (raise, dead-letter, report).
- Connection errors, timeouts and 5xx raise :class:`UnavailableError` (the caller keeps the
  alerts and retries); 401/403 a :class:`ConfigError` (the token is wrong); any other 4xx an
  :class:`InputError`; a body that is not the response above an :class:`UnavailableError`.

Standard library only: ``urllib.request`` is imported on first use (it costs ~50 ms).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tulou.contracts.alert import Alert
from tulou.errors import ConfigError, InputError, UnavailableError

INGEST_PATH = "/api/v1/alerts/ingest"
#: Alerts per request. The SOC accepts up to 1000; 500 keeps one request well under its limits.
MAX_BATCH = 500


@dataclass(frozen=True, slots=True)
class Rejection:
    """One alert the SOC refused, and why."""

    index: int  # into the sequence given to :meth:`SocIngestClient.send`
    alert_id: str
    error: str


@dataclass(slots=True)
class IngestResult:
    """What the SOC did with the alerts of one :meth:`SocIngestClient.send`."""

    created: int = 0
    grouped: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    alert_ids: list[int] = field(default_factory=list)

    @property
    def stored(self) -> int:
        """Alerts the SOC stored now (new queue entries plus ones grouped into existing ones)."""
        return self.created + self.grouped

    @classmethod
    def from_response(cls, body: Any, batch: Sequence[Alert], offset: int = 0) -> IngestResult:
        """Read the SOC's answer for ``batch`` (which starts at ``offset`` in the caller's list)."""
        if not isinstance(body, Mapping):
            raise UnavailableError("the SOC's ingest answer is not a JSON object")
        try:
            rejected = []
            for item in body.get("rejected") or ():
                index = int(item["index"])
                if not 0 <= index < len(batch):
                    raise ValueError(f"rejected index {index} outside the batch")
                rejected.append(
                    Rejection(offset + index, batch[index].alert_id, str(item.get("error", "")))
                )
            return cls(
                created=int(body.get("created", 0)),
                grouped=int(body.get("grouped", 0)),
                duplicates=int(body.get("duplicates", 0)),
                rejected=rejected,
                alert_ids=[int(i) for i in body.get("alert_ids") or ()],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UnavailableError(f"the SOC's ingest answer is malformed: {exc}") from None

    def add(self, other: IngestResult) -> None:
        self.created += other.created
        self.grouped += other.grouped
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)
        self.alert_ids.extend(other.alert_ids)

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "grouped": self.grouped,
            "duplicates": self.duplicates,
            "rejected": [
                {"index": r.index, "alert_id": r.alert_id, "error": r.error} for r in self.rejected
            ],
            "alert_ids": list(self.alert_ids),
        }


def check_url(url: str) -> str:
    """The SOC base URL without a trailing slash; refuses non-http(s) URLs and credentials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("the SOC URL must be http(s)://host[:port][/base]")
    if parts.username or parts.password:
        # Secrets never in URLs: they end up in logs, process lists and proxies.
        raise ConfigError("the SOC URL must not carry credentials; set the service token instead")
    if parts.query or parts.fragment:
        raise ConfigError("the SOC URL must not carry a query or fragment")
    return url.rstrip("/")


class SocIngestClient:
    """Sends alerts to one SOC. Thread-compatible (no shared state beyond the settings)."""

    def __init__(self, url: str, token: str | None, *, timeout: float = 30.0) -> None:
        self.url = check_url(url)
        self._token = token
        self._timeout = timeout

    def __repr__(self) -> str:  # never the token
        return f"SocIngestClient({self.url!r})"

    def send(self, alerts: Sequence[Alert]) -> IngestResult:
        """Deliver ``alerts`` in batches of :data:`MAX_BATCH` (see the module docstring)."""
        result = IngestResult()
        for start in range(0, len(alerts), MAX_BATCH):
            batch = alerts[start : start + MAX_BATCH]
            body = self._post({"alerts": [alert.to_dict() for alert in batch]})
            result.add(IngestResult.from_response(body, batch, start))
        return result

    def _post(self, payload: dict[str, Any]) -> Any:
        import urllib.error  # noqa: PLC0415 - see the module docstring
        import urllib.request  # noqa: PLC0415

        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(  # noqa: S310 - scheme checked in check_url
            self.url + INGEST_PATH,
            data=json.dumps(payload, ensure_ascii=False).encode(),
            headers=headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                raise UnavailableError(f"SOC ingest at {self.url}: HTTP {exc.code}") from None
            if exc.code in (401, 403):
                raise ConfigError(f"SOC ingest at {self.url} refused the service token") from None
            raise InputError(f"SOC ingest at {self.url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or type(exc).__name__
            raise UnavailableError(f"SOC ingest at {self.url}: {reason}") from None
