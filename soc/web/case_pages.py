"""Case pages: the case list, one case (alerts, observables with enrichment, tasks, timeline,
deadline), and its forms: owner, regrade, close and reopen, link many alerts, templates."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, Response

from soc import cases, enrichment, grading
from soc.case_templates import TEMPLATES
from soc.deps import AsAnalyst, ReadSession, RuntimeDep, WriteSession
from soc.i18n import _
from soc.models import utcnow
from soc.notifications import case_owner_messages
from soc.schemas import MAX_ID, IdPath
from soc.web.alert_pages import analysts
from soc.web.pages import back
from soc.web.rendering import render
from soc.workflow import CLOSING_REASONS
from tulou.errors import UsageError

router = APIRouter(include_in_schema=False)
MAX_LINK = 500


def parse_ids(text: str) -> list[int]:
    """``"12, 15-18 20"`` -> [12, 15, 16, 17, 18, 20]; refuses anything else."""
    ids: list[int] = []
    for part in re.split(r"[\s,，、]+", text.strip()):
        if not part:
            continue
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()) or len(part) > 40:
            raise UsageError(
                _("{part!r} is not an alert number or a range like 15-18").format(part=part)
            )
        first, last = int(low), int(high) if dash else int(low)
        if last < first or last - first >= MAX_LINK or not 1 <= first <= MAX_ID:
            raise UsageError(_("{part!r} is not a valid range").format(part=part))
        ids.extend(range(first, last + 1))
        if len(ids) > MAX_LINK:
            raise UsageError(_("at most {n} alerts at once").format(n=MAX_LINK))
    if not ids:
        raise UsageError(_("name at least one alert"))
    return sorted(set(ids))


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
    also: Annotated[list[int] | None, Form(max_length=MAX_LINK)] = None,
) -> Response:
    """Open a case from this alert and, ticked on the page, its related alerts."""
    case = cases.create(
        session,
        rt.hash_fn,
        who,
        title=title,
        alert_ids=sorted({alert_id, *(also or [])}),
        category=category,
        grade=grade,
        system_class=system_class,
    )
    return back(f"/cases/{case.id}")


@router.get("/cases", response_class=HTMLResponse)
def case_list(request: Request, who: AsAnalyst, session: ReadSession) -> Response:
    listed = cases.listing(session)
    return render(
        request,
        "cases.html",
        who=who,
        cases=listed,
        owners=cases.owners(session, listed),
        categories=grading.CATEGORIES,
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request, case_id: IdPath, who: AsAnalyst, session: ReadSession, rt: RuntimeDep
) -> Response:
    data = cases.detail(session, case_id)
    count = getattr(rt.events, "count", None)
    facts = {
        o.id: enrichment.offline(
            session,
            o.kind,
            o.value,
            inventory=rt.inventory,
            count_events=count,
            exclude_case=case_id,
        )
        for o in data["observables"]
    }
    return render(
        request,
        "case.html",
        who=who,
        categories=grading.CATEGORIES,
        grades=grading.GRADES,
        kinds=cases.OBSERVABLE_KINDS,
        reasons=CLOSING_REASONS,
        analysts=analysts(session),
        owner=cases.owner_name(session, data["case"]),
        enrichment={
            k: {
                "alerts": f.alerts,
                "cases": len(f.cases),
                "first_seen": f.first_seen,
                "last_seen": f.last_seen,
                "assets": f.assets,
            }
            for k, f in facts.items()
        },
        templates={k: grading.CATEGORIES[k] for k in TEMPLATES},
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


@router.post("/cases/{case_id}/template")
def case_template(
    case_id: IdPath,
    who: AsAnalyst,
    session: WriteSession,
    rt: RuntimeDep,
    template: Annotated[str, Form(max_length=32)],
) -> Response:
    cases.apply_template(session, rt.hash_fn, who, case_id, template)
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
    alert_ids: Annotated[str, Form(max_length=4000)],
) -> Response:
    """Link many alerts at once: ``12, 15-18``."""
    cases.link_alerts(session, rt.hash_fn, who, case_id, parse_ids(alert_ids))
    return back(f"/cases/{case_id}")


@router.post("/cases/{case_id}/owner")
def case_owner(
    *,
    case_id: IdPath,
    who: AsAnalyst,
    session: WriteSession,
    rt: RuntimeDep,
    background: BackgroundTasks,
    version: Annotated[int, Form(ge=1, le=MAX_ID)],
    owner: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    case = cases.update_case(
        session,
        rt.hash_fn,
        who,
        case_id,
        expected_version=version,
        changes={"owner": owner or None},
    )
    if owner:
        for message in case_owner_messages(session, case, owner, who.username):
            background.add_task(rt.notifier.send, message)
    return back(f"/cases/{case_id}")


@router.post("/cases/{case_id}/update")
def case_update(
    *,
    case_id: IdPath,
    who: AsAnalyst,
    session: WriteSession,
    rt: RuntimeDep,
    version: Annotated[int, Form(ge=1, le=MAX_ID)],
    op: Annotated[str, Form(pattern="^(save|close|reopen)$")],
    category: Annotated[str, Form(max_length=32)] = "",
    grade: Annotated[str, Form(max_length=16)] = "",
    closing_reason: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Regrade (category, grade), close with a closing reason, or reopen."""
    changes: dict[str, object] = {}
    if category:
        changes["category"] = category
    if grade:
        changes["grade"] = grade
    if op == "close":
        changes["status"] = "closed"
        changes["closing_reason"] = closing_reason or None
    elif op == "reopen":
        changes = {"status": "open"}
    cases.update_case(session, rt.hash_fn, who, case_id, expected_version=version, changes=changes)
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
