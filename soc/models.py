"""The SOC tables (SQLAlchemy 2 declarative); the Alembic migrations in soc/migrations create them.

Vocabulary (docs/soc.md): an *occurrence* is one alert as detect sent it (its ``alert_uid`` is
``Alert.alert_id``, which makes ingest idempotent); an *alert* is the triage item that groups the
occurrences sharing a deduplication key while it is open (count, first and last seen).

Times are stored as naive UTC and read back as aware UTC (:class:`UtcDateTime`), so SQLite and
PostgreSQL behave alike. ``version`` columns implement optimistic concurrency: every analyst
change is ``UPDATE ... SET version = version + 1 WHERE id = ? AND version = ?``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; stored naive UTC everywhere."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[str]: JSON,
        datetime: UtcDateTime,
    }


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    # None for service accounts: they authenticate with API tokens only.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The language the UI and messages use for this user (None: the browser's, else Chinese).
    locale: Mapped[str | None] = mapped_column(String(8))
    #: Wrong passwords since the last good login; the account locks at soc.login.MAX_FAILURES.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column()
    e_mail: Mapped[str | None] = mapped_column(String(255))


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    # SHA-256 of the token: the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Who minted it, when someone else than its user did (an admin): such a token may read but
    #: never change anything in its user's name (soc.deps), and its user sees it on /me.
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class WebSession(Base):
    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_last_seen", "last_seen", "id"),
        Index("ix_alerts_first_seen", "first_seen", "id"),
        Index("ix_alerts_status_last_seen", "status", "last_seen", "id"),
        Index("ix_alerts_severity_last_seen", "severity_rank", "last_seen", "id"),
        Index("ix_alerts_rule_last_seen", "rule_id", "last_seen", "id"),
        Index("ix_alerts_assignee_last_seen", "assignee_id", "last_seen", "id"),
        Index("ix_alerts_host_last_seen", "host", "last_seen", "id"),
        Index("ix_alerts_source_ip_last_seen", "source_ip", "last_seen", "id"),
        Index("ix_alerts_destination_ip_last_seen", "destination_ip", "last_seen", "id"),
        Index("ix_alerts_user_name_last_seen", "user_name", "last_seen", "id"),
        Index("ix_alerts_process_name_last_seen", "process_name", "last_seen", "id"),
        Index("ix_alerts_url_domain_last_seen", "url_domain", "last_seen", "id"),
        Index("ix_alerts_dedup_open", "dedup_key", "status"),
        Index("ix_alerts_created_at", "created_at"),
        Index("ix_alerts_resolved_rule", "rule_id", "closing_reason"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(255))
    rule_id: Mapped[str] = mapped_column(String(128))
    rule_hash: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(512))
    description: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(16))
    severity_rank: Mapped[int] = mapped_column(SmallInteger)
    tags: Mapped[list[str]] = mapped_column(default=list)
    host: Mapped[str | None] = mapped_column(String(255))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    destination_ip: Mapped[str | None] = mapped_column(String(64))
    user_name: Mapped[str | None] = mapped_column(String(255))
    process_name: Mapped[str | None] = mapped_column(String(255))
    url_domain: Mapped[str | None] = mapped_column(String(255))
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="new")
    closing_reason: Mapped[str | None] = mapped_column(String(32))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    version: Mapped[int] = mapped_column(Integer, default=1)


class AlertTag(Base):
    """ATT&CK tags of an alert, one row each, so tactic/technique filters use an index."""

    __tablename__ = "alert_tags"
    __table_args__ = (Index("ix_alert_tags_tag", "tag", "alert_id"),)

    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(128), primary_key=True)


class Occurrence(Base):
    __tablename__ = "occurrences"

    alert_uid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    event_ids: Mapped[list[str]] = mapped_column(default=list)
    first_seen: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Comment(Base):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(512))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    category: Mapped[str] = mapped_column(String(32))
    grade: Mapped[str] = mapped_column(String(16))
    system_class: Mapped[str] = mapped_column(String(16))
    detected_at: Mapped[datetime] = mapped_column()
    reported_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closing_reason: Mapped[str | None] = mapped_column(String(32))
    closed_at: Mapped[datetime | None] = mapped_column()


class Observable(Base):
    __tablename__ = "observables"
    __table_args__ = (
        UniqueConstraint("case_id", "kind", "value"),
        Index("ix_observables_kind_value", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(512))
    note: Mapped[str] = mapped_column(Text, default="")


class CaseTask(Base):
    __tablename__ = "case_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    title: Mapped[str] = mapped_column(String(512))
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column()


class TimelineEntry(Base):
    __tablename__ = "timeline"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)


class AuditRecord(Base):
    """One link of the tamper-evident chain. Stored as text so the hashed bytes never drift."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128))
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """A single row (id 1) locked while appending, so concurrent writers append in order."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class RuleInfo(Base):
    """The rule catalogue (for the ATT&CK coverage matrix): which techniques each rule covers."""

    __tablename__ = "rules"

    rule_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    title: Mapped[str] = mapped_column(String(512))
    techniques: Mapped[list[str]] = mapped_column(default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MetricSla(Base):
    """The SLA targets the roll-up triggers count late acknowledgements and resolutions with."""

    __tablename__ = "metric_sla"

    severity: Mapped[str] = mapped_column(String(16), primary_key=True)
    acknowledge_seconds: Mapped[int] = mapped_column(Integer)
    resolve_seconds: Mapped[int] = mapped_column(Integer)


class MetricRollupSeverity(Base):
    """Per (hour of ``created_at``, severity): kept by triggers (soc/rollup_schema.py)."""

    __tablename__ = "metric_rollup_severity"

    hour: Mapped[datetime] = mapped_column(primary_key=True)
    severity: Mapped[str] = mapped_column(String(16), primary_key=True)
    alerts: Mapped[int] = mapped_column(Integer)
    resolved: Mapped[int] = mapped_column(Integer)
    acknowledged: Mapped[int] = mapped_column(Integer)
    ack_ms: Mapped[int] = mapped_column(BigInteger)
    ack_late: Mapped[int] = mapped_column(Integer)
    with_resolved_at: Mapped[int] = mapped_column(Integer)
    resolve_ms: Mapped[int] = mapped_column(BigInteger)
    resolve_late: Mapped[int] = mapped_column(Integer)


class MetricRollupRule(Base):
    """Per (day of ``created_at``, rule id): kept by triggers (soc/rollup_schema.py)."""

    __tablename__ = "metric_rollup_rule"

    day: Mapped[datetime] = mapped_column(primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    alerts: Mapped[int] = mapped_column(Integer)
    occurrences: Mapped[int] = mapped_column(BigInteger)
    resolved: Mapped[int] = mapped_column(Integer)
    false_positives: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(512), server_default="")


class MetricRollupTechnique(Base):
    """Per (day of the alert's ``created_at``, ATT&CK technique tag): alerts carrying it."""

    __tablename__ = "metric_rollup_technique"

    day: Mapped[datetime] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(128), primary_key=True)
    alerts: Mapped[int] = mapped_column(Integer)


class DataVersion(Base):
    """One row (id 1): bumped by triggers on every change the cached queue responses show."""

    __tablename__ = "soc_data_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)


class SavedSearch(Base):
    """A query a user saved (``scope``: ``alerts`` or ``events``), private to that user."""

    __tablename__ = "saved_searches"
    __table_args__ = (UniqueConstraint("user_id", "scope", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    query: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationSent(Base):
    """One notification per (kind, key) -- an SLA breach is announced once, not every minute."""

    __tablename__ = "notifications_sent"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
