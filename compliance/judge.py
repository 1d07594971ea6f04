"""Judging clauses from evidence, the way GB/T 28448 judges a test unit from its test items.

Each check of a clause names a *rule* (registered below under a stable id) that reads the
evidence and returns an :class:`ItemResult`: a status, the reason in words, and the evidence keys
it used. The clause status combines its items:

- every item ``not_applicable``                     -> ``not_applicable``
- else, ignoring the not-applicable ones: all ``met`` -> ``met``; all ``not_met`` -> ``not_met``;
  anything else                                     -> ``partially_met``

then a clause *ceiling* (the best status Tulou's evidence can support) caps the result. Evidence
that is unavailable makes its item ``not_met`` (deny by default): the report never claims a
control on evidence it could not read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from compliance.catalogue import Catalogue, Check, Clause
from compliance.evidence import Evidence, EvidenceBag
from tulou.errors import ConfigError, UsageError

MET, PARTIAL, NOT_MET, NA = "met", "partially_met", "not_met", "not_applicable"
#: GB/T 28448 wording of each status.
STATUS_ZH = {MET: "符合", PARTIAL: "部分符合", NOT_MET: "不符合", NA: "不适用"}
STATUS_EN = {MET: "met", PARTIAL: "partially met", NOT_MET: "not met", NA: "not applicable"}
_RANK = {NOT_MET: 0, PARTIAL: 1, MET: 2}


@dataclass(frozen=True, slots=True)
class ItemResult:
    status: str
    reason: str
    evidence: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "evidence": list(self.evidence)}


@dataclass(frozen=True, slots=True)
class Judgement:
    clause: Clause
    status: str
    reason: str
    items: tuple[ItemResult, ...]

    @property
    def evidence(self) -> tuple[str, ...]:
        keys: list[str] = []
        for item in self.items:
            keys += [k for k in item.evidence if k not in keys]
        return tuple(keys)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.clause.to_dict(),
            "status": self.status,
            "status_zh": STATUS_ZH[self.status],
            "reason": self.reason,
            "items": [item.to_dict() for item in self.items],
            "evidence": list(self.evidence),
        }


type Rule = Callable[[EvidenceBag, Mapping[str, Any]], ItemResult]
RULES: dict[str, Rule] = {}


def rule(name: str) -> Callable[[Rule], Rule]:
    def register(func: Rule) -> Rule:
        if name in RULES:
            raise UsageError(f"judge rule {name!r} is registered twice")
        RULES[name] = func
        return func

    return register


def _param(params: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = params.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(f"judge parameter {name!r} is missing or not {kind}")
    return value


def _missing(ev: Evidence) -> ItemResult:
    return ItemResult(NOT_MET, f"evidence {ev.key} unavailable: {ev.problem}", (ev.key,))


def _number(ev: Evidence, name: str) -> float | None:
    value = ev.fact(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _fmt(value: float) -> str:
    return f"{value:g}"


@rule("share")
def _share(bag: EvidenceBag, p: Mapping[str, Any]) -> ItemResult:
    ev = bag.need(_param(p, "evidence", str))
    if not ev.available:
        return _missing(ev)
    field = _param(p, "field", str)
    what = p.get("what", field)
    share = _number(ev, field)
    met, partial = float(_param(p, "met", (int, float))), float(_param(p, "partial", (int, float)))
    if share is None:
        return ItemResult(NOT_MET, f"no measurement of {what}", (ev.key,))
    of = (
        f" ({ev.fact('numerator')} of {ev.fact('denominator')})"
        if "denominator" in ev.facts
        else ""
    )
    text = f"{share:.1%} {what}{of}; met at >= {met:.0%}, partly at >= {partial:.0%}"
    status = MET if share >= met else PARTIAL if share >= partial and share > 0 else NOT_MET
    return ItemResult(status, text, (ev.key,))


def _threshold(bag: EvidenceBag, p: Mapping[str, Any], *, higher_is_better: bool) -> ItemResult:
    ev = bag.need(_param(p, "evidence", str))
    if not ev.available:
        return _missing(ev)
    field = _param(p, "field", str)
    what = p.get("what", field)
    value = _number(ev, field)
    met, partial = float(_param(p, "met", (int, float))), float(_param(p, "partial", (int, float)))
    if value is None:
        return ItemResult(NOT_MET, f"no measurement of {what}", (ev.key,))
    if higher_is_better:
        status = MET if value >= met else PARTIAL if value >= partial else NOT_MET
        bounds = f"met at >= {_fmt(met)}, partly at >= {_fmt(partial)}"
    else:
        status = MET if value <= met else PARTIAL if value <= partial else NOT_MET
        bounds = f"met at <= {_fmt(met)}, partly at <= {_fmt(partial)}"
    return ItemResult(status, f"{what}: {_fmt(value)}; {bounds}", (ev.key,))


@rule("at_least")
def _at_least(bag: EvidenceBag, p: Mapping[str, Any]) -> ItemResult:
    return _threshold(bag, p, higher_is_better=True)


@rule("at_most")
def _at_most(bag: EvidenceBag, p: Mapping[str, Any]) -> ItemResult:
    return _threshold(bag, p, higher_is_better=False)


@rule("flag")
def _flag(bag: EvidenceBag, p: Mapping[str, Any]) -> ItemResult:
    ev = bag.need(_param(p, "evidence", str))
    if not ev.available:
        return _missing(ev)
    field = _param(p, "field", str)
    what = p.get("what", field)
    value = ev.fact(field)
    if value is True:
        return ItemResult(MET, f"yes: {what}", (ev.key,))
    if value is False:
        return ItemResult(NOT_MET, f"no: it is not the case that {what}", (ev.key,))
    return ItemResult(NOT_MET, f"unknown whether {what}", (ev.key,))


@rule("techniques")
def _techniques(bag: EvidenceBag, p: Mapping[str, Any]) -> ItemResult:
    ev = bag.need("detect.attack")
    if not ev.available:
        return _missing(ev)
    wanted = [str(t).upper() for t in _param(p, "techniques", list)]
    covered = {str(t).upper().split(".")[0] for t in ev.fact("technique_ids") or []}
    hit = [t for t in wanted if t in covered]
    share = len(hit) / len(wanted)
    met, partial = float(_param(p, "met", (int, float))), float(_param(p, "partial", (int, float)))
    status = MET if share >= met else PARTIAL if share >= partial and hit else NOT_MET
    missing = [t for t in wanted if t not in covered]
    text = f"rules cover {len(hit)} of {len(wanted)} techniques ({', '.join(wanted)})"
    if missing:
        text += f"; not covered: {', '.join(missing)}"
    return ItemResult(status, text, (ev.key,))


@rule("sm_only")
def _sm_only(bag: EvidenceBag, p: Mapping[str, Any]) -> ItemResult:
    ev = bag.need("crypto.inventory")
    if not ev.available:
        return _missing(ev)
    usages = {str(u) for u in p.get("usages") or []}
    items = [i for i in ev.fact("items") or [] if not usages or i.get("usage") in usages]
    scope = f"keys used for {', '.join(sorted(usages))}" if usages else "keys and algorithms in use"
    if not items:
        return ItemResult(NOT_MET, f"no {scope} found in the inventory", (ev.key,))
    other = [i for i in items if not i.get("sm_series")]
    if not other:
        return ItemResult(MET, f"all {len(items)} {scope} are SM-series", (ev.key,))
    names = ", ".join(f"{i.get('id')} ({i.get('algorithm')})" for i in other[:5])
    status = PARTIAL if len(other) < len(items) else NOT_MET
    return ItemResult(
        status, f"{len(other)} of {len(items)} {scope} are not SM-series: {names}", (ev.key,)
    )


@rule("audit_chain")
def _audit_chain(bag: EvidenceBag, p: Mapping[str, Any]) -> ItemResult:
    ev = bag.need("soc.audit_chain")
    if not ev.available:
        return _missing(ev)
    checked = int(ev.fact("checked") or 0)
    if ev.fact("ok") is not True:
        problems = ev.fact("problems") or []
        first = "; ".join(str(x.get("message")) for x in problems[:3])
        return ItemResult(NOT_MET, f"the SM3 audit chain does not verify: {first}", (ev.key,))
    if checked == 0:
        return ItemResult(PARTIAL, "the audit chain verifies but holds no records yet", (ev.key,))
    return ItemResult(MET, f"the SM3 audit chain verifies ({checked} records)", (ev.key,))


@rule("retention")
def _retention(bag: EvidenceBag, p: Mapping[str, Any]) -> ItemResult:
    ev = bag.need("detect.retention")
    if not ev.available:
        return _missing(ev)
    required = float(ev.fact("required_days") or 183)
    held = _number(ev, "days_held")
    configured = _number(ev, "configured_days")
    if held is None:
        return ItemResult(NOT_MET, "the event store holds no events", (ev.key,))
    text = f"oldest event kept is {held:.0f} days old; at least {required:.0f} days are required"
    if held >= required:
        return ItemResult(MET, text, (ev.key,))
    if configured is not None and configured >= required:
        # Retention is configured long enough; the store may simply be younger than six months
        # (the report cannot tell that from deleted events), so the item is only partly met.
        note = f"; retention is configured for {configured:.0f} days (store younger?)"
        return ItemResult(PARTIAL, text + note, (ev.key,))
    return ItemResult(NOT_MET, text, (ev.key,))


@rule("backups")
def _backups(bag: EvidenceBag, p: Mapping[str, Any]) -> ItemResult:
    ev = bag.need("backup.sites")
    if not ev.available:
        return _missing(ev)
    min_sites = int(p.get("min_sites", 2))
    max_age = float(p.get("max_age_hours", 48))
    sites = ev.fact("sites") or []

    def recent(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) and value <= max_age

    good = [
        s
        for s in sites
        if s.get("verified") is True
        and recent(s.get("age_hours"))
        and recent(s.get("snapshot_age_hours"))
    ]
    text = (
        f"{len(good)} of {len(sites)} sites hold a snapshot younger than {max_age:g} h and "
        f"passed a verification in that time; {min_sites} required"
    )
    status = MET if len(good) >= min_sites else PARTIAL if good else NOT_MET
    return ItemResult(status, text, (ev.key,))


@rule("drills")
def _drills(bag: EvidenceBag, p: Mapping[str, Any]) -> ItemResult:
    ev = bag.need("backup.drills")
    if not ev.available:
        return _missing(ev)
    drills = ev.fact("drills") or []
    if not drills:
        return ItemResult(NOT_MET, "no disaster-recovery drill in the period", (ev.key,))
    passed = [
        d
        for d in drills
        if d.get("signature_ok")
        and d.get("verified")
        and d.get("outcome") == "passed"
        and d.get("rto_met")
        and d.get("rpo_met")
    ]
    text = (
        f"{len(passed)} of {len(drills)} drills passed every check and met their RTO and RPO "
        "with a valid signature"
    )
    status = MET if len(passed) == len(drills) else PARTIAL if passed else NOT_MET
    return ItemResult(status, text, (ev.key,))


@rule("incident_reporting")
def _incident_reporting(bag: EvidenceBag, p: Mapping[str, Any]) -> ItemResult:
    ev = bag.need("soc.incidents")
    if not ev.available:
        return _missing(ev)
    reportable = int(ev.fact("reportable") or 0)
    on_time = int(ev.fact("on_time") or 0)
    if reportable == 0:
        return ItemResult(
            NA,
            "no incident in the period had to be reported (none graded 较大 or above)",
            (ev.key,),
        )
    text = f"{on_time} of {reportable} reportable incidents were reported within the deadline"
    status = MET if on_time == reportable else PARTIAL if on_time else NOT_MET
    return ItemResult(status, text, (ev.key,))


def combine(statuses: list[str]) -> str:
    """GB/T 28448 combination of test-item results into a test-unit result."""
    applicable = [s for s in statuses if s != NA]
    if not applicable:
        return NA
    if all(s == MET for s in applicable):
        return MET
    if all(s == NOT_MET for s in applicable):
        return NOT_MET
    return PARTIAL


def judge_clause(clause: Clause, bag: EvidenceBag) -> Judgement:
    items = tuple(_run(check, bag) for check in clause.checks)
    status = combine([i.status for i in items])
    reasons = [i.reason for i in items]
    if clause.ceiling and status in _RANK and _RANK[status] > _RANK.get(clause.ceiling.status, 2):
        status = clause.ceiling.status
        reasons.append(f"capped at {STATUS_EN[status]}: {clause.ceiling.reason}")
    elif clause.ceiling:
        reasons.append(f"at best {STATUS_EN[clause.ceiling.status]}: {clause.ceiling.reason}")
    return Judgement(clause, status, "; ".join(reasons), items)


def _run(check: Check, bag: EvidenceBag) -> ItemResult:
    func = RULES.get(check.rule)
    if func is None:
        raise ConfigError(f"unknown judge rule {check.rule!r}")
    return func(bag, check.params)


def judge_all(catalogue: Catalogue, bag: EvidenceBag) -> list[Judgement]:
    return [judge_clause(clause, bag) for clause in catalogue.clauses]
