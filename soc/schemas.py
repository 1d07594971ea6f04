"""API schemas: what requests may contain and what responses show (never table-only fields).

``*In`` models validate requests (unknown fields are refused); ``*Public`` models are built from
rows with ``from_attributes`` and name every field a response may carry, so a column added to a
table never leaks by accident (password hashes, token hashes, CSRF tokens).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from soc.workflow import ClosingReason, Status
from tulou.contracts.alert import Level

#: The largest id or version a request may name (fits a signed 64-bit column everywhere).
MAX_ID = 2**62
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertIn(_In):
    """One alert as ``tulou.contracts.alert.Alert.to_dict()`` produces it."""

    rule_id: str = Field(min_length=1, max_length=128)
    rule_hash: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=512)
    level: Level
    event_ids: list[str] = Field(max_length=10_000)
    dedup_key: str = Field(min_length=1, max_length=255)
    first_seen: datetime
    last_seen: datetime
    tags: list[str] = Field(default_factory=list, max_length=64)
    description: str = Field(default="", max_length=20_000)
    fields: dict[str, Any] = Field(default_factory=dict)
    alert_id: str | None = Field(default=None, max_length=64)


class IngestIn(_In):
    alerts: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class Rejected(BaseModel):
    index: int
    error: str


class IngestOut(BaseModel):
    created: int
    grouped: int
    duplicates: int
    rejected: list[Rejected]
    alert_ids: list[Id]


class RuleIn(_In):
    rule_id: str = Field(min_length=1, max_length=128)
    title: str = Field(min_length=1, max_length=512)
    tags: list[str] = Field(default_factory=list, max_length=64)


class RulesIn(_In):
    rules: list[RuleIn] = Field(min_length=1, max_length=10_000)


class AlertPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    rule_id: str
    rule_hash: str
    title: str
    severity: str
    status: str
    closing_reason: str | None
    assignee: str | None = None
    case_id: int | None
    dedup_key: str
    count: int
    first_seen: datetime
    last_seen: datetime
    created_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    host: str | None
    source_ip: str | None
    destination_ip: str | None
    user_name: str | None
    process_name: str | None
    url_domain: str | None
    tags: list[str]
    version: int


class AlertDetail(AlertPublic):
    description: str
    fields: dict[str, Any]


class AlertPage(BaseModel):
    items: list[AlertPublic]
    next_cursor: str | None


class EvidenceOut(BaseModel):
    alert_id: int
    requested: int
    events: list[dict[str, Any]]


class TransitionIn(_In):
    status: Status
    reason: ClosingReason | None = None
    version: int | None = Field(default=None, ge=1, le=MAX_ID)


class AssignIn(_In):
    assignee: str | None = Field(max_length=64)
    version: int | None = Field(default=None, ge=1, le=MAX_ID)


class CommentIn(_In):
    body: str = Field(min_length=1, max_length=20_000)


class CommentPublic(BaseModel):
    id: int
    author: str
    body: str
    created_at: datetime


class BulkItem(_In):
    """An alert and the version the caller read: a colleague's change since fails that item."""

    id: int = Field(ge=1, le=MAX_ID)
    version: int = Field(ge=1, le=MAX_ID)


class BulkIn(_In):
    items: list[BulkItem] = Field(min_length=1, max_length=500)
    status: Status | None = None
    reason: ClosingReason | None = None
    assignee: str | None = Field(default=None, max_length=64)
    unassign: bool = False


class BulkResult(BaseModel):
    id: int
    ok: bool
    version: int | None = None
    error: str | None = None


class BulkOut(BaseModel):
    results: list[BulkResult]


class CaseCreate(_In):
    title: str = Field(min_length=1, max_length=512)
    alert_ids: list[Id] = Field(default_factory=list, max_length=500)
    category: str = Field(max_length=32)
    grade: str = Field(max_length=16)
    system_class: Literal["cii", "government", "other"] = "other"
    description: str = Field(default="", max_length=20_000)


class CasePatch(_In):
    title: str | None = Field(default=None, min_length=1, max_length=512)
    category: str | None = Field(default=None, max_length=32)
    grade: str | None = Field(default=None, max_length=16)
    system_class: Literal["cii", "government", "other"] | None = None
    status: Literal["open", "closed"] | None = None
    closing_reason: ClosingReason | None = None
    reported_at: datetime | None = None
    owner: str | None = Field(default=None, max_length=64)
    version: int | None = Field(default=None, ge=1, le=MAX_ID)


class LinkIn(_In):
    alert_ids: list[Id] = Field(min_length=1, max_length=500)


class ObservableIn(_In):
    kind: Literal["ip", "domain", "url", "hash", "email", "user", "host", "device"]
    value: str = Field(min_length=1, max_length=512)
    note: str = Field(default="", max_length=2000)


class TaskIn(_In):
    title: str = Field(min_length=1, max_length=512)


class NoteIn(_In):
    text: str = Field(min_length=1, max_length=20_000)


class DeadlineOut(BaseModel):
    required: bool
    hours: int | None
    due: datetime | None
    state: str


class CasePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str
    status: str
    category: str
    grade: str
    system_class: str
    detected_at: datetime
    reported_at: datetime | None
    created_at: datetime
    version: int
    owner: str | None = None
    closing_reason: str | None = None
    closed_at: datetime | None = None


class ObservablePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    value: str
    note: str


class EnrichmentOut(BaseModel):
    """What Tulou knows about an observable (soc.enrichment)."""

    kind: str
    value: str
    alerts: int
    events: int | None
    cases: list[int]
    first_seen: datetime | None
    last_seen: datetime | None
    assets: list[str]
    external: dict[str, Any]


class TaskPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    done: bool
    done_at: datetime | None


class TimelinePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    actor: str
    kind: str
    text: str


class CaseDetail(CasePublic):
    deadline: DeadlineOut
    alerts: list[AlertPublic]
    observables: list[ObservablePublic]
    tasks: list[TaskPublic]
    timeline: list[TimelinePublic]


class UserCreate(_In):
    username: str = Field(min_length=1, max_length=64)
    role: Literal["analyst", "officer", "regulator", "admin", "service"]
    password: str | None = Field(default=None, min_length=12, max_length=1024)


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: str
    active: bool
    locale: str | None = None
    e_mail: str | None = None


class UserPatch(_In):
    active: bool | None = None
    locale: Literal["zh_CN", "en"] | None = None
    e_mail: str | None = Field(default=None, max_length=255, pattern=r"^[^@\s]+@[^@\s]+$")


class TokenCreate(_In):
    name: str = Field(min_length=1, max_length=64)


class TokenIssued(BaseModel):
    username: str
    name: str
    token: str


class Me(BaseModel):
    username: str
    role: str
    via: str
    locale: str | None = None
    #: Set when the token in use was minted by someone else (it may read, not act).
    issued_by: str | None = None


class SavedSearchIn(_In):
    scope: Literal["alerts", "events"] = "alerts"
    name: str = Field(min_length=1, max_length=64)
    query: str = Field(max_length=2000)


class SavedSearchPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    scope: str
    name: str
    query: str
    created_at: datetime
