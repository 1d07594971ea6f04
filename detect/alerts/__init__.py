"""Alert delivery: the AlertSink seam, its registry and implementations."""
