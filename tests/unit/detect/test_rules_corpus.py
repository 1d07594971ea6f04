"""Our rule corpus (rules/*.yml) as data: the properties every rule must have."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from pathlib import Path

import pytest

from detect.rules.compile import compile_rules
from detect.rules.es_backend import EsDslBackend
from detect.rules.loader import RuleSet, chain_tops, load_rules
from detect.rules.pipelines import combined, load_pipelines
from detect.rules.sqlite_backend import TulouSqliteBackend
from tests.unit.detect.samples import load_samples

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "rules"
SAMPLES = Path(__file__).resolve().parent / "rule_samples"
ATTACK = re.compile(r"^attack\.(t\d{4}(\.\d{3})?|[a-z][a-z-]+)$")
LEVELS = {"informational", "low", "medium", "high", "critical"}


@pytest.fixture(scope="module")
def corpus() -> RuleSet:
    return load_rules([RULES])


def _mains(corpus: RuleSet) -> dict[Path, list]:  # type: ignore[type-arg]
    by_file: dict[Path, list] = {}  # type: ignore[type-arg]
    for rule in corpus.rules:
        by_file.setdefault(rule.path, []).append(rule)
    return by_file


def test_loads_without_problems(corpus: RuleSet) -> None:
    assert corpus.problems == []


def test_at_least_forty_rules_with_correlations_of_every_type(corpus: RuleSet) -> None:
    files = _mains(corpus)
    assert len(files) >= 40
    kinds = Counter(r.data["correlation"]["type"] for r in corpus.rules if r.is_correlation)
    assert set(kinds) == {"event_count", "value_count", "temporal_ordered"} | (
        {"temporal"} if "temporal" in kinds else set()
    )


def test_one_rule_per_file_named_after_its_slug(corpus: RuleSet) -> None:
    for path, rules in _mains(corpus).items():
        mains = chain_tops(rules)
        assert len(mains) == 1, f"{path}: one alerting rule per file"
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", path.stem), path
        if mains[0].is_correlation:
            assert mains[0].name == path.stem.replace("-", "_")
            correlations = [r for r in rules if r.is_correlation]
            assert not any(c.data["correlation"].get("generate", False) for c in correlations)
            # Every other rule of the file is referred to by one of its correlations (chains).
            referred = {ref for c in correlations for ref in c.data["correlation"]["rules"]}
            assert {r.name for r in rules if r is not mains[0]} == referred


def test_unique_uuids(corpus: RuleSet) -> None:
    ids = [r.rule_id for r in corpus.rules]
    assert len(ids) == len(set(ids))
    for rule_id in ids:
        assert str(uuid.UUID(rule_id)) == rule_id


def test_attack_tags_level_title_description(corpus: RuleSet) -> None:
    for rule in corpus.rules:
        assert rule.title and rule.data.get("description"), rule.location
        assert rule.level in LEVELS, rule.location
        techniques = [t for t in rule.tags if re.match(r"attack\.t\d{4}", t)]
        assert techniques, f"{rule.location}: needs an ATT&CK technique tag"
        for tag in rule.tags:
            assert ATTACK.match(tag), f"{rule.location}: {tag}"


def test_every_rule_has_positive_and_negative_samples(corpus: RuleSet) -> None:
    for path in _mains(corpus):
        samples = load_samples(SAMPLES / f"{path.stem}.yaml")
        assert samples.slug == path.stem
        assert samples.positive and samples.negative
    extra = {p.stem for p in SAMPLES.glob("*.yaml")} - {p.stem for p in RULES.glob("*.yml")}
    assert not extra, f"samples without a rule: {extra}"


def test_every_rule_compiles_for_both_stores(corpus: RuleSet) -> None:
    pipeline = combined(load_pipelines().values())
    for name, backend in (
        ("sqlite", lambda: TulouSqliteBackend(pipeline)),
        ("elasticsearch", lambda: EsDslBackend(pipeline)),
    ):
        compilation = compile_rules(corpus, name, backend)
        assert compilation.problems == [], [p.to_dict() for p in compilation.problems]
        assert len(compilation.rules) + len(compilation.correlations) == len(corpus.rules)


def test_content_hash_names_the_exact_text(corpus: RuleSet) -> None:
    rule = corpus.rules[0]
    assert len(rule.content_hash) == 64
    assert (
        rule.content_hash
        != type(rule)(rule.path, rule.line, rule.text + " ", rule.data).content_hash
    )
