"""Alert ingest and the analyst actions on alerts: move, assign, comment, bulk.

Ingest is idempotent on the detect alert id (``Alert.alert_id``): a repeat is reported as a
duplicate and changes nothing. A new alert joins the open (not resolved) triage item with the
same deduplication key (count + 1, first/last seen widened, tags merged) or opens a new one.

Every analyst change is conditional on the version the analyst read
(``UPDATE ... WHERE id = ? AND version = ?``) so two analysts never silently overwrite each
other: the loser gets :class:`soc.errors.ConflictError` with the current version. Every
analyst action is appended to the audit chain in the same transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from soc import audit, entities, rules
from soc.auth import Principal, find_user
from soc.errors import ConflictError
from soc.i18n import _
from soc.models import Alert, AlertTag, Comment, Occurrence, RuleInfo, User, utcnow
from soc.workflow import CLOSED, check_transition
from tulou.contracts.alert import LEVELS
from tulou.contracts.alert import Alert as DetectAlert
from tulou.errors import NotFoundError, TulouError, UnavailableError, UsageError
from tulou.events import parse_timestamp

SEVERITY_RANK: dict[str, int] = {level: rank for rank, level in enumerate(LEVELS)}


def normalise_tag(tag: str) -> str:
    """``attack.Credential_Access`` -> ``attack.credential-access`` (Sigma spells it both ways)."""
    return tag.strip().lower().replace("_", "-")


def tag_rows(tags: Iterable[str]) -> set[str]:
    """The tag rows stored for filtering; a sub-technique also files under its technique."""
    rows: set[str] = set()
    for tag in tags:
        norm = normalise_tag(tag)
        rows.add(norm)
        if norm.startswith("attack.t") and "." in norm[len("attack.") :]:
            rows.add(norm.rsplit(".", 1)[0])
    return rows


@dataclass(slots=True)
class IngestResult:
    created: list[int] = field(default_factory=list)
    grouped: list[int] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": len(self.created),
            "grouped": len(self.grouped),
            "duplicates": len(self.duplicates),
            "alert_ids": sorted({*self.created, *self.grouped}),
        }


#: How many of an alert's events are read for its entities when its fields lack them.
ENTITY_EVENTS = 20


def ingest(
    session: Session,
    alerts: Sequence[DetectAlert],
    events: Callable[[Sequence[str]], Sequence[Mapping[str, Any]]] | None = None,
) -> IngestResult:
    """Store detect alerts (already validated) in the caller's transaction.

    ``events`` fetches events by id (the evidence source): an alert whose fields lack an entity
    (soc.entities) takes it from its first events. A store that cannot be reached leaves those
    entities empty; the alert is stored all the same.
    """
    result = IngestResult()
    catalogue_seen: set[str] = set()
    for item in alerts:
        uid = item.alert_id
        if session.get(Occurrence, uid) is not None:
            result.duplicates.append(uid)
            continue
        first, last = parse_timestamp(item.first_seen), parse_timestamp(item.last_seen)
        if last < first:
            raise UsageError(_("alert {uid}: last_seen is before first_seen").format(uid=uid))
        group = session.scalar(
            select(Alert)
            .where(Alert.dedup_key == item.dedup_key, Alert.status != CLOSED)
            .order_by(Alert.id.desc())
            .limit(1)
        )
        if item.rule_id not in catalogue_seen:
            # A rule that fires is deployed: the catalogue (ATT&CK coverage) knows it from then
            # on, with the title and techniques its alert carries, if nobody registered it.
            catalogue_seen.add(item.rule_id)
            if session.get(RuleInfo, item.rule_id) is None:
                session.add(
                    RuleInfo(
                        rule_id=item.rule_id,
                        title=item.title[:512],
                        techniques=rules.attack_tags(list(item.tags)),
                    )
                )
        found = entities.extract(item.fields)
        if events is not None and len(found) < len(entities.SOURCES) and item.event_ids:
            with contextlib.suppress(UnavailableError):
                found = entities.extract(item.fields, events(item.event_ids[:ENTITY_EVENTS]))
        if group is None:
            group = Alert(
                dedup_key=item.dedup_key,
                rule_id=item.rule_id,
                rule_hash=item.rule_hash,
                title=item.title,
                description=item.description,
                severity=item.level,
                severity_rank=SEVERITY_RANK[item.level],
                tags=sorted(set(item.tags)),
                **found,
                fields=dict(item.fields),
                status="new",
                count=1,
                first_seen=first,
                last_seen=last,
                version=1,
            )
            session.add(group)
            session.flush()
            result.created.append(group.id)
            new_tags = tag_rows(item.tags)
        else:
            group.count += 1
            for column, value in found.items():
                if getattr(group, column) is None:
                    setattr(group, column, value)
            group.first_seen = min(group.first_seen, first)
            group.last_seen = max(group.last_seen, last)
            old = tag_rows(group.tags)
            group.tags = sorted(set(group.tags) | set(item.tags))
            new_tags = tag_rows(item.tags) - old
            result.grouped.append(group.id)
        session.add_all(AlertTag(alert_id=group.id, tag=tag) for tag in new_tags)
        session.add(
            Occurrence(
                alert_uid=uid,
                alert_id=group.id,
                event_ids=list(item.event_ids),
                first_seen=first,
                last_seen=last,
            )
        )
        session.flush()
    return result


def get(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFoundError(_("no alert {id}").format(id=alert_id))
    return alert


def event_ids(session: Session, alert_id: int, limit: int) -> list[str]:
    """The event ids of every occurrence of an alert, oldest first, at most ``limit``."""
    ids: list[str] = []
    rows = session.scalars(
        select(Occurrence.event_ids)
        .where(Occurrence.alert_id == alert_id)
        .order_by(Occurrence.first_seen)
    )
    for chunk in rows:
        for event_id in chunk:
            if event_id not in ids:
                ids.append(event_id)
            if len(ids) >= limit:
                return ids
    return ids


def _check_version(alert: Alert, expected_version: int) -> None:
    if alert.version != expected_version:
        raise ConflictError(
            _(
                "alert {id} changed since version {version} (now version {now}): "
                "reload and try again"
            ).format(id=alert.id, version=expected_version, now=alert.version),
            current_version=alert.version,
        )


def _conditional_update(
    session: Session, alert: Alert, expected_version: int, values: dict[str, Any]
) -> None:
    _check_version(alert, expected_version)
    done = session.execute(
        update(Alert)
        .where(Alert.id == alert.id, Alert.version == expected_version)
        .values(**values, version=Alert.version + 1)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(alert)
        raise ConflictError(
            _("alert {id} was changed by someone else just now: reload and try again").format(
                id=alert.id
            ),
            current_version=alert.version,
        )
    session.refresh(alert)


def transition(
    session: Session,
    hash_fn: audit.HashFunction,
    actor: Principal,
    alert_id: int,
    *,
    status: str,
    reason: str | None,
    expected_version: int,
) -> Alert:
    """Move an alert along the workflow (see :mod:`soc.workflow`)."""
    alert = get(session, alert_id)
    # A stale version is reported before the workflow check: the caller's view is out of date.
    _check_version(alert, expected_version)
    check_transition(alert.status, status, reason)
    now = utcnow()
    values: dict[str, Any] = {"status": status, "closing_reason": reason}
    if alert.acknowledged_at is None and status != "new":
        values["acknowledged_at"] = now
    values["resolved_at"] = now if status == CLOSED else None
    before = alert.status
    _conditional_update(session, alert, expected_version, values)
    audit.append(
        session,
        hash_fn,
        actor=actor.username,
        action="alert.transition",
        target=f"alert:{alert_id}",
        detail={"from": before, "to": status, "reason": reason},
    )
    return alert


def assign(
    session: Session,
    hash_fn: audit.HashFunction,
    actor: Principal,
    alert_id: int,
    *,
    assignee: str | None,
    expected_version: int,
) -> Alert:
    """Assign an alert to an analyst (or unassign with ``None``)."""
    alert = get(session, alert_id)
    assignee_id = None
    if assignee is not None:
        user = find_user(session, assignee)
        if user.role not in ("analyst", "admin") or not user.active:
            raise UsageError(_("{name!r} is not an active analyst").format(name=assignee))
        assignee_id = user.id
    _conditional_update(session, alert, expected_version, {"assignee_id": assignee_id})
    audit.append(
        session,
        hash_fn,
        actor=actor.username,
        action="alert.assign",
        target=f"alert:{alert_id}",
        detail={"assignee": assignee},
    )
    return alert


def comment(
    session: Session, hash_fn: audit.HashFunction, actor: Principal, alert_id: int, body: str
) -> Comment:
    get(session, alert_id)
    body = body.strip()
    if not body:
        raise UsageError(_("a comment cannot be empty"))
    row = Comment(alert_id=alert_id, author_id=actor.user_id, body=body)
    session.add(row)
    session.flush()
    audit.append(
        session,
        hash_fn,
        actor=actor.username,
        action="alert.comment",
        target=f"alert:{alert_id}",
        detail={"comment_id": row.id, "length": len(body)},
    )
    return row


def comments(session: Session, alert_id: int) -> list[tuple[Comment, str]]:
    rows = session.execute(
        select(Comment, User.username)
        .join(User, User.id == Comment.author_id)
        .where(Comment.alert_id == alert_id)
        .order_by(Comment.id)
    )
    return [(c, name) for c, name in rows]


def bulk(
    session: Session,
    hash_fn: audit.HashFunction,
    actor: Principal,
    items: Sequence[tuple[int, int | None]],
    *,
    status: str | None = None,
    reason: str | None = None,
    assignee: str | None = None,
    unassign: bool = False,
) -> list[dict[str, Any]]:
    """Apply one action to many alerts; problems are collected per alert, not raised.

    ``items`` are (alert id, expected version or None = the version read now). Each alert is
    done in its own savepoint, so one failure does not undo the others.
    """
    if status is None and assignee is None and not unassign:
        raise UsageError(_("a bulk action needs a status, an assignee or unassign"))
    results: list[dict[str, Any]] = []
    for alert_id, version in items:
        try:
            with session.begin_nested():
                alert = get(session, alert_id)
                current = version if version is not None else alert.version
                if status is not None:
                    alert = transition(
                        session,
                        hash_fn,
                        actor,
                        alert_id,
                        status=status,
                        reason=reason,
                        expected_version=current,
                    )
                    current = alert.version
                if assignee is not None or unassign:
                    alert = assign(
                        session,
                        hash_fn,
                        actor,
                        alert_id,
                        assignee=assignee,
                        expected_version=current,
                    )
                results.append({"id": alert_id, "ok": True, "version": alert.version})
        except TulouError as exc:
            results.append({"id": alert_id, "ok": False, "error": exc.message})
    return results
