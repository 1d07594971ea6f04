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
from detect.parsers.web import WebAccessParser

__all__ = ["Item", "LineParser", "Parser", "ParserRegistry", "default_registry"]

#: How many leading bytes auto-detection looks at.
SNIFF_BYTES = 8192


def default_registry() -> ParserRegistry:
    """A registry with every built-in parser."""
    registry = ParserRegistry()
    for parser in (
        PcapParser,
        EvtxParser,
        CryptoAuditParser,
        GatewayAuditParser,
        JsonLinesParser,
        AuditdParser,
        AuthLogParser,
        SyslogParser,
        WebAccessParser,
    ):
        registry.register(parser.id, parser)
    return registry
