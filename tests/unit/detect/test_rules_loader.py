"""Loading a directory laid out like SigmaHQ (tests/unit/detect/sigmahq_style), broken rules
included: every problem is collected with file:line and the good rules still load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detect.rules.compile import compile_rules
from detect.rules.loader import LoadCache, load_rule_file, load_rules
from detect.rules.pipelines import combined, load_pipelines
from detect.rules.sqlite_backend import TulouSqliteBackend
from tulou.cli import main
from tulou.errors import InputError

STYLE = Path(__file__).resolve().parent / "sigmahq_style"


def test_collects_problems_per_rule_with_locations() -> None:
    ruleset = load_rules([STYLE])
    problems = {Path(p.path).name: p for p in ruleset.problems}
    assert set(problems) == {"broken_yaml.yml", "broken_modifier.yml", "web_cve_probe_env_file.yml"}
    assert problems["broken_yaml.yml"].line == 6
    assert "invalid YAML" in problems["broken_yaml.yml"].reason
    assert problems["broken_modifier.yml"].line == 6  # the detection key
    assert "containz" in problems["broken_modifier.yml"].reason
    assert "duplicate rule id" in problems["web_cve_probe_env_file.yml"].reason
    loaded = {r.rule_id for r in ruleset.rules}
    assert "0a6f4c1e-8b1d-4d55-9b6f-3f1e2d4c5b10" not in loaded  # deprecated/ is skipped
    assert len(loaded) == 7


def test_conversion_problems_are_per_store_and_per_rule() -> None:
    ruleset = load_rules([STYLE])
    pipeline = combined(load_pipelines().values())
    compilation = compile_rules(ruleset, "sqlite", lambda: TulouSqliteBackend(pipeline))
    reasons = {Path(p.path).name: (p.severity, p.reason) for p in compilation.problems}
    assert reasons["aws_root_console_login.yml"][0] == "warning"
    assert "no processing pipeline" in reasons["aws_root_console_login.yml"][1]
    assert "missing_one" in reasons["broken_condition.yml"][1]
    assert len(compilation.rules) == 5


def test_single_file_raises_with_location() -> None:
    with pytest.raises(InputError) as caught:
        load_rule_file(STYLE / "rules/web/webserver_generic/broken_modifier.yml")
    assert caught.value.location and caught.value.location.endswith("broken_modifier.yml:6")


def test_rules_check_prints_per_store_summary(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["rules", "check", str(STYLE), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert exited.value.code == 4
    assert report["rules"] == 7 and report["invalid"] == 3
    assert report["stores"]["sqlite"] == {
        "converted": 5,
        "correlations": 0,
        "unsupported_logsource": 1,
        "failed": 1,
    }
    assert report["stores"]["elasticsearch"]["failed"] == 2  # + the look-behind regex
    assert all(":" in p["location"] for p in report["problems"])


def test_rules_check_our_corpus_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["stores"]["sqlite"]["failed"] == report["stores"]["elasticsearch"]["failed"] == 0


def test_rules_list_and_convert(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "list", str(STYLE / "rules/network"), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed["rules"]) == 2 and all(len(r["hash"]) == 64 for r in listed["rules"])
    for target in ("sqlite", "elasticsearch", "lucene"):
        assert (
            main(
                [
                    "rules",
                    "convert",
                    str(STYLE / "rules/network/dns/net_dns_mining_pool.yml"),
                    "--target",
                    target,
                    "--json",
                ]
            )
            == 0
        )
        out = json.loads(capsys.readouterr().out)
        (item,) = out["rules"].values()
        assert "minexmr" in json.dumps(item["queries"]).lower()


def test_the_load_cache_gives_the_same_rules_and_problems(tmp_path: Path) -> None:

    rules = tmp_path / "rules"
    rules.mkdir()
    good = (Path(__file__).resolve().parents[3] / "rules").glob("*.yml")
    for path in sorted(good)[:5]:
        (rules / path.name).write_text(path.read_text())
    (rules / "broken.yml").write_text("title: x\nid: 1\nlogsource: {}\ndetection: {}\n")
    fresh = load_rules([rules])
    assert fresh.problems  # the broken one
    first = LoadCache(tmp_path / "cache")
    load_rules([rules], first)
    first.save()
    second = LoadCache(tmp_path / "cache")
    cached = load_rules([rules], second)
    assert (second.hits, second.misses) == (6, 0)
    assert [(r.path, r.line, r.text, r.rule_id) for r in cached.rules] == [
        (r.path, r.line, r.text, r.rule_id) for r in fresh.rules
    ]
    assert [(p.line, p.reason, p.severity) for p in cached.problems] == [
        (p.line, p.reason, p.severity) for p in fresh.problems
    ]
    assert all(r.sigma() is not None for r in cached.rules)  # dates as text still load
    (rules / "broken.yml").write_text("title: y\n")
    third = LoadCache(tmp_path / "cache")
    load_rules([rules], third)
    assert (third.hits, third.misses) == (5, 1)
