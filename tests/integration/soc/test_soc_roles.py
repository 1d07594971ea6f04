"""The role x endpoint matrix: every role (and nobody) against every API endpoint and web page.

The expected table is written here, independently of soc.deps; a route the table does not name
fails the test, so a new endpoint cannot ship without deciding who may call it.
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

ROLES = ("admin", "analyst", "officer", "regulator", "service")
ANALYST = {"admin", "analyst"}
STAFF = {"admin", "analyst", "officer", "regulator"}
EVERYONE = set(ROLES)
PUBLIC = "public"

EXPECTED: dict[tuple[str, str], set[str] | str] = {
    ("POST", "/api/v1/alerts/ingest"): {"admin", "service"},
    ("GET", "/api/v1/alerts"): ANALYST,
    ("GET", "/api/v1/alerts/{alert_id}"): ANALYST,
    ("GET", "/api/v1/alerts/{alert_id}/events"): ANALYST,
    ("POST", "/api/v1/alerts/{alert_id}/transition"): ANALYST,
    ("POST", "/api/v1/alerts/{alert_id}/assign"): ANALYST,
    ("GET", "/api/v1/alerts/{alert_id}/comments"): ANALYST,
    ("POST", "/api/v1/alerts/{alert_id}/comments"): ANALYST,
    ("POST", "/api/v1/alerts/bulk"): ANALYST,
    ("GET", "/api/v1/cases"): ANALYST,
    ("POST", "/api/v1/cases"): ANALYST,
    ("GET", "/api/v1/cases/{case_id}"): ANALYST,
    ("PATCH", "/api/v1/cases/{case_id}"): ANALYST,
    ("POST", "/api/v1/cases/{case_id}/alerts"): ANALYST,
    ("POST", "/api/v1/cases/{case_id}/observables"): ANALYST,
    ("POST", "/api/v1/cases/{case_id}/tasks"): ANALYST,
    ("POST", "/api/v1/cases/{case_id}/tasks/{task_id}/done"): ANALYST,
    ("POST", "/api/v1/cases/{case_id}/notes"): ANALYST,
    ("GET", "/api/v1/me"): EVERYONE,
    ("GET", "/api/v1/users"): {"admin"},
    ("POST", "/api/v1/users"): {"admin"},
    ("POST", "/api/v1/users/{username}/tokens"): {"admin"},
    ("PATCH", "/api/v1/users/{username}"): {"admin"},
    ("GET", "/api/v1/searches"): ANALYST,
    ("GET", "/api/v1/events"): ANALYST,
    ("GET", "/api/v1/alert-groups"): ANALYST,
    ("POST", "/api/v1/searches"): ANALYST,
    ("DELETE", "/api/v1/searches/{search_id}"): ANALYST,
    ("GET", "/api/v1/metrics"): STAFF,
    ("GET", "/api/v1/audit/verify"): {"admin", "officer", "regulator"},
    ("POST", "/api/v1/rules"): {"admin", "service"},
    # web pages
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): EVERYONE,
    ("GET", "/"): EVERYONE,
    ("GET", "/me"): EVERYONE,
    ("GET", "/search"): ANALYST,
    ("GET", "/groups"): ANALYST,
    ("POST", "/me/language"): EVERYONE,
    ("POST", "/alerts/bulk"): ANALYST,
    ("POST", "/cases/{case_id}/template"): ANALYST,
    ("POST", "/cases/{case_id}/owner"): ANALYST,
    ("POST", "/cases/{case_id}/update"): ANALYST,
    ("POST", "/searches"): ANALYST,
    ("POST", "/searches/{search_id}/delete"): ANALYST,
    ("GET", "/admin/users"): {"admin"},
    ("POST", "/admin/users/{username}/active"): {"admin"},
    ("GET", "/alerts"): ANALYST,
    ("GET", "/alerts/{alert_id}"): ANALYST,
    ("POST", "/alerts/{alert_id}/transition"): ANALYST,
    ("POST", "/alerts/{alert_id}/assign"): ANALYST,
    ("POST", "/alerts/{alert_id}/comment"): ANALYST,
    ("POST", "/alerts/{alert_id}/case"): ANALYST,
    ("GET", "/cases"): ANALYST,
    ("GET", "/cases/{case_id}"): ANALYST,
    ("POST", "/cases/{case_id}/observable"): ANALYST,
    ("POST", "/cases/{case_id}/task"): ANALYST,
    ("POST", "/cases/{case_id}/task/{task_id}/done"): ANALYST,
    ("POST", "/cases/{case_id}/note"): ANALYST,
    ("POST", "/cases/{case_id}/link"): ANALYST,
    ("POST", "/cases/{case_id}/reported"): ANALYST,
    ("GET", "/dashboard"): STAFF,
    ("GET", "/drills"): {"admin", "officer"},
    ("GET", "/reports"): {"admin", "officer", "regulator"},
}
FRAMEWORK = {"/api/openapi.json", "/api/docs"}


def _walk(routes):
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:  # FastAPI includes routers lazily: walk into them
            yield from _walk(inner.routes)
        else:
            yield route


def routes(app):
    found = []
    for route in _walk(app.routes):
        if route.path in FRAMEWORK or not hasattr(route, "methods"):
            continue
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            found.append((method, route.path, isinstance(route, APIRoute)))
    return found


def test_every_route_is_in_the_table(soc_sqlite):
    present = {(m, p) for m, p, _ in routes(soc_sqlite.app)}
    assert present - EXPECTED.keys() == set(), "routes without a role decision"
    assert EXPECTED.keys() - present == set(), "table names routes that do not exist"


def _call(client, method, path, headers):
    url = re.sub(r"\{[a-z_]+\}", "1", path)
    if method == "GET":
        return client.request(method, url, headers=headers, follow_redirects=False)
    if path.startswith("/api"):
        return client.request(method, url, headers=headers, json={}, follow_redirects=False)
    return client.request(method, url, headers=headers, data={"x": "1"}, follow_redirects=False)


@pytest.mark.parametrize("role", [*ROLES, None])
def test_role_matrix(soc, role):
    # Something to act on, so allowed calls reach real handlers (not only 404s).
    soc.new_alert()
    headers = soc.headers(role) if role else {}
    failures = []
    for method, path, _ in routes(soc.app):
        allowed = EXPECTED[(method, path)]
        response = _call(soc.client, method, path, headers)
        status = response.status_code
        if allowed == PUBLIC:
            ok = status not in (401, 403)
        elif role is None:
            ok = (
                status == 401
                if path.startswith("/api")
                else (status == 303 and response.headers["location"] == "/login")
            )
        elif role in allowed:
            ok = status not in (401, 403) and status < 500
        else:
            ok = status == 403
        if not ok:
            failures.append(f"{role} {method} {path} -> {status} {response.text[:120]}")
    assert failures == []
