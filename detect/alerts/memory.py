"""The in-memory AlertSink: the fake for tests of code that delivers alerts."""

from __future__ import annotations

from collections.abc import Sequence

from detect.alerts.base import DeliveryResult
from tulou.contracts.alert import Alert


class MemoryAlertSink:
    def __init__(self) -> None:
        self._alerts: dict[str, Alert] = {}

    def deliver(self, alerts: Sequence[Alert]) -> DeliveryResult:
        result = DeliveryResult()
        for alert in alerts:
            if alert.alert_id in self._alerts:
                result.duplicates += 1
            else:
                self._alerts[alert.alert_id] = alert
                result.delivered += 1
        return result

    def alerts(self) -> list[Alert]:
        return sorted(self._alerts.values(), key=lambda a: (a.first_seen, a.alert_id))

    def close(self) -> None:
        pass
