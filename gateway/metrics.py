"""Prometheus text-format metrics (exposition format 0.0.4), without a client library.

- ``tulou_gateway_decisions_total{outcome,rule}``: counter of access decisions;
- ``tulou_gateway_request_duration_seconds{outcome}``: histogram of gateway-side latency
  (decision + upstream round trip for allowed requests);
- ``tulou_gateway_decision_duration_seconds``: histogram of the policy evaluation alone;
- ``tulou_gateway_reloads_total{file,result}``: counter of hot reloads (ok / failed);
- ``tulou_gateway_connections_closed_total{reason}``: live connections cut (revocation);
- ``tulou_gateway_ready``: 1 when ready to serve.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
DECISION_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001)


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    escaped = (
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(10), " ").replace(chr(34), "")}"'
        for k, v in pairs
    )
    return "{" + ",".join(escaped) + "}"


class _Histogram:
    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value


class Metrics:
    """Thread-safe registry of the gateway's metrics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
        self.histograms: dict[str, dict[tuple[tuple[str, str], ...], _Histogram]] = defaultdict(
            dict
        )
        self.gauges: dict[str, float] = {}
        self._help: dict[str, tuple[str, str]] = {}

    def inc(self, name: str, help_text: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._help[name] = ("counter", help_text)
            series = self.counters[name]
            series[key] = series.get(key, 0.0) + amount

    def observe(
        self,
        name: str,
        help_text: str,
        value: float,
        buckets: tuple[float, ...] = LATENCY_BUCKETS,
        **labels: str,
    ) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._help[name] = ("histogram", help_text)
            series = self.histograms[name]
            histogram = series.get(key)
            if histogram is None:
                histogram = series[key] = _Histogram(buckets)
            histogram.observe(value)

    def set(self, name: str, help_text: str, value: float) -> None:
        with self._lock:
            self._help[name] = ("gauge", help_text)
            self.gauges[name] = value

    def counter_value(self, name: str, **labels: str) -> float:
        with self._lock:
            return self.counters.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        """The exposition text (ends with a newline)."""
        lines: list[str] = []
        with self._lock:
            for name, (kind, help_text) in sorted(self._help.items()):
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} {kind}")
                if kind == "counter":
                    for key, value in sorted(self.counters[name].items()):
                        lines.append(f"{name}{_labels(key)} {value:g}")
                elif kind == "gauge":
                    lines.append(f"{name} {self.gauges[name]:g}")
                else:
                    for key, hist in sorted(self.histograms[name].items()):
                        running = 0
                        for bound, count in zip(hist.bounds, hist.counts, strict=False):
                            running += count
                            labels = _labels((*key, ("le", f"{bound:g}")))
                            lines.append(f"{name}_bucket{labels} {running}")
                        running += hist.counts[-1]
                        lines.append(f"{name}_bucket{_labels((*key, ('le', '+Inf')))} {running}")
                        lines.append(f"{name}_sum{_labels(key)} {hist.total:.9f}")
                        lines.append(f"{name}_count{_labels(key)} {running}")
        return "\n".join(lines) + "\n"
