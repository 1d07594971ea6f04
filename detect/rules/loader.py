"""Load Sigma rules from ``rules/`` or any directory laid out like the public SigmaHQ repository.

Bulk loading collects problems instead of stopping (house style 5): a rule that does not parse,
has no id, or duplicates another's id becomes a :class:`RuleProblem` naming ``file:line`` and the
reason, and every other rule still loads. A single file given on its own raises instead
(:func:`load_rule_file`).

Each rule keeps the exact YAML text of its document; :attr:`LoadedRule.content_hash` is the
SHA-256 of that text, so an alert names the exact rule version that fired. pySigma objects are
built fresh on every :meth:`LoadedRule.sigma` call because converting a rule mutates it (the
processing pipeline rewrites its detection in place), and each store converts it separately.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from tulou.errors import InputError

#: libyaml when present: loading the 3,000+ SigmaHQ rules is dominated by YAML parsing.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

type Severity = Literal["error", "warning"]

#: Folders that never hold rules (our pipelines; SigmaHQ's deprecated/unsupported trees).
SKIPPED_DIRS = frozenset({"pipelines", "deprecated", "rules-deprecated", "unsupported", ".git"})

#: pySigma error class name -> the top-level key whose line is reported.
_ERROR_SECTIONS = {
    "SigmaIdentifierError": "id",
    "SigmaTitleError": "title",
    "SigmaLevelError": "level",
    "SigmaStatusError": "status",
    "SigmaLogsourceError": "logsource",
    "SigmaDetectionError": "detection",
    "SigmaConditionError": "detection",
    "SigmaModifierError": "detection",
    "SigmaValueError": "detection",
    "SigmaTypeError": "detection",
    "SigmaRegularExpressionError": "detection",
    "SigmaCorrelationRuleError": "correlation",
    "SigmaCorrelationTypeError": "correlation",
    "SigmaTimespanError": "correlation",
    "SigmaTagError": "tags",
    "SigmaDateError": "date",
    "SigmaRelatedError": "related",
}


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """Why one rule (or one YAML document) could not be used."""

    path: str
    line: int
    reason: str
    rule_id: str | None = None
    severity: Severity = "error"

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "rule_id": self.rule_id,
            "severity": self.severity,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class LoadedRule:
    """One Sigma rule or correlation rule, as written, with where it came from."""

    path: Path
    line: int
    text: str
    data: dict[str, Any] = field(repr=False, compare=False)

    @property
    def rule_id(self) -> str:
        return str(self.data["id"])

    @property
    def name(self) -> str | None:
        name = self.data.get("name")
        return str(name) if name else None

    @property
    def title(self) -> str:
        return str(self.data.get("title", ""))

    @property
    def level(self) -> str:
        return str(self.data.get("level") or "medium")

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(str(t) for t in self.data.get("tags") or ())

    @property
    def is_correlation(self) -> bool:
        return "correlation" in self.data

    @property
    def logsource(self) -> dict[str, str]:
        return {k: str(v) for k, v in (self.data.get("logsource") or {}).items()}

    @property
    def content_hash(self) -> str:
        """SHA-256 of the rule's exact YAML text: names the version that fired."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}"

    def sigma(self) -> SigmaRule | SigmaCorrelationRule:
        """A fresh pySigma object (conversion mutates it, so never share one)."""
        if self.is_correlation:
            return SigmaCorrelationRule.from_dict(self.data)
        return SigmaRule.from_dict(self.data)


@dataclass
class RuleSet:
    """Rules loaded from one or more directories, and the problems met on the way."""

    rules: list[LoadedRule] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)

    def by_id(self) -> dict[str, LoadedRule]:
        return {rule.rule_id: rule for rule in self.rules}

    def resolve(self, reference: str) -> LoadedRule | None:
        """A rule by id or by ``name`` (how correlation rules refer to their base rules)."""
        for rule in self.rules:
            if reference in (rule.rule_id, rule.name):
                return rule
        return None

    @property
    def errors(self) -> list[RuleProblem]:
        return [p for p in self.problems if p.severity == "error"]


def chain_tops(rules: Iterable[LoadedRule]) -> list[LoadedRule]:
    """The rules that alert on their own in a file's set: the correlations no other
    correlation of the set refers to (by id or ``name``), or every rule if none is one."""
    rules = list(rules)
    correlations = [r for r in rules if r.is_correlation]
    referred: set[str] = set()
    for rule in correlations:
        refs = rule.data["correlation"].get("rules") or []
        referred.update(str(ref) for ref in ([refs] if isinstance(refs, str) else refs))
    tops = [r for r in correlations if r.rule_id not in referred and r.name not in referred]
    return tops if correlations else rules


def rule_files(root: Path) -> Iterator[Path]:
    """``*.yml`` / ``*.yaml`` under ``root``, sorted, skipping :data:`SKIPPED_DIRS`."""
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".yml", ".yaml") or not path.is_file():
            continue
        if SKIPPED_DIRS.intersection(path.relative_to(root).parts[:-1]):
            continue
        yield path


def load_rules(roots: Iterable[Path], cache: LoadCache | None = None) -> RuleSet:
    """Every rule under ``roots``; problems are collected, never raised.

    With a ``cache`` (:class:`LoadCache`), a file whose bytes were parsed and validated before
    is taken from it (the caller saves it)."""
    result = RuleSet()
    seen: dict[str, LoadedRule] = {}
    for root in roots:
        if not root.exists():
            result.problems.append(RuleProblem(str(root), 0, "no such file or directory"))
            continue
        for path in rule_files(root):
            items = _documents(path) if cache is None else cache.documents(path)
            for item in items:
                if isinstance(item, RuleProblem):
                    result.problems.append(item)
                    continue
                previous = seen.get(item.rule_id)
                if previous is not None:
                    result.problems.append(
                        RuleProblem(
                            str(item.path),
                            item.line,
                            f"duplicate rule id (first defined at {previous.location})",
                            item.rule_id,
                        )
                    )
                    continue
                seen[item.rule_id] = item
                result.rules.append(item)
    return result


def load_rule_file(path: Path) -> list[LoadedRule]:
    """The rules of one file; raises :class:`InputError` (file:line) on the first problem."""
    rules = []
    for item in _documents(path):
        if isinstance(item, RuleProblem):
            raise InputError(item.reason, location=item.location)
        rules.append(item)
    return rules


def _documents(path: Path, text: str | None = None) -> Iterator[LoadedRule | RuleProblem]:
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            yield RuleProblem(str(path), 0, f"cannot read: {exc}")
            return
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        yield RuleProblem(str(path), line, f"invalid YAML: {getattr(exc, 'problem', exc)}")
        return
    lines = text.splitlines(keepends=True)
    for index, node in enumerate(nodes):
        if node is None:
            continue
        start = node.start_mark.line
        end = nodes[index + 1].start_mark.line if index + 1 < len(nodes) else len(lines)
        chunk = lines[start:end]
        while chunk and chunk[-1].strip() in ("", "---", "..."):
            chunk.pop()  # the next document's separator is not part of this rule
        yield _one(path, start + 1, "".join(chunk).rstrip() + "\n", node)


def _one(path: Path, line: int, text: str, node: yaml.Node) -> LoadedRule | RuleProblem:
    where = str(path)
    try:
        data = _safe_load(text)
    except yaml.YAMLError as exc:  # pragma: no cover - compose_all accepted it already
        return RuleProblem(where, line, f"invalid YAML: {exc}")
    if not isinstance(data, dict):
        return RuleProblem(where, line, "a rule must be a YAML mapping")
    key_lines = {
        key.value: key.start_mark.line + 1
        for key, _ in getattr(node, "value", [])
        if isinstance(key, yaml.ScalarNode)
    }
    rule_id = str(data["id"]) if data.get("id") else None
    if "action" in data:
        return RuleProblem(
            where, key_lines.get("action", line), "Sigma 'action' documents are unsupported"
        )
    if not rule_id:
        return RuleProblem(where, line, "rule has no id")
    loaded = LoadedRule(path=path, line=line, text=text, data=data)
    try:
        loaded.sigma()
    except SigmaError as exc:
        section = _ERROR_SECTIONS.get(type(exc).__name__, "")
        return RuleProblem(where, key_lines.get(section, line), _reason(exc), rule_id)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        # pySigma lets a few plain exceptions out of malformed input; still one rule's problem.
        return RuleProblem(where, line, f"{type(exc).__name__}: {exc}", rule_id)
    return loaded


def _safe_load(text: str) -> Any:
    loader = _Loader(text)  # a *safe* loader, C or Python
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _reason(exc: SigmaError) -> str:
    # pySigma appends its own location ("... in rule <path>"); we report file:line ourselves.
    message = str(exc)
    cut = message.find(" in rule ")
    return f"{type(exc).__name__}: {message[:cut] if cut > 0 else message}"


class LoadCache:
    """Parsed and validated rule files by the SHA-256 of their bytes (JSON in one file).

    Loading the SigmaHQ corpus parses YAML twice per rule (once for line numbers) and builds a
    pySigma rule to validate it: ~10 s of the ~13 s a hunt spent on its rules once they were
    compiled. A file's documents depend only on its bytes and the pySigma version (in the
    file name), so they are kept here: each document's line, text and data (YAML dates as ISO
    text, which pySigma reads the same), or its problem. A missing or unreadable cache is a
    cold one.
    """

    VERSION = 1

    def __init__(self, directory: Path) -> None:
        try:
            from importlib.metadata import version  # noqa: PLC0415

            sigma = version("pysigma")
        except Exception:  # noqa: BLE001 - no version: a cache of its own
            sigma = "unknown"
        self.path = directory / f"load-{self.VERSION}-{sigma}.json"
        self.files: dict[str, list[dict[str, Any]]] = {}
        self.hits = 0
        self.misses = 0
        self._dirty = False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and isinstance(data.get("files"), dict):
            self.files = data["files"]

    def documents(self, path: Path) -> Iterator[LoadedRule | RuleProblem]:
        try:
            raw = path.read_bytes()
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            yield RuleProblem(str(path), 0, f"cannot read: {exc}")
            return
        key = hashlib.sha256(raw).hexdigest()
        cached = self.files.get(key)
        if cached is not None:
            self.hits += 1
            for doc in cached:
                if "problem" in doc:
                    yield RuleProblem(
                        str(path), doc["line"], doc["problem"], doc.get("rule_id"), doc["severity"]
                    )
                else:
                    yield LoadedRule(path, doc["line"], doc["text"], doc["data"])
            return
        self.misses += 1
        entry: list[dict[str, Any]] = []
        items = list(_documents(path, text))
        for item in items:
            if isinstance(item, RuleProblem):
                entry.append(
                    {
                        "line": item.line,
                        "problem": item.reason,
                        "rule_id": item.rule_id,
                        "severity": item.severity,
                    }
                )
            else:
                data = json.loads(json.dumps(item.data, default=str))
                entry.append({"line": item.line, "text": item.text, "data": data})
        self.files[key] = entry
        self._dirty = True
        yield from items

    def save(self) -> None:
        """Write the cache atomically if it changed; errors leave it cold."""
        if not self._dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump({"files": self.files}, out)
            os.replace(temporary, self.path)
        except OSError:
            return
        self._dirty = False
