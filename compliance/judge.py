"""Judging clauses from evidence, the way GB/T 28448 judges a test unit from its test items.

Each check of a clause names a *rule* (registered below under a stable id) that reads the
evidence and returns an :class:`ItemResult`: a status, the reason in words (in the current
locale: Chinese by default, :mod:`compliance.i18n`), and the evidence keys it used. The clause
status combines its items:

- every item ``not_applicable``                     -> ``not_applicable``
- else, ignoring the not-applicable ones: all ``met`` -> ``met``; all ``not_met`` -> ``not_met``;
  anything else                                     -> ``partially_met``

then a clause *ceiling* (the best status Tulou's evidence can support) caps the result.

Deny by default, three ways:

- evidence that is unavailable makes its item ``not_met``: the report never claims a control on
  evidence it could not read;
- a check's ``minimum`` (clauses.yaml) is the least evidence its judgement needs (e.g. ten
  resolved alerts, 80 % of the period's, before a mean time to resolve means anything); below it
  the item is ``not_met`` with "证据不足 / insufficient evidence", whatever the measurement;
- evidence whose integrity depends on a record chain (``Evidence.vouched_by``: the SOC's facts
  on the SOC audit chain) is *tainted* when that chain does not verify: every clause that uses
  the chain or the tainted evidence is ``not_met``, with the chain's failure as the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from compliance.catalogue import Catalogue, Check, Clause
from compliance.evidence import Evidence, EvidenceBag
from compliance.i18n import _, chinese, pick
from tulou.errors import ConfigError, UsageError

MET, PARTIAL, NOT_MET, NA = "met", "partially_met", "not_met", "not_applicable"
#: GB/T 28448 wording of each status.
STATUS_ZH = {MET: "符合", PARTIAL: "部分符合", NOT_MET: "不符合", NA: "不适用"}
STATUS_EN = {MET: "met", PARTIAL: "partially met", NOT_MET: "not met", NA: "not applicable"}
_RANK = {NOT_MET: 0, PARTIAL: 1, MET: 2}


def status_words(status: str) -> str:
    return STATUS_ZH[status] if chinese() else STATUS_EN[status]


@dataclass(frozen=True, slots=True)
class ItemResult:
    status: str
    reason: str
    evidence: tuple[str, ...]
    insufficient: bool = False  # below the check's stated minimum evidence

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "evidence": list(self.evidence),
            "insufficient": self.insufficient,
        }


@dataclass(frozen=True, slots=True)
class Judgement:
    clause: Clause
    status: str
    reason: str
    items: tuple[ItemResult, ...]
    tainted: bool = False

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
            "status_text": status_words(self.status),
            "reason": self.reason,
            "items": [item.to_dict() for item in self.items],
            "evidence": list(self.evidence),
            "tainted": self.tainted,
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
    return ItemResult(
        NOT_MET,
        _("evidence {key} unavailable: {problem}").format(key=ev.key, problem=ev.problem),
        (ev.key,),
    )


def _number(ev: Evidence, name: str) -> float | None:
    value = ev.fact(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _what(p: Mapping[str, Any], default: str) -> str:
    return pick(p, "what") if p.get("what") else default


def _insufficient(ev: Evidence, p: Mapping[str, Any]) -> ItemResult | None:
    """The item when ``ev`` holds less than the check's ``minimum``, else None."""
    spec = p.get("minimum")
    if not isinstance(spec, Mapping):
        return None
    what = pick(spec, "what")
    count = _number(ev, str(spec["field"])) or 0.0
    needed = int(spec["n"])
    if count < needed:
        reason = _(
            "insufficient evidence: {count} {what} in the period, the judgement needs at least "
            "{needed}"
        ).format(count=_fmt(count), what=what, needed=needed)
        return ItemResult(NOT_MET, reason, (ev.key,), insufficient=True)
    if spec.get("share_of"):
        total = _number(ev, str(spec["share_of"])) or 0.0
        share = float(spec["share"])
        if total and count / total < share:
            reason = _(
                "insufficient evidence: {count} {what} of {total} in the period "
                "({got:.0%}), the judgement needs at least {share:.0%}"
            ).format(
                count=_fmt(count), what=what, total=_fmt(total), got=count / total, share=share
            )
            return ItemResult(NOT_MET, reason, (ev.key,), insufficient=True)
    return None


@rule("share")
def _share(bag: EvidenceBag, p: Mapping[str, Any]) -> ItemResult:
    ev = bag.need(_param(p, "evidence", str))
    if not ev.available:
        return _missing(ev)
    short = _insufficient(ev, p)
    if short:
        return short
    field = _param(p, "field", str)
    what = _what(p, field)
    share = _number(ev, field)
    met, partial = float(_param(p, "met", (int, float))), float(_param(p, "partial", (int, float)))
    if share is None:
        return ItemResult(NOT_MET, _("no measurement of {what}").format(what=what), (ev.key,))
    of = (
        _(" ({numerator} of {denominator})").format(
            numerator=ev.fact("numerator"), denominator=ev.fact("denominator")
        )
        if "denominator" in ev.facts
        else ""
    )
    text = _("{share:.1%} {what}{of}; met at >= {met:.0%}, partly at >= {partial:.0%}").format(
        share=share, what=what, of=of, met=met, partial=partial
    )
    status = MET if share >= met else PARTIAL if share >= partial and share > 0 else NOT_MET
    return ItemResult(status, text, (ev.key,))


def _threshold(bag: EvidenceBag, p: Mapping[str, Any], *, higher_is_better: bool) -> ItemResult:
    ev = bag.need(_param(p, "evidence", str))
    if not ev.available:
        return _missing(ev)
    short = _insufficient(ev, p)
    if short:
        return short
    field = _param(p, "field", str)
    what = _what(p, field)
    value = _number(ev, field)
    met, partial = float(_param(p, "met", (int, float))), float(_param(p, "partial", (int, float)))
    if value is None:
        return ItemResult(NOT_MET, _("no measurement of {what}").format(what=what), (ev.key,))
    if higher_is_better:
        status = MET if value >= met else PARTIAL if value >= partial else NOT_MET
        bounds = _("met at >= {met}, partly at >= {partial}")
    else:
        status = MET if value <= met else PARTIAL if value <= partial else NOT_MET
        bounds = _("met at <= {met}, partly at <= {partial}")
    text = _("{what}: {value}; {bounds}").format(
        what=what, value=_fmt(value), bounds=bounds.format(met=_fmt(met), partial=_fmt(partial))
    )
    return ItemResult(status, text, (ev.key,))


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
    what = _what(p, field)
    value = ev.fact(field)
    if value is True:
        return ItemResult(MET, _("yes: {what}").format(what=what), (ev.key,))
    if value is False:
        return ItemResult(
            NOT_MET, _("no: it is not the case that {what}").format(what=what), (ev.key,)
        )
    return ItemResult(NOT_MET, _("unknown whether {what}").format(what=what), (ev.key,))


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
    text = _("rules cover {hit} of {wanted} techniques ({names})").format(
        hit=len(hit), wanted=len(wanted), names=", ".join(wanted)
    )
    if missing:
        text += _("; not covered: {names}").format(names=", ".join(missing))
    return ItemResult(status, text, (ev.key,))


@rule("sm_only")
def _sm_only(bag: EvidenceBag, p: Mapping[str, Any]) -> ItemResult:
    ev = bag.need("crypto.inventory")
    if not ev.available:
        return _missing(ev)
    usages = {str(u) for u in p.get("usages") or []}
    items = [i for i in ev.fact("items") or [] if not usages or i.get("usage") in usages]
    scope = (
        _("keys used for {usages}").format(usages=", ".join(sorted(usages)))
        if usages
        else _("keys and algorithms in use")
    )
    if not items:
        return ItemResult(
            NOT_MET,
            _("insufficient evidence: no {scope} found in the inventory").format(scope=scope),
            (ev.key,),
            insufficient=True,
        )
    other = [i for i in items if not i.get("sm_series")]
    if not other:
        return ItemResult(
            MET, _("all {n} {scope} are SM-series").format(n=len(items), scope=scope), (ev.key,)
        )
    names = ", ".join(f"{i.get('id')} ({i.get('algorithm')})" for i in other[:5])
    status = PARTIAL if len(other) < len(items) else NOT_MET
    text = _("{bad} of {n} {scope} are not SM-series: {names}").format(
        bad=len(other), n=len(items), scope=scope, names=names
    )
    return ItemResult(status, text, (ev.key,))


def chain_failure(ev: Evidence) -> str:
    """Why the SM3 audit chain does not verify, in words (empty when it verifies)."""
    if not ev.available:
        return _("the SOC audit chain could not be read: {problem}").format(problem=ev.problem)
    if ev.fact("ok") is True:
        return ""
    problems = ev.fact("problems") or []
    first = "; ".join(str(x.get("message")) for x in problems[:3])
    return _("the SM3 audit chain does not verify: {first}").format(first=first)


@rule("audit_chain")
def _audit_chain(bag: EvidenceBag, p: Mapping[str, Any]) -> ItemResult:
    ev = bag.need("soc.audit_chain")
    if not ev.available:
        return _missing(ev)
    checked = int(ev.fact("checked") or 0)
    failure = chain_failure(ev)
    if failure:
        return ItemResult(NOT_MET, failure, (ev.key,))
    if checked == 0:
        return ItemResult(
            NOT_MET,
            _("insufficient evidence: the audit chain holds no records"),
            (ev.key,),
            insufficient=True,
        )
    return ItemResult(
        MET, _("the SM3 audit chain verifies ({n} records)").format(n=checked), (ev.key,)
    )


@rule("retention")
def _retention(bag: EvidenceBag, p: Mapping[str, Any]) -> ItemResult:
    ev = bag.need("detect.retention")
    if not ev.available:
        return _missing(ev)
    required = float(ev.fact("required_days") or 183)
    held = _number(ev, "days_held")
    configured = _number(ev, "configured_days")
    if held is None:
        return ItemResult(
            NOT_MET,
            _("insufficient evidence: the event store holds no events"),
            (ev.key,),
            insufficient=True,
        )
    text = _(
        "oldest event kept is {held:.0f} days old; at least {required:.0f} days are required"
    ).format(held=held, required=required)
    if held >= required:
        return ItemResult(MET, text, (ev.key,))
    if configured is not None and configured >= required:
        # Retention is configured long enough; the store may simply be younger than six months
        # (the report cannot tell that from deleted events), so the item is only partly met.
        note = _("; retention is configured for {days:.0f} days (store younger?)").format(
            days=configured
        )
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
    text = _(
        "{good} of {sites} sites hold a snapshot younger than {hours} h and passed a "
        "verification in that time; {required} required"
    ).format(good=len(good), sites=len(sites), hours=_fmt(max_age), required=min_sites)
    status = MET if len(good) >= min_sites else PARTIAL if good else NOT_MET
    return ItemResult(status, text, (ev.key,))


@rule("drills")
def _drills(bag: EvidenceBag, p: Mapping[str, Any]) -> ItemResult:
    ev = bag.need("backup.drills")
    if not ev.available:
        return _missing(ev)
    drills = ev.fact("drills") or []
    if not drills:
        return ItemResult(
            NOT_MET,
            _("insufficient evidence: no disaster-recovery drill in the period"),
            (ev.key,),
            insufficient=True,
        )
    passed = [
        d
        for d in drills
        if d.get("signature_ok")
        and d.get("verified")
        and d.get("outcome") == "passed"
        and d.get("rto_met")
        and d.get("rpo_met")
    ]
    text = _(
        "{passed} of {n} drills passed every check and met their RTO and RPO with a valid signature"
    ).format(passed=len(passed), n=len(drills))
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
            _("no incident in the period had to be reported (none graded 较大 or above)"),
            (ev.key,),
        )
    text = _("{on_time} of {n} reportable incidents were reported within the deadline").format(
        on_time=on_time, n=reportable
    )
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


def tainted(bag: EvidenceBag) -> dict[str, str]:
    """Evidence key -> why it cannot be trusted (its vouching chain does not verify)."""
    out: dict[str, str] = {}
    for key in bag:
        voucher = bag[key].vouched_by
        if voucher:
            failure = chain_failure(bag.need(voucher))
            if failure:
                out[key] = failure
                out.setdefault(voucher, failure)
    return out


def judge_clause(
    clause: Clause, bag: EvidenceBag, untrusted: Mapping[str, str] | None = None
) -> Judgement:
    items = tuple(_run(check, bag) for check in clause.checks)
    status = combine([i.status for i in items])
    reasons = [i.reason for i in items]
    used = {key for item in items for key in item.evidence}
    bad = sorted(used & set(untrusted or {}))
    if bad:
        status = NOT_MET
        why = (untrusted or {})[bad[0]]
        reasons.insert(
            0,
            _(
                "not met: the clause rests on records that fail their integrity check ({why})"
            ).format(why=why),
        )
    elif clause.ceiling and status in _RANK and _RANK[status] > _RANK.get(clause.ceiling.status, 2):
        status = clause.ceiling.status
        reasons.append(
            _("capped at {status}: {reason}").format(
                status=status_words(status), reason=_ceiling_reason(clause)
            )
        )
    elif clause.ceiling:
        reasons.append(
            _("at best {status}: {reason}").format(
                status=status_words(clause.ceiling.status), reason=_ceiling_reason(clause)
            )
        )
    return Judgement(clause, status, _("; ").join(reasons), items, tainted=bool(bad))


def _ceiling_reason(clause: Clause) -> str:
    ceiling = clause.ceiling
    assert ceiling is not None
    return ceiling.reason_zh if chinese() and ceiling.reason_zh else ceiling.reason


def _run(check: Check, bag: EvidenceBag) -> ItemResult:
    func = RULES.get(check.rule)
    if func is None:
        raise ConfigError(f"unknown judge rule {check.rule!r}")
    return func(bag, check.params)


def judge_all(catalogue: Catalogue, bag: EvidenceBag) -> list[Judgement]:
    untrusted = tainted(bag)
    return [judge_clause(clause, bag, untrusted) for clause in catalogue.clauses]
