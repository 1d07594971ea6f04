"""Which notifications the SOC sends, and when (the messages; delivery is soc.notify's).

- ``alert.assigned`` -- to the new assignee (and the webhook), for single and bulk
  assignments alike;
- ``alert.critical`` -- a new critical alert was created (not for occurrences grouped into an
  open one), to the duty addresses and the webhook;
- ``alert.sla_breach`` -- an open alert passed its acknowledge or resolve target
  (soc.metrics SLA targets); announced once per alert and target (``notifications_sent``), by
  :func:`sla_breaches`, which the watcher thread of ``tulou soc serve`` runs every minute;
- ``case.assigned`` -- a case got an owner, to that owner.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from soc.metrics import SlaTarget
from soc.models import Alert, Case, NotificationSent, User

log = logging.getLogger(__name__)
BREACH_BATCH = 200


def _email(session: Session, username: str) -> list[str]:
    address = session.scalar(select(User.e_mail).where(User.username == username))
    return [address] if address else []


def assignment_messages(
    session: Session, alerts: Sequence[Alert], assignee: str, by: str
) -> list[dict[str, Any]]:
    to = _email(session, assignee)
    return [
        {
            "event": "alert.assigned",
            "alert_id": a.id,
            "title": a.title,
            "severity": a.severity,
            "assignee": assignee,
            "by": by,
            "recipients": to,
        }
        for a in alerts
    ]


def critical_messages(session: Session, created: Sequence[int]) -> list[dict[str, Any]]:
    if not created:
        return []
    rows = session.execute(
        select(Alert.id, Alert.title, Alert.host, Alert.source_ip).where(
            Alert.id.in_(created), Alert.severity == "critical"
        )
    )
    return [
        {"event": "alert.critical", "alert_id": i, "title": t, "host": h, "source_ip": s}
        for i, t, h, s in rows
    ]


def case_owner_messages(session: Session, case: Case, owner: str, by: str) -> list[dict[str, Any]]:
    return [
        {
            "event": "case.assigned",
            "case_id": case.id,
            "title": case.title,
            "owner": owner,
            "by": by,
            "recipients": _email(session, owner),
        }
    ]


def sla_breaches(
    session: Session, now: datetime, targets: dict[str, SlaTarget]
) -> list[dict[str, Any]]:
    """Messages for open alerts past a target, each (alert, target) once; marks them sent.

    Runs in the caller's write transaction: the marks commit with it, so two workers never
    announce the same breach twice (the second insert of a mark fails and is skipped)."""
    messages: list[dict[str, Any]] = []
    for severity, target in targets.items():
        for kind, minutes, open_condition in (
            ("acknowledge", target.acknowledge_minutes, Alert.acknowledged_at.is_(None)),
            ("resolve", target.resolve_minutes, Alert.resolved_at.is_(None)),
        ):
            cutoff = now - timedelta(minutes=minutes)
            rows = session.execute(
                select(Alert.id, Alert.title)
                .outerjoin(
                    NotificationSent,
                    and_(
                        NotificationSent.kind == f"sla.{kind}",
                        NotificationSent.key == cast(Alert.id, String(128)),
                    ),
                )
                .where(
                    Alert.severity == severity,
                    Alert.status != "resolved",
                    open_condition,
                    Alert.created_at <= cutoff,
                    NotificationSent.key.is_(None),
                )
                .order_by(Alert.id)
                .limit(BREACH_BATCH)
            ).all()
            for alert_id, title in rows:
                try:
                    with session.begin_nested():
                        session.add(NotificationSent(kind=f"sla.{kind}", key=str(alert_id)))
                except IntegrityError:
                    continue
                messages.append(
                    {
                        "event": "alert.sla_breach",
                        "alert_id": alert_id,
                        "title": title,
                        "severity": severity,
                        "target": kind,
                    }
                )
    return messages


class SlaWatcher:
    """A daemon thread: every ``interval`` seconds, announce new SLA breaches."""

    def __init__(self, check: Callable[[], None], interval: float = 60.0) -> None:
        self._check = check
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="soc-sla-watch", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._check()
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive a bad minute
                log.warning("SLA breach check failed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
