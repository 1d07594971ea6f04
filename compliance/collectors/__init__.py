"""The evidence collectors, one module per source (see :class:`compliance.evidence.Collector`)."""
