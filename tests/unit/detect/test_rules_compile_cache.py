"""The compile cache: a second compilation of the same rules converts nothing and gives the
same result; a changed rule, layout or pipeline is compiled again."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from detect.rules.compile import Compilation, compile_rules
from detect.rules.compile_cache import CompileCache, code_key
from detect.rules.loader import load_rules
from detect.rules.pipelines import combined, default_pipeline_dir, load_pipelines
from detect.rules.sqlite_backend import SCALAR_FIELDS, FieldLayout, TulouSqliteBackend

RULES = Path(__file__).resolve().parents[3] / "rules"


def _compile(rules: Path, cache: CompileCache | None, layout: FieldLayout | None = None) -> Any:
    pipeline = combined(load_pipelines().values())
    ruleset = load_rules([rules])
    result = compile_rules(
        ruleset, "sqlite", lambda: TulouSqliteBackend(pipeline, layout=layout), cache
    )
    if cache is not None:
        cache.save()
    return result


def _same(a: Compilation, b: Compilation) -> None:
    assert a.rules.keys() == b.rules.keys()
    for rule_id, x in a.rules.items():
        y = b.rules[rule_id]
        assert (x.queries, x.fields, x.requires, x.generates, x.literals) == (
            y.queries,
            y.fields,
            y.requires,
            y.generates,
            y.literals,
        ), rule_id
    assert [(p.rule_id, p.reason, p.severity) for p in a.problems] == [
        (p.rule_id, p.reason, p.severity) for p in b.problems
    ]


def test_a_second_compilation_converts_nothing_and_is_the_same(tmp_path: Path) -> None:
    key = code_key("sqlite", default_pipeline_dir())
    fresh = _compile(RULES, None)
    first = CompileCache(tmp_path, key)
    _same(_compile(RULES, first), fresh)
    assert (first.hits, first.misses) == (
        0,
        len(load_rules([RULES]).rules) - len(fresh.correlations),
    )
    second = CompileCache(tmp_path, key)  # read back from its file
    _same(_compile(RULES, second), fresh)
    assert second.hits == first.misses and second.misses == 0


def test_a_changed_rule_is_compiled_again(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules, ignore=shutil.ignore_patterns("pipelines"))
    key = code_key("sqlite", default_pipeline_dir())
    _compile(rules, CompileCache(tmp_path / "cache", key))
    target = next(p for p in sorted(rules.glob("*.yml")) if "correlation" not in p.read_text())
    target.write_text(target.read_text().replace("level: ", "level: high\n# was: ", 1))
    again = CompileCache(tmp_path / "cache", key)
    _same(_compile(rules, again), _compile(rules, None))
    assert again.misses == 1


def test_a_layout_change_on_a_field_a_rule_reads_recompiles_it(tmp_path: Path) -> None:
    key = code_key("sqlite", default_pipeline_dir())
    before = _compile(RULES, CompileCache(tmp_path, key))
    name = sorted({f for r in before.rules.values() for f in r.fields} - SCALAR_FIELDS)[0]
    scalar = FieldLayout(SCALAR_FIELDS | {name})  # the store says it never holds a list now
    cache = CompileCache(tmp_path, key)
    result = _compile(RULES, cache, scalar)
    readers = [r for r in result.rules.values() if name in r.fields]
    assert readers and cache.misses == len(readers)
    _same(result, _compile(RULES, None, scalar))


def test_the_key_names_the_pipelines(tmp_path: Path) -> None:
    other = tmp_path / "pipelines"
    shutil.copytree(default_pipeline_dir(), other)
    assert code_key("sqlite", other) == code_key("sqlite", default_pipeline_dir())
    first = next(iter(sorted(other.glob("*.yml"))))
    first.write_text(first.read_text() + "\n# changed\n")
    assert code_key("sqlite", other) != code_key("sqlite", default_pipeline_dir())
    assert code_key("elasticsearch") != code_key("sqlite")


def test_an_unreadable_cache_file_is_a_cold_cache(tmp_path: Path) -> None:
    key = code_key("sqlite", default_pipeline_dir())
    (tmp_path / f"{key}.json").write_text("{not json")
    cache = CompileCache(tmp_path, key)
    _same(_compile(RULES, cache), _compile(RULES, None))
    assert cache.hits == 0
