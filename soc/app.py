"""The SOC application factory: API routers, web pages, and the one error translation point.

``create_app`` takes everything it needs (nothing is read at import time). Domain errors become
HTTP statuses here and only here (:func:`soc.errors.http_status`): JSON ``{"detail": ...}`` for
``/api`` paths; for web pages an unauthenticated caller is sent to ``/login`` and others get an
HTML error page. The OpenAPI document is served at ``/api/openapi.json`` (docs at ``/api/docs``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from soc.api import admin, alerts, cases, events, groups, searches
from soc.assets import Inventory
from soc.audit import HashFunction
from soc.db import Database
from soc.deps import Runtime
from soc.errors import AuthenticationError, http_status
from soc.evidence import EventSource, NoEventSource
from soc.hot_cache import HotCache, HotGetMiddleware
from soc.i18n import _
from soc.metrics import SlaTarget
from soc.metrics_cache import MetricsCache
from soc.middleware import Language, SecurityHeaders
from soc.models import utcnow
from soc.notifications import SlaWatcher, sla_breaches
from soc.notify import Notifier, NullNotifier
from soc.strict_query import reject_unknown_query
from soc.web import admin_pages, alert_pages, case_pages, pages, search_pages
from tulou import __version__, i18n
from tulou.errors import TulouError

log = logging.getLogger(__name__)


def create_app(
    db: Database,
    *,
    hash_fn: HashFunction,
    events: EventSource | None = None,
    notifier: Notifier | None = None,
    cookie_secure: bool = True,
    session_hours: int = 8,
    sla: dict[str, SlaTarget] | None = None,
    metrics_ttl: float = 0,
    hot_cache_entries: int = 4096,
    warm_metrics: tuple[int, ...] = (),
    timezone: str = i18n.DEFAULT_TIMEZONE,
    data_dir: Path | None = None,
    inventory: Inventory | None = None,
    sla_watch: float = 0,
) -> FastAPI:
    """The SOC app on ``db``.

    ``warm_metrics`` (windows in days; only with ``metrics_ttl`` > 0): at start-up (the ASGI
    lifespan, before this process accepts requests) the API's metrics body of each window is
    computed, and a background thread then refreshes them before they expire (soc/metrics_cache.py),
    so no request waits on a cold or expiring computation of these windows. A failed warm-up
    is logged and start-up continues (the first request then computes it).

    ``sla_watch`` (seconds, 0 = off): a thread announces new SLA breaches that often
    (soc.notifications) while the app runs.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt: Runtime = app.state.runtime
        if rt.metrics_cache.ttl > 0 and warm_metrics:
            for days in warm_metrics:
                try:
                    await run_in_threadpool(admin.warm_metrics, rt, days)
                except Exception as exc:  # noqa: BLE001 - serving beats a warm cache
                    log.warning("metrics warm-up of %d days failed: %s", days, exc)
            rt.metrics_cache.start()
        # Without a notifier nothing would be sent: no breach is marked as announced.
        announce = sla_watch > 0 and not isinstance(rt.notifier, NullNotifier)
        watcher = SlaWatcher(lambda: check_sla(rt), sla_watch) if announce else None
        if watcher is not None:
            watcher.start()
        try:
            yield
        finally:
            rt.metrics_cache.stop()
            if watcher is not None:
                watcher.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="Tulou SOC",
        version=__version__,
        description="Alert ingest and triage, cases, metrics and the audit trail.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        # Unknown query parameters are 400s everywhere (soc/strict_query.py).
        dependencies=[Depends(reject_unknown_query)],
    )
    app.state.runtime = Runtime(
        db=db,
        hash_fn=hash_fn,
        events=events or NoEventSource(),
        notifier=notifier or NullNotifier(),
        cookie_secure=cookie_secure,
        session_hours=session_hours,
        sla=sla,
        metrics_cache=MetricsCache(metrics_ttl),
        hot_cache=HotCache(hot_cache_entries),
        timezone=timezone,
        data_dir=data_dir,
        inventory=inventory or Inventory(),
    )
    # Fresh cached queue GETs for authorised callers, before routing (soc/hot_cache.py).
    app.add_middleware(HotGetMiddleware, cache=app.state.runtime.hot_cache, db=db)
    # Outermost last: every response (cached ones too) gets the language and the headers.
    app.add_middleware(Language, timezone=timezone)
    app.add_middleware(SecurityHeaders, secure=cookie_secure)
    for router in ROUTERS:
        app.include_router(router)

    @app.exception_handler(TulouError)
    async def _domain_error(request: Request, exc: TulouError) -> Response:
        status = http_status(exc)
        if status >= 500:
            log.error("%s on %s %s: %s", type(exc).__name__, request.method, request.url.path, exc)
        if not request.url.path.startswith("/api"):
            if isinstance(exc, AuthenticationError):
                return RedirectResponse("/login", status_code=303)
            return pages.error_page(request, status, exc.message)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        body: dict[str, object] = {"detail": exc.message}
        current = getattr(exc, "current_version", None)
        if current is not None:
            body["current_version"] = current
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = [_describe(e) for e in exc.errors()]
        if not request.url.path.startswith("/api"):
            return pages.error_page(request, 422, "; ".join(problems))
        return JSONResponse(
            {"detail": jsonable_encoder(exc.errors()), "message": "; ".join(problems)},
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return pages.error_page(request, exc.status_code, str(exc.detail))

    return app


def check_sla(rt: Runtime) -> None:
    """Announce the SLA breaches not announced yet (marks commit before delivery)."""
    with rt.db.write() as session:
        messages = sla_breaches(session, utcnow(), rt.sla_targets)
    for message in messages:
        rt.notifier.send(message)


def _describe(error: Any) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
    return _("invalid {where}: {problem}").format(where=where or "?", problem=error.get("msg", ""))


ROUTERS = (
    alerts.router,
    cases.router,
    admin.router,
    searches.router,
    events.router,
    groups.router,
    pages.router,
    alert_pages.router,
    case_pages.router,
    search_pages.router,
    admin_pages.router,
)
