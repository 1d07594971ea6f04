"""Parser coverage on real logs: records read, stored and dead-lettered per format and corpus.

``python -m bench parser_coverage [--shared DIR] [--fail2ban DIR] [--sample N]``

Corpora, read where they are installed (never copied into the repository):

- ``<shared>/data/logs`` (SOURCE.md there): Apache access (elastic/examples, Apache-2.0), a
  real Ubuntu auth.log under brute force (elastic/examples, Apache-2.0), auditd logs of
  RHEL 6/7, Ubuntu, auparse and go-libaudit test suites (auditd-parser, MIT/Apache-2.0);
- Debian's ``fail2ban`` package (GPL-2.0+): its test logs are real lines users reported, with
  ``#`` comment lines between them (skipped here). Found at the installed path, else the .deb
  is fetched with ``apt-get download`` and unpacked (``dpkg -x``) under ``var/corpora``.

Each file is ingested with its format into a fresh SQLite store through the real Ingestor,
so "stored" is what the store holds; "auth events" counts events with an ``event.category``
(the mapped share). ``--sample N`` prints N events per corpus to check ECS fields by hand.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import tempfile
from pathlib import Path

from detect.deadletter import DeadLetterFile
from detect.ingest import Ingestor
from detect.model import Source
from detect.parsers import default_registry
from detect.spool import BufferedWriter, Spool
from detect.stores import Query
from detect.stores.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
INSTALLED_F2B = Path("/usr/lib/python3/dist-packages/fail2ban/tests/files/logs")
#: fail2ban test files per parser (the formats Tulou reads).
F2B = {
    "auth": ["sshd", "pam-generic", "dropbear", "su", "vsftpd", "zzz-sshd-obsolete-multiline"],
    "syslog": ["bsd/syslog-plain.txt", "bsd/syslog-v.txt", "xinetd-fail", "postfix"],
    "web.error": [
        *("apache-auth", "apache-noscript", "apache-overflows", "apache-modsecurity"),
        *("apache-shellshock", "apache-nohome", "apache-pass", "nginx-http-auth"),
        "nginx-limit-req",
    ],
    "web": ["apache-badbots", "apache-fakegooglebot", "nginx-botsearch"],
}


def fail2ban_logs(explicit: Path | None) -> Path | None:
    unpacked = ROOT / "var/corpora/fail2ban" / INSTALLED_F2B.relative_to("/")
    for candidate in (explicit, INSTALLED_F2B, unpacked):
        if candidate is not None and candidate.is_dir():
            return candidate
    target = ROOT / "var/corpora/fail2ban"
    target.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["apt-get", "download", "fail2ban"], cwd=target, check=True,
                       capture_output=True)  # fmt: skip
        deb = next(target.glob("fail2ban_*.deb"))
        subprocess.run(["dpkg", "-x", str(deb), str(target)], check=True)
    except (OSError, subprocess.CalledProcessError, StopIteration) as exc:
        print(f"  fail2ban corpus unavailable ({exc}); skipped")
        return None
    found = target / INSTALLED_F2B.relative_to("/")
    return found if found.is_dir() else None


def measure(fmt: str, files: list[Path], sample: int, work: Path) -> dict[str, object]:
    store = SQLiteStore(work / f"{fmt}.db")
    dead = DeadLetterFile(work / f"{fmt}.dead.ndjson")
    writer = BufferedWriter(store, Spool(work / f"{fmt}.spool"))
    ingestor = Ingestor(writer, dead, parse_worker=False)
    parser_of = default_registry()
    for path in files:
        data = b"".join(
            line
            for line in path.read_bytes().splitlines(keepends=True)
            if not line.startswith(b"#")
        )
        source = Source(name=str(path), identity=f"bench:{path}")
        ingestor.ingest_stream(io.BytesIO(data), source, parser_of.get(fmt))
    summary = ingestor.finish()
    mapped = None
    if fmt == "auth" and summary.stored:
        rows = store.query('SELECT count(*) AS n FROM events WHERE "event.category" IS NOT NULL')
        mapped = rows[0]["n"]
    events = store.search(Query({}, None, None, sample)) if sample else []
    dead.close()
    reasons: dict[str, int] = {}
    if dead.path.exists():
        for line in dead.path.read_text().splitlines():
            reason = json.loads(line)["reason"].split(":")[0][:60]
            reasons[reason] = reasons.get(reason, 0) + 1
    store.close()
    return {"read": summary.read, "stored": summary.stored, "dead": summary.dead_lettered,
            "mapped": mapped, "reasons": reasons, "sample": events}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--fail2ban", type=Path)
    parser.add_argument("--sample", type=int, default=0)
    args = parser.parse_args()
    logs = args.shared / "data" / "logs"
    corpora: list[tuple[str, str, list[Path]]] = [
        ("shared: Apache access", "web", [logs / "apache" / "apache_logs"]),
        ("shared: Ubuntu auth.log", "auth", [logs / "auth" / "auth.log"]),
        ("shared: auditd (71 files)", "auditd", sorted((logs / "auditd").glob("*.log"))),
    ]
    f2b = fail2ban_logs(args.fail2ban)
    if f2b is not None:
        for fmt, names in F2B.items():
            files = [f2b / n for n in names if (f2b / n).is_file()]
            corpora.append((f"fail2ban: {', '.join(names)[:40]}…", fmt, files))
    print(f"{'corpus':<48} {'format':<10} {'read':>7} {'stored':>7} {'dead':>5} {'share':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for index, (name, fmt, files) in enumerate(corpora):
            work = Path(tmp) / str(index)
            work.mkdir()
            result = measure(fmt, files, args.sample, work)
            read, stored = int(result["read"]), int(result["stored"])  # type: ignore[call-overload]
            share = f"{100 * stored / read:.1f}%" if read else "-"
            print(f"{name:<48} {fmt:<10} {read:>7} {stored:>7} {result['dead']:>5} {share:>7}")
            if result["mapped"] is not None:
                print(f"{'':<48} auth events (event.category set): {result['mapped']}")
            for reason, count in sorted(result["reasons"].items(), key=lambda kv: -kv[1])[:4]:  # type: ignore[union-attr]
                print(f"{'':<50}dead: {count} x {reason}")
            for event in result["sample"]:  # type: ignore[union-attr]
                keys = {k: v for k, v in event.items() if k not in ("event.original", "event.id")}
                print("    sample:", json.dumps(keys, ensure_ascii=False)[:400])


if __name__ == "__main__":
    main()
