"""The clause catalogue (``clauses.yaml``): which clauses Tulou evidences, and how they are judged.

:func:`load_catalogue` reads and validates the file once and returns frozen :class:`Clause`
values. Every problem in the file is collected and raised together as one
:class:`tulou.errors.ConfigError` whose message names each clause by index and id.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tulou.errors import ConfigError

DEFAULT_CATALOGUE = Path(__file__).with_name("clauses.yaml")

STATUSES = ("met", "partially_met", "not_met", "not_applicable")
CONFIRMATIONS = ("verified", "secondary", "unconfirmed")
_REQUIRED = (
    "id",
    "standard",
    "number",
    "control",
    "title_zh",
    "title_en",
    "confirmation",
    "confirmation_note",
    "requirement",
    "requirement_zh",
    "evidenced_by",
    "evidenced_by_zh",
    "checks",
)


@dataclass(frozen=True, slots=True)
class Check:
    """One test item of a clause: a judge rule id and its parameters."""

    rule: str
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Ceiling:
    """The best status Tulou's evidence can support for a clause, and why."""

    status: str
    reason: str
    reason_zh: str = ""


@dataclass(frozen=True, slots=True)
class Clause:
    id: str
    standard: str
    number: str
    control: str
    title_zh: str
    title_en: str
    confirmation: str
    confirmation_note: str
    requirement: str
    evidenced_by: str
    checks: tuple[Check, ...]
    ceiling: Ceiling | None = None
    requirement_zh: str = ""
    evidenced_by_zh: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "standard": self.standard,
            "number": self.number,
            "control": self.control,
            "title_zh": self.title_zh,
            "title_en": self.title_en,
            "confirmation": self.confirmation,
            "confirmation_note": self.confirmation_note,
            "requirement": self.requirement,
            "requirement_zh": self.requirement_zh,
            "evidenced_by": self.evidenced_by,
            "evidenced_by_zh": self.evidenced_by_zh,
            "minimums": [
                {"rule": c.rule, **dict(c.params["minimum"])}
                for c in self.checks
                if isinstance(c.params.get("minimum"), Mapping)
            ],
        }


@dataclass(frozen=True, slots=True)
class Standard:
    code: str
    title_zh: str
    title_en: str
    level: str


@dataclass(frozen=True, slots=True)
class Catalogue:
    standards: Mapping[str, Standard]
    clauses: tuple[Clause, ...]

    def clause(self, clause_id: str) -> Clause:
        for clause in self.clauses:
            if clause.id == clause_id:
                return clause
        raise KeyError(clause_id)


def _minimum_problems(params: Mapping[str, Any]) -> list[str]:
    spec = params.get("minimum")
    if spec is None:
        return []
    if not isinstance(spec, Mapping):
        return ["minimum must be a mapping"]
    problems = []
    if not isinstance(spec.get("field"), str):
        problems.append("minimum needs a 'field'")
    n = spec.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        problems.append("minimum needs 'n', a whole number of at least 1")
    if not spec.get("what") or not spec.get("what_zh"):
        problems.append("minimum needs 'what' and 'what_zh'")
    if ("share_of" in spec) != ("share" in spec):
        problems.append("minimum takes 'share_of' and 'share' together")
    share = spec.get("share")
    if share is not None and (not isinstance(share, int | float) or not 0 < share <= 1):
        problems.append("minimum 'share' must be in (0, 1]")
    return problems


def _clause(
    index: int, raw: Any, standards: Collection[str], rules: Collection[str] | None
) -> tuple[Clause | None, list[str]]:
    where = f"clauses[{index}]"
    if not isinstance(raw, dict):
        return None, [f"{where}: must be a mapping"]
    where = f"clauses[{index}] ({raw.get('id', '?')})"
    problems = [f"{where}: missing {name!r}" for name in _REQUIRED if not raw.get(name)]
    unknown = set(raw) - {*_REQUIRED, "ceiling"}
    problems += [f"{where}: unknown field {name!r}" for name in sorted(unknown)]
    if problems:
        return None, problems
    if raw["standard"] not in standards:
        problems.append(f"{where}: unknown standard {raw['standard']!r}")
    if raw["confirmation"] not in CONFIRMATIONS:
        problems.append(f"{where}: confirmation must be one of {', '.join(CONFIRMATIONS)}")
    checks: list[Check] = []
    if not isinstance(raw["checks"], list):
        problems.append(f"{where}: checks must be a list")
    else:
        for n, item in enumerate(raw["checks"]):
            if not isinstance(item, dict) or not isinstance(item.get("rule"), str):
                problems.append(f"{where}: checks[{n}] must be a mapping with a 'rule'")
                continue
            if rules is not None and item["rule"] not in rules:
                problems.append(f"{where}: checks[{n}] names unknown rule {item['rule']!r}")
            params = {k: v for k, v in item.items() if k != "rule"}
            if "what" in params and not params.get("what_zh"):
                problems.append(f"{where}: checks[{n}] has 'what' but no 'what_zh'")
            problems += [f"{where}: checks[{n}]: {p}" for p in _minimum_problems(params)]
            checks.append(Check(item["rule"], params))
    ceiling = None
    if "ceiling" in raw:
        spec = raw["ceiling"]
        if (
            not isinstance(spec, dict)
            or spec.get("status") not in STATUSES
            or not isinstance(spec.get("reason"), str)
            or not isinstance(spec.get("reason_zh"), str)
        ):
            problems.append(
                f"{where}: ceiling needs a status ({', '.join(STATUSES)}), reason and reason_zh"
            )
        else:
            ceiling = Ceiling(spec["status"], spec["reason"], spec["reason_zh"])
    if problems:
        return None, problems
    return (
        Clause(
            id=str(raw["id"]),
            standard=str(raw["standard"]),
            number=str(raw["number"]),
            control=str(raw["control"]),
            title_zh=str(raw["title_zh"]),
            title_en=str(raw["title_en"]),
            confirmation=str(raw["confirmation"]),
            confirmation_note=" ".join(str(raw["confirmation_note"]).split()),
            requirement=str(raw["requirement"]),
            evidenced_by=str(raw["evidenced_by"]),
            checks=tuple(checks),
            ceiling=ceiling,
            requirement_zh=str(raw["requirement_zh"]),
            evidenced_by_zh=str(raw["evidenced_by_zh"]),
        ),
        [],
    )


def parse_catalogue(
    data: Any, *, rules: Collection[str] | None = None, location: str = "catalogue"
) -> Catalogue:
    """Validate parsed YAML; ``rules`` (if given) are the judge rule ids the checks may name."""
    if not isinstance(data, dict) or not isinstance(data.get("clauses"), list):
        raise ConfigError(
            "must be a mapping with 'standards' and a 'clauses' list", location=location
        )
    standards: dict[str, Standard] = {}
    problems: list[str] = []
    for code, spec in (data.get("standards") or {}).items():
        if not isinstance(spec, dict) or not all(
            spec.get(k) for k in ("title_zh", "title_en", "level")
        ):
            problems.append(f"standards.{code}: needs title_zh, title_en and level")
            continue
        standards[str(code)] = Standard(
            str(code), spec["title_zh"], spec["title_en"], spec["level"]
        )
    clauses: list[Clause] = []
    seen: set[str] = set()
    for index, raw in enumerate(data["clauses"]):
        clause, found = _clause(index, raw, standards, rules)
        problems += found
        if clause is None:
            continue
        if clause.id in seen:
            problems.append(f"clauses[{index}]: duplicate id {clause.id!r}")
        seen.add(clause.id)
        clauses.append(clause)
    if problems:
        raise ConfigError("; ".join(problems), location=location)
    return Catalogue(standards, tuple(clauses))


def load_catalogue(path: Path | None = None, *, rules: Collection[str] | None = None) -> Catalogue:
    """Read and validate a catalogue file (default: the shipped ``clauses.yaml``)."""
    path = path or DEFAULT_CATALOGUE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read the clause catalogue: {exc.strerror}", location=str(path)
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"the clause catalogue is not valid YAML: {exc}", location=str(path)
        ) from exc
    return parse_catalogue(data, rules=rules, location=str(path))
