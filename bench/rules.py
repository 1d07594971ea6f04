"""Rules benchmark: events/s with thousands of Sigma rules over a large event set.

Run: ``python -m bench rules [--events 100000] [--sigmahq ../shared/data/sigmahq] [--es URL]``.

Rules: every rule of the public SigmaHQ corpus (rules, emerging threats, threat hunting; read
in place) plus ours. Events: a generated city-network mix (gateway audit, sshd, web access,
auditd process starts, DNS, flows, Sysmon), so that every family of rules has data to scan.

Three evaluations per store, measured in the same run over the same data:

- **naive** (the Zircolite approach): every rule's query runs over the whole range (timed on
  ``--naive-sample`` random rules and scaled to all: the per-rule cost of a full scan is flat);
- **source**: the log-source pre-filter skips rules whose log source
  (``event.dataset``, ``winlog.channel``, ``network.protocol``, ``observer.product``) has no
  event in the range; on SQLite the remaining rules of one log source share index-seeked,
  batched scans; on Elasticsearch each rule is one search;
- **msearch** (Elasticsearch only): source, with the rules of one log source in shared
  ``_msearch`` requests;
- **tulou**: the same plus the literal pre-filter: on SQLite each row is tested only against
  the rules whose necessary literals occur in it; on Elasticsearch the rules whose literals
  no value of the log source holds are not sent (one terms-aggregation search per log
  source). Its alerts are checked equal to source's (and msearch's).

events/s = events / wall seconds of the evaluation (compilation excluded, reported apart).
The slowest rules (per-rule cost outliers) are printed for the tulou run.
"""

from __future__ import annotations

import argparse
import os
import random  # noqa: TID251 - reproducible benchmark data, nothing secret
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from detect.rules.compile import Compilation, compile_rules
from detect.rules.es_target import EsRuleTarget
from detect.rules.evaluate import run_rules
from detect.rules.loader import load_rules
from detect.rules.pipelines import combined, load_pipelines
from detect.rules.sqlite_target import SqliteRuleTarget
from detect.stores.elasticsearch import ElasticsearchStore
from detect.stores.sqlite import SQLiteStore
from tulou.events import event_id, format_timestamp

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2025, 3, 1, tzinfo=UTC)


def events(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    users = [f"user{i}" for i in range(200)]
    paths = ["/", "/index.html", "/api/v1/permits", "/search", "/admin/users", "/static/app.js"]
    cmds = ["ls -la", "cat /etc/hosts", "systemctl status nginx", "python3 app.py", "id", "ps aux"]
    out: list[dict[str, Any]] = []
    for i in range(count):
        moment = format_timestamp(T0 + timedelta(seconds=i * 86400 / count))
        ip = f"10.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        base: dict[str, Any] = {"@timestamp": moment, "event.id": event_id("bench", i)}
        base["source.ip"] = ip
        kind = i % 7
        if kind == 0:
            base.update(
                {
                    "event.dataset": "gateway.audit",
                    "observer.product": "tulou-gateway",
                    "event.outcome": rng.choice(("success", "success", "failure")),
                    "event.reason": "allowed by rule staff",
                    "url.path": rng.choice(paths),
                    "user.name": rng.choice(users),
                    "http.request.method": "GET",
                }
            )
        elif kind == 1:
            base.update(
                {
                    "event.dataset": "auth",
                    "event.action": "ssh_login",
                    "event.outcome": rng.choice(("success", "failure")),
                    "user.name": rng.choice(users),
                    "process.name": "sshd",
                }
            )
        elif kind == 2:
            base.update(
                {
                    "event.dataset": "web",
                    "url.path": rng.choice(paths),
                    "url.query": f"q={rng.randint(0, 99999)}",
                    "http.response.status_code": rng.choice((200, 200, 404, 302)),
                    "user_agent.original": "Mozilla/5.0",
                    "http.request.method": "GET",
                }
            )
        elif kind == 3:
            base.update(
                {
                    "event.dataset": "auditd",
                    "event.category": ["process"],
                    "event.type": ["start"],
                    "process.command_line": rng.choice(cmds),
                    "process.executable": "/usr/bin/" + rng.choice(cmds).split()[0],
                    "user.name": rng.choice(users),
                }
            )
        elif kind == 4:
            base.update(
                {
                    "event.dataset": "pcap",
                    "network.protocol": "dns",
                    "dns.question.name": f"host{rng.randint(0, 5000)}.city.example",
                }
            )
        elif kind == 5:
            base.update(
                {
                    "event.dataset": "pcap",
                    "event.kind": "event",
                    "event.category": ["network"],
                    "destination.ip": f"10.9.{rng.randint(0, 9)}.{rng.randint(1, 254)}",
                    "destination.port": rng.choice((22, 80, 443, 445, 3389)),
                }
            )
        else:
            base.update(
                {
                    "event.dataset": "evtx",
                    "winlog.channel": "Microsoft-Windows-Sysmon/Operational",
                    "winlog.event_id": 1,
                    "winlog.event_data.Image": "C:\\Windows\\System32\\svchost.exe",
                    "winlog.event_data.CommandLine": "svchost.exe -k netsvcs",
                }
            )
        base["event.original"] = f"bench event {i} {kind}"
        out.append(base)
    return out


def measure(label: str, target: Any, ruleset: Any, count: int, sample: int) -> None:
    began = time.perf_counter()
    compilation = compile_rules(ruleset, target.name, target.backend)
    compiled = time.perf_counter() - began
    rules = len(compilation.rules) + len(compilation.correlations)
    print(f"[{label}] {rules} rules compiled in {compiled:.1f}s")
    start, end = T0, T0 + timedelta(days=1)
    timings = {}
    alerts: dict[str, set[Any]] = {}
    # source: the log-source pre-filter only (SQLite: batched scans without the literal
    # pre-filter; Elasticsearch: one search per rule, no _msearch). msearch (Elasticsearch
    # only): source plus shared _msearch requests, without the literal pre-filter.
    modes = [("naive", False), ("source", True)]
    if target.name == "elasticsearch":
        modes.append(("msearch", True))
    modes.append(("tulou", True))
    for mode, prefilter in modes:
        runner = target
        target.literal_prefilter = mode == "tulou"
        if mode == "source" and target.name == "elasticsearch":
            runner = _OneByOne(target)
        subset = compilation
        if not prefilter and sample and sample < len(compilation.rules):
            # One full query per rule costs about the same for every rule: time a random
            # sample and scale to the whole set (stated in the output).
            picked = random.Random(1).sample(sorted(compilation.rules), sample)
            subset = Compilation(target=compilation.target)
            subset.rules = {rid: compilation.rules[rid] for rid in picked}
        began = time.perf_counter()
        result = run_rules(subset, runner, start, end, prefilter=prefilter)
        seconds = time.perf_counter() - began
        if subset is not compilation:
            scale = len(compilation.rules) / len(subset.rules)
            print(f"[{label}] naive timed on {len(subset.rules)} random rules, x{scale:.1f}")
            seconds *= scale
        timings[mode] = seconds
        if subset is compilation:
            alerts[mode] = {(a.rule_id, a.event_ids, a.first_seen) for a in result.alerts}
        summary = result.summary()
        print(
            f"[{label}] {mode:6}: {seconds:8.1f}s  {count / seconds:10.0f} events/s  "
            f"rules run {summary['rules_run']}, skipped {summary['rules_skipped']}, "
            f"matches {summary['matches']}, alerts {summary['alerts']}, "
            f"rules refused by the store {summary['rule_errors']}, "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        for rule_id, error in list(result.errors.items())[:3]:
            print(f"    refused {rule_id}: {error[:150]}")
        if prefilter:
            slow = sorted(result.stats.values(), key=lambda s: -s.seconds)[:8]
            for stat in slow:
                rule = compilation.rules.get(stat.rule_id)
                title = rule.rule.title if rule else stat.rule_id
                cost = f"{stat.seconds * 1000:8.1f} ms  {stat.matches:6} matches"
                print(f"    outlier {cost}  {title[:70]}")
    for mode in ("naive", "source", "msearch"):
        if mode in timings:
            speed = timings[mode] / timings["tulou"]
            print(f"[{label}] speed-up tulou / {mode}: {speed:.1f}x")
        if mode in alerts:
            same = "identical" if alerts[mode] == alerts["tulou"] else "DIFFERENT"
            print(f"[{label}] alerts of tulou and {mode}: {same}")


class _OneByOne:
    """A rule target without batching (the evaluator then runs one query per rule)."""

    def __init__(self, target: Any) -> None:
        self.name = target.name
        self.backend = target.backend
        self.prepare = target.prepare
        self.matches = target.matches
        self.distinct = target.distinct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--sigmahq", type=Path, default=ROOT.parent / "shared" / "data" / "sigmahq")
    parser.add_argument(
        "--naive-sample", type=int, default=300, help="rules timed for naive (0: all)"
    )
    parser.add_argument("--only-es", action="store_true", help="skip the SQLite measurement")
    parser.add_argument("--es", help="Elasticsearch URL (e.g. a lab node); SQLite only if unset")
    args = parser.parse_args()
    roots = [args.sigmahq / d for d in ("rules", "rules-emerging-threats", "rules-threat-hunting")]
    ruleset = load_rules([*roots, ROOT / "rules"])
    print(f"{len(ruleset.rules)} rules loaded ({len(ruleset.problems)} invalid)")
    pipeline = combined(load_pipelines().values())
    data = events(args.events)
    if not args.only_es:
        store = SQLiteStore(":memory:")
        began = time.perf_counter()
        store.write(data)
        print(f"{len(data)} events written to SQLite in {time.perf_counter() - began:.1f}s")
        target = SqliteRuleTarget(store, pipeline)
        measure("sqlite", target, ruleset, len(data), args.naive_sample)
        store.close()
    if args.es:
        es = ElasticsearchStore(args.es, index=f"bench-rules-{uuid.uuid4().hex[:8]}")
        try:
            began = time.perf_counter()
            for i in range(0, len(data), 5000):
                es.write(data[i : i + 5000])
            print(
                f"{len(data)} events written to Elasticsearch in {time.perf_counter() - began:.1f}s"
            )
            measure(
                "elasticsearch",
                EsRuleTarget.for_store(es, pipeline),
                ruleset,
                len(data),
                args.naive_sample,
            )
        finally:
            es.client.indices.delete(index=es.index, ignore_unavailable=True)
            es.client.indices.delete_index_template(name=es.index)


if __name__ == "__main__":
    main()
