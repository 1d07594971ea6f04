"""Deliver alerts to the SOC's ingest API over HTTP (detect never imports the SOC).

The request, the batching, the token handling and the error mapping are the one SOC ingest
client's (:mod:`tulou.contracts.soc_ingest`). This sink adds the AlertSink contract on top: an
alert the SOC refused raises :class:`InputError` naming every refused alert and why (the
accepted ones of the same delivery are stored, and a retry counts them as duplicates).
"""

from __future__ import annotations

from collections.abc import Sequence

from detect.alerts.base import DeliveryResult
from tulou.contracts.alert import Alert
from tulou.contracts.soc_ingest import SocIngestClient
from tulou.errors import InputError, UsageError


class HttpAlertSink:
    def __init__(self, url: str, token: str | None, *, timeout: float = 30.0) -> None:
        self.client = SocIngestClient(url, token, timeout=timeout)
        self.url = self.client.url

    def __repr__(self) -> str:  # never the token
        return f"HttpAlertSink({self.url!r})"

    def deliver(self, alerts: Sequence[Alert]) -> DeliveryResult:
        sent = self.client.send(alerts)
        if sent.rejected:
            reasons = "; ".join(f"{r.alert_id}: {r.error}" for r in sent.rejected)
            raise InputError(f"SOC refused {len(sent.rejected)} alert(s): {reasons}")
        return DeliveryResult(delivered=len(alerts) - sent.duplicates, duplicates=sent.duplicates)

    def alerts(self) -> list[Alert]:
        raise UsageError("the SOC sink cannot list alerts: use the SOC API")

    def close(self) -> None:
        pass
