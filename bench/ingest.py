# ruff: noqa: E501
"""Ingest benchmark: ratios against references measured in the same run.

Run: ``python -m bench ingest [--pcap-mb 200] [--big-mb 1024] [--lines 200000] [--es URL]
[--only pcap|sqlite|es|memory ...]`` (``--only`` repeats; default: every part).

1. pcap -> ECS events (our parser) vs ``tshark -T fields`` extracting comparable fields
   (5-tuple, DNS name, HTTP method/host/uri/user agent/status, TLS SNI, JA3) from the same
   capture; ratio = tshark seconds / our seconds (>= 1.0 means we are at least as fast).
2. log lines -> SQLite: events/s through the whole pipeline (parse, batch, write).
3. Elasticsearch: our store's ``write`` vs ``curl`` posting the same NDJSON to ``_bulk``;
   ratio = curl seconds / our seconds. Needs ``--es`` (a lab node: ``tulou lab es start``).
4. peak RSS of a child process parsing a ``--big-mb`` capture (flat memory: streaming).

Data is generated here (packets templated once with scapy, then patched per session).
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from detect.deadletter import DeadLetterFile
from detect.ingest import Ingestor
from detect.model import Source, source_for
from detect.parsers.auth import AuthLogParser
from detect.parsers.pcap import PcapParser
from detect.spool import BufferedWriter, Spool
from detect.stores.sqlite import SQLiteStore


def _templates() -> list[tuple[bytes, int]]:
    """One session's packets as (frame, offset of the client port) pairs."""
    from scapy.layers.dns import DNS, DNSQR, DNSRR
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    from tests.unit.detect.parsers.test_pcap_parser import client_hello

    c, s, r = "10.1.0.5", "10.2.0.80", "10.0.0.53"
    request = b"GET /portal/index.html?id=42 HTTP/1.1\r\nHost: portal.city.gov\r\nUser-Agent: Mozilla/5.0\r\n\r\n"

    def t(src: str, dst: str, sp: int, dp: int, flags: str, data: bytes = b"") -> bytes:  # noqa: PLR0917
        packet = Ether() / IP(src=src, dst=dst) / TCP(sport=sp, dport=dp, flags=flags)
        return bytes(packet / Raw(data) if data else packet)

    out = [
        (
            bytes(
                Ether()
                / IP(src=c, dst=r)
                / UDP(sport=40000, dport=53)
                / DNS(id=1, rd=1, qd=DNSQR(qname="portal.city.gov"))
            ),
            34,
        ),
        (
            bytes(
                Ether()
                / IP(src=r, dst=c)
                / UDP(sport=53, dport=40000)
                / DNS(
                    id=1,
                    qr=1,
                    qd=DNSQR(qname="portal.city.gov"),
                    an=DNSRR(rrname="portal.city.gov", rdata="10.2.0.80"),
                )
            ),
            36,
        ),
        (t(c, s, 40000, 80, "S"), 34),
        (t(s, c, 80, 40000, "SA"), 36),
        (t(c, s, 40000, 80, "A"), 34),
        (t(c, s, 40000, 80, "PA", request), 34),
        (
            t(
                s,
                c,
                80,
                40000,
                "PA",
                b"HTTP/1.1 200 OK\r\nContent-Length: 1200\r\n\r\n" + b"x" * 1200,
            ),
            36,
        ),
        (t(c, s, 40000, 80, "FA"), 34),
        (t(s, c, 80, 40000, "FA"), 36),
        (t(c, s, 40000, 443, "PA", client_hello()), 34),
    ]
    return out


def write_pcap(path: Path, megabytes: int) -> int:
    """A capture of about ``megabytes`` MiB; returns the packet count."""
    templates = _templates()
    record = struct.Struct("<IIII")
    packets = 0
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        session = 0
        limit = megabytes * 1024 * 1024
        written = 24
        buffer = bytearray()
        while written < limit:
            port = struct.pack("!H", 1024 + session % 60000)
            client = struct.pack("!B", session // 60000 % 250 + 1)
            base = 1_772_352_000 + session // 50
            for i, (frame, at) in enumerate(templates):
                data = bytearray(frame)
                data[at : at + 2] = port
                data[29 if at == 34 else 33] = client[0]  # last byte of the client address
                buffer += record.pack(base, i * 1000, len(data), len(data)) + data
                packets += 1
            session += 1
            if len(buffer) > 1 << 20:
                out.write(buffer)
                written += len(buffer)
                buffer.clear()
        out.write(buffer)
    return packets


def parse_pcap(path: Path) -> int:
    # The source as ingest names a capture: the SHA-256 of the whole file is part of the cost.
    source = source_for(path, identity=PcapParser.identity)
    with path.open("rb") as stream:
        return sum(1 for _ in PcapParser().parse(stream, source))


TSHARK_FIELDS = [
    "frame.time_epoch", "ip.src", "ip.dst", "tcp.srcport", "tcp.dstport", "udp.srcport",
    "udp.dstport", "tcp.flags", "dns.qry.name", "dns.a", "http.request.method", "http.host",
    "http.request.uri", "http.user_agent", "http.response.code",
    "tls.handshake.extensions_server_name", "tls.handshake.ja3",
]  # fmt: skip


def tshark(path: Path) -> float:
    args = ["tshark", "-n", "-r", str(path), "-T", "fields"]
    for field in TSHARK_FIELDS:
        args += ["-e", field]
    start = time.perf_counter()
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def log_lines(count: int) -> bytes:
    users = ["alice", "bob", "carol", "root", "admin", "oracle"]
    lines = []
    for i in range(count):
        user = users[i % len(users)]
        if i % 3 == 0:
            text = f"Failed password for {user} from 203.0.{i % 250}.{i % 200} port {1024 + i % 60000} ssh2"
        elif i % 3 == 1:
            text = f"Accepted publickey for {user} from 10.0.{i % 250}.5 port {2000 + i % 60000} ssh2: RSA SHA256:x"
        else:
            text = f"{user} : TTY=pts/{i % 9} ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/id -u {i}"
        program = "sudo" if i % 3 == 2 else f"sshd[{1000 + i % 5000}]"
        lines.append(
            f"Mar {1 + i // 86400 % 28:2d} {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d} host{i % 40} {program}: {text}\n"
        )
    return "".join(lines).encode()


def bench_sqlite(
    data: bytes, work: Path, parse_worker: bool | None = None, workers: int = 2
) -> tuple[int, float]:
    store = SQLiteStore(work / f"bench-{parse_worker}-{workers}.db")
    ingestor = Ingestor(
        BufferedWriter(store, Spool(work / "spool")),
        DeadLetterFile(work / "dead"),
        batch_size=5000,
        parse_worker=parse_worker,
        workers=workers,
    )
    start = time.perf_counter()
    ingestor.ingest_stream(
        io.BytesIO(data), Source("auth.log", "bench-auth"), AuthLogParser(year=2026)
    )
    summary = ingestor.finish()
    elapsed = time.perf_counter() - start
    assert summary.reconciles() and summary.stored == summary.read, summary
    store.close()
    return summary.stored, elapsed


def bench_es(url: str, data: bytes, work: Path) -> tuple[int, float, float]:
    from detect.stores.elasticsearch import ElasticsearchStore

    events = [
        e
        for e in AuthLogParser(year=2026).parse(io.BytesIO(data), Source("a", "bench-es"))
        if isinstance(e, dict)
    ]
    ndjson = work / "bulk.ndjson"
    with ndjson.open("wb") as out:
        for event in events:
            out.write(b'{"create":{"_id":' + json.dumps(event["event.id"]).encode() + b"}}\n")
            out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
    size = ndjson.stat().st_size
    # Reference: curl posting the same NDJSON in ~8 MiB requests, as our store sends them.
    parts = []
    lines = ndjson.read_bytes().splitlines(keepends=True)
    chunk = bytearray()
    for i in range(0, len(lines), 2):
        chunk += lines[i] + lines[i + 1]
        if len(chunk) >= 8 * 1024 * 1024:
            parts.append(bytes(chunk))
            chunk.clear()
    if chunk:
        parts.append(bytes(chunk))
    reference = ElasticsearchStore(url, index="bench-curl")
    reference.ensure_index()
    files = []
    for n, part in enumerate(parts):
        file = work / f"part{n}.ndjson"
        file.write_bytes(part)
        files.append(file)
    start = time.perf_counter()
    for file in files:
        subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-H", "Content-Type: application/x-ndjson", "-XPOST",
             f"{url}/bench-curl/_bulk", "--data-binary", f"@{file}"],
            check=True,
        )  # fmt: skip
    curl_seconds = time.perf_counter() - start
    store = ElasticsearchStore(url, index="bench-ours")
    store.ensure_index()
    start = time.perf_counter()
    for i in range(0, len(events), 20000):
        store.write(events[i : i + 20000])
    ours = time.perf_counter() - start
    assert store.count() == len(events)
    for index in ("bench-curl", "bench-ours"):
        store.client.indices.delete(index=index, ignore_unavailable=True)
        store.client.indices.delete_index_template(name=index)
    store.close()
    reference.close()
    print(f"  NDJSON: {size / 1e6:.1f} MB, {len(events)} events")
    return len(events), ours, curl_seconds


def peak_memory(path: Path) -> float:
    code = (
        "import sys;from pathlib import Path;from bench.ingest import parse_pcap;"
        "n=parse_pcap(Path(sys.argv[1]));"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve from the parent.
        "hwm=[l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1];"
        "print(n, hwm)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    events, rss_kb = out.stdout.split()
    print(f"  events: {events}")
    return int(rss_kb) / 1024


PARTS = ("pcap", "sqlite", "es", "memory")


def _cpu() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and of its waited-for children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def bench_pcap(work: Path, megabytes: int) -> None:
    pcap = work / "bench.pcap"
    packets = write_pcap(pcap, megabytes)
    print(f"pcap -> ECS: {pcap.stat().st_size / 1e6:.0f} MB, {packets} packets")
    start = time.perf_counter()
    events = parse_pcap(pcap)
    ours = time.perf_counter() - start
    print(f"  ours:   {ours:.2f} s, {packets / ours:,.0f} packets/s, {events} events")
    if shutil.which("tshark"):
        theirs = tshark(pcap)
        print(f"  tshark: {theirs:.2f} s, {packets / theirs:,.0f} packets/s")
        print(f"  ratio (tshark time / ours): {theirs / ours:.2f}x  [target >= 1.0]")
    else:
        print("  tshark not installed: no reference (apt-get install tshark)")
    pcap.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pcap-mb", type=int, default=200)
    parser.add_argument("--big-mb", type=int, default=1024)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument(
        "--workers", type=int, default=2, help="parse workers (log -> SQLite; Ingestor's default)"
    )
    parser.add_argument("--es", help="Elasticsearch URL (skip the ES comparison when absent)")
    parser.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="run only this part (repeatable; default: all)",
    )
    args = parser.parse_args()
    parts = set(args.only or PARTS)
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        if "pcap" in parts:
            bench_pcap(work, args.pcap_mb)
        data = log_lines(args.lines)
        if "sqlite" in parts:
            cpu = _cpu()
            stored, seconds = bench_sqlite(data, work, workers=args.workers)
            main_cpu, child_cpu = (b - a for a, b in zip(cpu, _cpu(), strict=True))
            print(
                f"log lines -> SQLite ({args.workers} parse worker(s)): {stored} events in {seconds:.2f} s = {stored / seconds:,.0f} events/s  [target >= 30,000]"
            )
            print(
                f"  CPU: this process {main_cpu:.2f} s, worker processes {child_cpu:.2f} s "
                f"({stored / (main_cpu + child_cpu):,.0f} events per CPU-second)"
            )
        if "es" in parts and args.es:
            count, ours_es, curl_es = bench_es(args.es, data, work)
            print(
                f"Elasticsearch ingest: ours {count / ours_es:,.0f} events/s, curl _bulk {count / curl_es:,.0f} events/s"
            )
            print(f"  ratio (curl time / ours): {curl_es / ours_es:.2f}x  [target >= 0.8]")
        elif "es" in parts:
            print("Elasticsearch: skipped (pass --es URL)")

        if "memory" in parts:
            big = work / "big.pcap"
            big_packets = write_pcap(big, args.big_mb)
            rss = peak_memory(big)
            print(
                f"peak memory parsing {big.stat().st_size / 1e9:.2f} GB ({big_packets} packets): {rss:.0f} MiB RSS"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
