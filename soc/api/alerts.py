"""``/api/v1/alerts``: ingest (services), the triage queue, detail, evidence and analyst actions.

Changes need the version the caller read: the ``If-Match`` header (the ``ETag`` of the alert,
``"<version>"``; a stale one gives 412) or a ``version`` body field (a stale one gives 409).
Neither gives 428.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Header, Query, Request, Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from soc import auth, data_version, evidence, query, query_sql, queue, triage
from soc.deps import AsAnalyst, AsService, ReadSession, Runtime, RuntimeDep, WriteSession
from soc.errors import ConflictError, PreconditionFailedError, PreconditionRequiredError
from soc.hot_cache import Entry, HotCache, Key
from soc.i18n import _
from soc.models import Alert, DataVersion, User, utcnow
from soc.notifications import assignment_messages, critical_messages
from soc.schemas import (
    AlertDetail,
    AlertIn,
    AlertPage,
    AlertPublic,
    AssignIn,
    BulkIn,
    BulkOut,
    CommentIn,
    CommentPublic,
    EvidenceOut,
    IdPath,
    IngestIn,
    IngestOut,
    TransitionIn,
)
from soc.workflow import Status
from tulou.contracts.alert import Alert as DetectAlert
from tulou.contracts.alert import Level
from tulou.errors import NotFoundError, UsageError
from tulou.events import format_timestamp

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

IfMatch = Annotated[str | None, Header(description='The alert\'s ETag, e.g. "3"')]


def expected_version(if_match: str | None, body_version: int | None) -> tuple[int, bool]:
    """(version, came from If-Match)."""
    if if_match is not None:
        text = if_match.strip().removeprefix("W/").strip('"')
        if not text.isdigit():
            raise UsageError(_('If-Match must be an ETag like "3"'))
        return int(text), True
    if body_version is not None:
        return body_version, False
    raise PreconditionRequiredError(_("send If-Match (the alert's ETag) or a version field"))


def run_versioned(from_header: bool, action: Any) -> Any:
    try:
        return action()
    except ConflictError as exc:
        if from_header and not isinstance(exc, PreconditionFailedError):
            raise PreconditionFailedError(exc.message, current_version=exc.current_version) from exc
        raise


def public(
    session: Session, alerts: list[Alert], model: type[AlertPublic] = AlertPublic
) -> list[Any]:
    ids = {a.assignee_id for a in alerts if a.assignee_id is not None}
    names = (
        dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())
        if ids
        else {}
    )
    out = []
    for alert in alerts:
        item = model.model_validate(alert)
        item.assignee = names.get(alert.assignee_id) if alert.assignee_id else None
        out.append(item)
    return out


def _columns(model: type[AlertPublic]) -> tuple[Any, ...]:
    names = [n for n in model.model_fields if n != "assignee"]
    extra = [c for c in ("assignee_id", "severity_rank") if c not in names]
    return tuple(getattr(Alert, n) for n in [*names, *extra])


#: Exactly the columns a response shows (plus the assignee's id and the sort key's rank).
PUBLIC_COLUMNS = _columns(AlertPublic)
DETAIL_COLUMNS = _columns(AlertDetail)
_PAGE = TypeAdapter(AlertPage)
_DETAIL = TypeAdapter(AlertDetail)


def _public_dicts(
    session: Session, rows: list[Row[Any]], model: type[AlertPublic]
) -> list[dict[str, Any]]:
    """Column rows -> the dicts ``model`` validates (the assignee id becomes the user name)."""
    ids = {r.assignee_id for r in rows if r.assignee_id is not None}
    names = (
        dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())
        if ids
        else {}
    )
    fields = [n for n in model.model_fields if n != "assignee"]
    out = []
    for row in rows:
        mapping = row._mapping
        item = {n: mapping[n] for n in fields}
        item["assignee"] = names.get(row.assignee_id) if row.assignee_id is not None else None
        out.append(item)
    return out


def _json(adapter: TypeAdapter[Any], data: Any, headers: dict[str, str] | None = None) -> Response:
    """Validate once and encode once (FastAPI would re-validate a returned model)."""
    body = adapter.dump_json(adapter.validate_python(data))
    return Response(body, media_type="application/json", headers=headers)


def _cache_key(request: Request) -> Key:
    return (request.url.path, request.scope["query_string"])


def _store(cache: HotCache, key: Key, version: int, response: Response) -> Response:
    headers = {"content-type": "application/json"}
    etag = response.headers.get("etag")
    if etag is not None:
        headers["etag"] = etag
    cache.put(key, version, bytes(response.body), headers, auth.ANALYSTS)  # = AsAnalyst's set
    return response


_VERSION = select(DataVersion.version).where(DataVersion.id == 1)


def _current_version(rt: Runtime) -> int:
    with rt.db.engine.connect() as connection:
        version = connection.execute(_VERSION).scalar()
        connection.rollback()
    return int(version or 0)


def _single_flight(rt: Runtime, key: Key, produce: Callable[[], Response]) -> Response:
    """``produce()`` once per key among concurrent misses (soc/hot_cache.py "Single flight")."""
    cache = rt.hot_cache
    if not cache.enabled:
        return produce()
    got = cache.fill(key, lambda: _current_version(rt), produce)
    if isinstance(got, Entry):
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in got.headers}
        return Response(got.body, headers=headers)
    return got


def _list_json(
    rt: Runtime,
    key: Key,
    flt: queue.QueueFilter,
    assignee: str | None,
    *,
    cacheable: bool = True,
    **kw: Any,
) -> Response:
    cache = rt.hot_cache
    cacheable = cacheable and cache.enabled
    with rt.db.read() as session:
        # Read before the data: the body is never older than the version it is tagged with.
        version = data_version.current(session) if cacheable else 0
        if assignee is not None:
            uid = session.scalar(select(User.id).where(User.username == assignee))
            flt = dataclasses.replace(flt, assignee_id=uid or -1)
        rows, next_cursor = queue.page(session, flt, columns=PUBLIC_COLUMNS, **kw)
        items = _public_dicts(session, rows, AlertPublic)
    response = _json(_PAGE, {"items": items, "next_cursor": next_cursor})
    return _store(cache, key, version, response) if cacheable else response


#: An alert's detail in ONE statement: the data version (the hot cache's tag), the columns and
#: the assignee's name. One statement is one snapshot on both databases, and a plain connection
#: skips the ORM session (which was ~80 % of a cold detail read's CPU at a million alerts).
_DETAIL_ONE = (
    select(
        select(DataVersion.version)
        .where(DataVersion.id == 1)
        .scalar_subquery()
        .label("data_version"),
        *DETAIL_COLUMNS,
        User.username.label("assignee_name"),
    )
    .outerjoin(User, User.id == Alert.assignee_id)
    .where(Alert.id == bindparam("alert_id"))
)
_DETAIL_FIELDS = tuple(n for n in AlertDetail.model_fields if n != "assignee")


def _detail_json(rt: Runtime, key: Key, alert_id: int) -> Response:
    cache = rt.hot_cache
    with rt.db.engine.connect() as connection:
        row = connection.execute(_DETAIL_ONE, {"alert_id": alert_id}).first()
        connection.rollback()
    if row is None:
        raise NotFoundError(_("no alert {id}").format(id=alert_id))
    mapping = row._mapping
    item = {n: mapping[n] for n in _DETAIL_FIELDS}
    item["assignee"] = row.assignee_name
    response = _json(_DETAIL, item, {"ETag": f'"{row.version}"'})
    return _store(cache, key, int(row.data_version or 0), response) if cache.enabled else response


def _detect_alert(raw: dict[str, Any]) -> DetectAlert:
    data = AlertIn.model_validate(raw)
    alert = DetectAlert(
        rule_id=data.rule_id,
        rule_hash=data.rule_hash,
        title=data.title,
        level=data.level,
        event_ids=tuple(data.event_ids),
        dedup_key=data.dedup_key,
        first_seen=format_timestamp(data.first_seen),
        last_seen=format_timestamp(data.last_seen),
        tags=tuple(data.tags),
        description=data.description,
        fields=data.fields,
    )
    if data.alert_id is not None and data.alert_id != alert.alert_id:
        raise UsageError(_("alert_id does not match the rule, rule hash and event ids"))
    return alert


@router.post("/ingest", response_model=IngestOut)
def ingest(
    body: IngestIn,
    who: AsService,
    session: WriteSession,
    rt: RuntimeDep,
    background: BackgroundTasks,
) -> IngestOut:
    """Store alerts from detect. Idempotent on ``alert_id``; invalid items are reported, the
    valid ones stored."""
    good: list[DetectAlert] = []
    rejected: list[dict[str, Any]] = []
    for index, raw in enumerate(body.alerts):
        try:
            good.append(_detect_alert(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "alert"
            rejected.append({"index": index, "error": f"{where}: {first['msg']}"})
        except UsageError as exc:
            rejected.append({"index": index, "error": exc.message})
    result = triage.ingest(session, good, events=rt.events.fetch)
    for message in critical_messages(session, result.created):
        background.add_task(rt.notifier.send, message)
    return IngestOut(**result.to_dict(), rejected=rejected)  # type: ignore[arg-type]


@router.get("", response_model=AlertPage)
async def list_alerts(
    *,
    request: Request,
    who: AsAnalyst,
    rt: RuntimeDep,
    status: Annotated[list[Status] | None, Query()] = None,
    severity: Annotated[list[Level] | None, Query()] = None,
    rule_id: Annotated[str | None, Query(max_length=128)] = None,
    tactic: Annotated[str | None, Query(max_length=128)] = None,
    technique: Annotated[str | None, Query(max_length=128)] = None,
    host: Annotated[str | None, Query(max_length=255)] = None,
    source_ip: Annotated[str | None, Query(max_length=64)] = None,
    destination_ip: Annotated[str | None, Query(max_length=64)] = None,
    user: Annotated[str | None, Query(max_length=255)] = None,
    process: Annotated[str | None, Query(max_length=255)] = None,
    domain: Annotated[str | None, Query(max_length=255)] = None,
    assignee: Annotated[str | None, Query(max_length=64)] = None,
    unassigned: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
    q: Annotated[
        str | None,
        Query(max_length=query.MAX_LENGTH, description="Search language (docs/soc.md)"),
    ] = None,
    sort: Literal["last_seen", "first_seen", "severity", "id"] = "last_seen",
    order: Literal["desc", "asc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=queue.MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response:
    """The triage queue, filtered and sorted, one keyset page at a time.

    ``q`` is the search language (``severity:>=high AND NOT status:resolved host:web-*``);
    unknown parameters, fields and values are 400/422 errors, never ignored."""
    for moment in (since, until):
        if moment is not None and moment.tzinfo is None:
            raise UsageError(_("since/until need a time zone (e.g. a trailing Z)"))
    extra = (query_sql.condition(query.parse(q), utcnow()),) if q else ()
    flt = queue.QueueFilter(
        status=tuple(status or ()),
        severity=tuple(severity or ()),
        rule_id=rule_id,
        tactic=tactic,
        technique=technique,
        host=host,
        source_ip=source_ip,
        destination_ip=destination_ip,
        user_name=user,
        process_name=process,
        url_domain=domain,
        unassigned=unassigned,
        since=since,
        until=until,
        extra=extra,
    )
    # One thread hop for the whole read (session, queries, encoding), not one per dependency.
    key = _cache_key(request)
    # A query relative to the clock (now-24h) changes without any write: never cached.
    relative = bool(q) and "now" in (q or "")
    produce = functools.partial(
        _list_json,
        rt,
        key,
        flt,
        assignee,
        cacheable=not relative,
        sort=sort,
        order=order,
        limit=limit,
        cursor=cursor,
    )
    if relative:
        return await run_in_threadpool(produce)
    return await run_in_threadpool(_single_flight, rt, key, produce)


@router.get("/{alert_id}", response_model=AlertDetail)
async def get_alert(alert_id: IdPath, who: AsAnalyst, rt: RuntimeDep, request: Request) -> Response:
    key = _cache_key(request)
    produce = functools.partial(_detail_json, rt, key, alert_id)
    return await run_in_threadpool(_single_flight, rt, key, produce)


@router.get("/{alert_id}/events", response_model=EvidenceOut)
def alert_events(
    alert_id: IdPath, who: AsAnalyst, session: ReadSession, rt: RuntimeDep
) -> EvidenceOut:
    """The raw events behind the alert (with ``event.original``), from the event store."""
    triage.get(session, alert_id)
    ids = triage.event_ids(session, alert_id, evidence.MAX_EVIDENCE)
    return EvidenceOut(alert_id=alert_id, requested=len(ids), events=rt.events.fetch(ids))


@router.post("/{alert_id}/transition", response_model=AlertPublic)
def transition(
    *,
    alert_id: IdPath,
    body: TransitionIn,
    who: AsAnalyst,
    session: WriteSession,
    rt: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    """Move the alert along the workflow (new → acknowledged → investigating → resolved)."""
    version, from_header = expected_version(if_match, body.version)
    alert = run_versioned(
        from_header,
        lambda: triage.transition(
            session,
            rt.hash_fn,
            who,
            alert_id,
            status=body.status,
            reason=body.reason,
            expected_version=version,
        ),
    )
    response.headers["ETag"] = f'"{alert.version}"'
    return public(session, [alert])[0]


@router.post("/{alert_id}/assign", response_model=AlertPublic)
def assign(
    *,
    alert_id: IdPath,
    body: AssignIn,
    who: AsAnalyst,
    session: WriteSession,
    rt: RuntimeDep,
    response: Response,
    background: BackgroundTasks,
    if_match: IfMatch = None,
) -> Any:
    """Assign (or with ``null`` unassign) the alert; the assignee is notified by webhook."""
    version, from_header = expected_version(if_match, body.version)
    alert = run_versioned(
        from_header,
        lambda: triage.assign(
            session, rt.hash_fn, who, alert_id, assignee=body.assignee, expected_version=version
        ),
    )
    response.headers["ETag"] = f'"{alert.version}"'
    if body.assignee is not None:
        for message in assignment_messages(session, [alert], body.assignee, who.username):
            background.add_task(rt.notifier.send, message)
    return public(session, [alert])[0]


@router.get("/{alert_id}/comments", response_model=list[CommentPublic])
def list_comments(alert_id: IdPath, who: AsAnalyst, session: ReadSession) -> list[CommentPublic]:
    triage.get(session, alert_id)
    return [
        CommentPublic(id=c.id, author=name, body=c.body, created_at=c.created_at)
        for c, name in triage.comments(session, alert_id)
    ]


@router.post("/{alert_id}/comments", response_model=CommentPublic, status_code=201)
def add_comment(
    alert_id: IdPath, body: CommentIn, who: AsAnalyst, session: WriteSession, rt: RuntimeDep
) -> CommentPublic:
    row = triage.comment(session, rt.hash_fn, who, alert_id, body.body)
    return CommentPublic(id=row.id, author=who.username, body=row.body, created_at=row.created_at)


@router.post("/bulk", response_model=BulkOut)
def bulk(
    body: BulkIn,
    who: AsAnalyst,
    session: WriteSession,
    rt: RuntimeDep,
    background: BackgroundTasks,
) -> BulkOut:
    """One action on many alerts, each at the version the caller read (a colleague's change
    since makes that item fail with 409's message, never be overwritten); each result says ok
    or why not (nothing else is undone). A bulk assignment notifies like a single one."""
    results = triage.bulk(
        session,
        rt.hash_fn,
        who,
        [(i.id, i.version) for i in body.items],
        status=body.status,
        reason=body.reason,
        assignee=body.assignee,
        unassign=body.unassign,
    )
    if body.assignee is not None:
        done = [r["id"] for r in results if r["ok"]]
        alerts = list(session.scalars(select(Alert).where(Alert.id.in_(done)).order_by(Alert.id)))
        for message in assignment_messages(session, alerts, body.assignee, who.username):
            background.add_task(rt.notifier.send, message)
    return BulkOut.model_validate({"results": results})
