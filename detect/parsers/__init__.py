"""Parsers: one module per format, registered under stable ids (the ``--format`` values).

The list below is the registry's order, which is also the tie-break order of auto-detection.
"""

from __future__ import annotations

from detect.parsers.auditd import AuditdParser
from detect.parsers.auth import AuthLogParser
from detect.parsers.base import Item, LineParser, Parser, ParserRegistry
from detect.parsers.cryptoaudit import CryptoAuditParser
from detect.parsers.evtx import EvtxParser
from detect.parsers.jsonl import GatewayAuditParser, JsonLinesParser
from detect.parsers.pcap import PcapParser
from detect.parsers.syslog import SyslogParser
from detect.parsers.syslog_time import DEFAULT_TIMEZONE, LocalClock
from detect.parsers.web import WebAccessParser
from detect.parsers.web_error import WebErrorParser

__all__ = [
    "DEFAULT_TIMEZONE",
    "Item",
    "LineParser",
    "LocalClock",
    "Parser",
    "ParserRegistry",
    "default_registry",
]

#: How many leading bytes auto-detection looks at.
SNIFF_BYTES = 8192


def default_registry(clock: LocalClock | None = None) -> ParserRegistry:
    """A registry with every built-in parser; ``clock`` reads the zone-less, year-less syslog
    times of the source (default: the city's zone, the year inferred from now)."""
    registry = ParserRegistry()
    local = clock if clock is not None else LocalClock()
    for parser in (
        PcapParser,
        EvtxParser,
        CryptoAuditParser,
        GatewayAuditParser,
        JsonLinesParser,
        AuditdParser,
    ):
        registry.register(parser.id, parser)
    registry.register(AuthLogParser.id, lambda: AuthLogParser(clock=local))
    registry.register(SyslogParser.id, lambda: SyslogParser(clock=local))
    registry.register(WebAccessParser.id, WebAccessParser)
    registry.register(WebErrorParser.id, lambda: WebErrorParser(clock=local))
    return registry
