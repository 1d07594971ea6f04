"""Case pages: the case list, one case (alerts, observables, tasks, timeline, deadline), forms."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from soc import cases, grading
from soc.deps import AsAnalyst, ReadSession, RuntimeDep, WriteSession
from soc.models import utcnow
from soc.schemas import MAX_ID, IdPath
from soc.web.pages import back, render

router = APIRouter(include_in_schema=False)


@router.post("/alerts/{alert_id}/case")
def case_from_alert(
    *,
    alert_id: IdPath,
    who: AsAnalyst,
    session: WriteSession,
    rt: RuntimeDep,
    title: Annotated[str, Form(max_length=512)],
    category: Annotated[str, Form(max_length=32)],
    grade: Annotated[str, Form(max_length=16)],
    system_class: Annotated[str, Form(max_length=16)] = "other",
) -> Response:
    case = cases.create(
        session,
        rt.hash_fn,
        who,
        title=title,
        alert_ids=[alert_id],
        category=category,
        grade=grade,
        system_class=system_class,
    )
    return back(f"/cases/{case.id}")


@router.get("/cases", response_class=HTMLResponse)
def case_list(request: Request, who: AsAnalyst, session: ReadSession) -> Response:
    return render(
        request, "cases.html", who=who, cases=cases.listing(session), categories=grading.CATEGORIES
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: IdPath, who: AsAnalyst, session: ReadSession) -> Response:
    data = cases.detail(session, case_id)
    return render(
        request,
        "case.html",
        who=who,
        categories=grading.CATEGORIES,
        grades=grading.GRADES,
        kinds=cases.OBSERVABLE_KINDS,
        **data,
    )


@router.post("/cases/{case_id}/observable")
def case_observable(
    *,
    case_id: IdPath,
    who: AsAnalyst,
    session: WriteSession,
    rt: RuntimeDep,
    kind: Annotated[str, Form(max_length=16)],
    value: Annotated[str, Form(max_length=512)],
) -> Response:
    cases.add_observable(session, rt.hash_fn, who, case_id, kind=kind, value=value)
    return back(f"/cases/{case_id}")


@router.post("/cases/{case_id}/task")
def case_task(
    case_id: IdPath,
    who: AsAnalyst,
    session: WriteSession,
    rt: RuntimeDep,
    title: Annotated[str, Form(max_length=512)],
) -> Response:
    cases.add_task(session, rt.hash_fn, who, case_id, title)
    return back(f"/cases/{case_id}")


@router.post("/cases/{case_id}/task/{task_id}/done")
def case_task_done(
    case_id: IdPath, task_id: IdPath, who: AsAnalyst, session: WriteSession, rt: RuntimeDep
) -> Response:
    cases.complete_task(session, rt.hash_fn, who, case_id, task_id)
    return back(f"/cases/{case_id}")


@router.post("/cases/{case_id}/note")
def case_note(
    case_id: IdPath,
    who: AsAnalyst,
    session: WriteSession,
    rt: RuntimeDep,
    text: Annotated[str, Form(max_length=20_000)],
) -> Response:
    cases.add_note(session, rt.hash_fn, who, case_id, text)
    return back(f"/cases/{case_id}")


@router.post("/cases/{case_id}/link")
def case_link(
    case_id: IdPath,
    who: AsAnalyst,
    session: WriteSession,
    rt: RuntimeDep,
    alert_id: Annotated[int, Form(ge=1, le=MAX_ID)],
) -> Response:
    cases.link_alerts(session, rt.hash_fn, who, case_id, [alert_id])
    return back(f"/cases/{case_id}")


@router.post("/cases/{case_id}/reported")
def case_reported(
    case_id: IdPath,
    who: AsAnalyst,
    session: WriteSession,
    rt: RuntimeDep,
    version: Annotated[int, Form(ge=1, le=MAX_ID)],
) -> Response:
    """Record that the incident was reported to the regulator now."""
    cases.update_case(
        session,
        rt.hash_fn,
        who,
        case_id,
        expected_version=version,
        changes={"reported_at": utcnow()},
    )
    return back(f"/cases/{case_id}")
