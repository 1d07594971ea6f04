"""Prometheus exposition: counters, cumulative histogram buckets, escaping."""

from __future__ import annotations

from gateway.metrics import Metrics


def test_render() -> None:
    metrics = Metrics()
    metrics.inc("t_total", "Things.", outcome="allow", rule='a"b')
    metrics.inc("t_total", "Things.", outcome="allow", rule='a"b')
    metrics.observe("t_seconds", "Time.", 0.003, buckets=(0.001, 0.01))
    metrics.observe("t_seconds", "Time.", 0.5, buckets=(0.001, 0.01))
    metrics.set("t_ready", "Ready.", 1)
    text = metrics.render()
    assert "# TYPE t_total counter" in text
    assert 't_total{outcome="allow",rule="ab"} 2' in text
    assert 't_seconds_bucket{le="0.001"} 0' in text
    assert 't_seconds_bucket{le="0.01"} 1' in text
    assert 't_seconds_bucket{le="+Inf"} 2' in text
    assert "t_seconds_count 2" in text and "t_seconds_sum 0.503" in text
    assert "t_ready 1" in text and text.endswith("\n")
    assert metrics.counter_value("t_total", outcome="allow", rule='a"b') == 2
