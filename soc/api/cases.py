"""``/api/v1/cases``: incidents built from alerts (analysts and admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from soc import cases
from soc.api.alerts import IfMatch, expected_version, public, run_versioned
from soc.deps import AsAnalyst, ReadSession, RuntimeDep, WriteSession
from soc.schemas import (
    CaseCreate,
    CaseDetail,
    CasePatch,
    CasePublic,
    DeadlineOut,
    IdPath,
    LinkIn,
    NoteIn,
    ObservableIn,
    ObservablePublic,
    TaskIn,
    TaskPublic,
    TimelinePublic,
)

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])


def case_detail(session: Any, case_id: IdPath) -> CaseDetail:
    data = cases.detail(session, case_id)
    case = data["case"]
    due = data["deadline"]
    return CaseDetail(
        **CasePublic.model_validate(case).model_dump(),
        deadline=DeadlineOut(required=due.required, hours=due.hours, due=due.due, state=due.state),
        alerts=public(session, data["alerts"]),
        observables=[ObservablePublic.model_validate(o) for o in data["observables"]],
        tasks=[TaskPublic.model_validate(t) for t in data["tasks"]],
        timeline=[TimelinePublic.model_validate(t) for t in data["timeline"]],
    )


@router.get("", response_model=list[CasePublic])
def list_cases(who: AsAnalyst, session: ReadSession) -> Any:
    return [CasePublic.model_validate(c) for c in cases.listing(session)]


@router.post("", response_model=CaseDetail, status_code=201)
def create_case(body: CaseCreate, who: AsAnalyst, session: WriteSession, rt: RuntimeDep) -> Any:
    """Open a case from alerts, with its GB/T 20986 category and grade."""
    case = cases.create(
        session,
        rt.hash_fn,
        who,
        title=body.title,
        alert_ids=body.alert_ids,
        category=body.category,
        grade=body.grade,
        system_class=body.system_class,
        description=body.description,
    )
    session.flush()
    return case_detail(session, case.id)


@router.get("/{case_id}", response_model=CaseDetail)
def get_case(case_id: IdPath, who: AsAnalyst, session: ReadSession, response: Response) -> Any:
    detail = case_detail(session, case_id)
    response.headers["ETag"] = f'"{detail.version}"'
    return detail


@router.patch("/{case_id}", response_model=CaseDetail)
def patch_case(
    *,
    case_id: IdPath,
    body: CasePatch,
    who: AsAnalyst,
    session: WriteSession,
    rt: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    """Change grade, category, system class, status or the time it was reported."""
    version, from_header = expected_version(if_match, body.version)
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    changes = {k: v for k, v in changes.items() if v is not None or k == "reported_at"}
    run_versioned(
        from_header,
        lambda: cases.update_case(
            session, rt.hash_fn, who, case_id, expected_version=version, changes=changes
        ),
    )
    detail = case_detail(session, case_id)
    response.headers["ETag"] = f'"{detail.version}"'
    return detail


@router.post("/{case_id}/alerts", response_model=CaseDetail)
def link_alerts(
    case_id: IdPath, body: LinkIn, who: AsAnalyst, session: WriteSession, rt: RuntimeDep
) -> Any:
    cases.link_alerts(session, rt.hash_fn, who, case_id, body.alert_ids)
    return case_detail(session, case_id)


@router.post("/{case_id}/observables", response_model=ObservablePublic, status_code=201)
def add_observable(
    case_id: IdPath, body: ObservableIn, who: AsAnalyst, session: WriteSession, rt: RuntimeDep
) -> Any:
    row = cases.add_observable(
        session, rt.hash_fn, who, case_id, kind=body.kind, value=body.value, note=body.note
    )
    return ObservablePublic.model_validate(row)


@router.post("/{case_id}/tasks", response_model=TaskPublic, status_code=201)
def add_task(
    case_id: IdPath, body: TaskIn, who: AsAnalyst, session: WriteSession, rt: RuntimeDep
) -> Any:
    return TaskPublic.model_validate(cases.add_task(session, rt.hash_fn, who, case_id, body.title))


@router.post("/{case_id}/tasks/{task_id}/done", response_model=TaskPublic)
def complete_task(
    case_id: IdPath, task_id: IdPath, who: AsAnalyst, session: WriteSession, rt: RuntimeDep
) -> Any:
    return TaskPublic.model_validate(
        cases.complete_task(session, rt.hash_fn, who, case_id, task_id)
    )


@router.post("/{case_id}/notes", response_model=CaseDetail)
def add_note(
    case_id: IdPath, body: NoteIn, who: AsAnalyst, session: WriteSession, rt: RuntimeDep
) -> Any:
    cases.add_note(session, rt.hash_fn, who, case_id, body.text)
    return case_detail(session, case_id)
