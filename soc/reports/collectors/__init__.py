"""The evidence collectors, one module per source (see :class:`soc.reports.evidence.Collector`)."""
