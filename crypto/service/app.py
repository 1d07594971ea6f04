"""The composition root of the crypto service and its FastAPI application.

:func:`open_service` builds every part from a :class:`ServiceConfig` (vault, gate, CA, TSA);
:func:`create_app` exposes it over HTTP (OpenAPI at ``/openapi.json``, docs at ``/docs``).
Errors are translated to HTTP once, here: a :class:`ServiceError` becomes its code's status
with ``{"error": {"code", "message"}}``; a malformed body is ``bad-request`` (audited).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from crypto.service.audit import AuditLog, JsonLinesAuditSink
from crypto.service.auth import Authenticator, Presented, ReplayGuard
from crypto.service.config import ServiceConfig
from crypto.service.errors import ServiceError
from crypto.service.gate import Context, Gate
from crypto.service.master import MASTER_KEYS, MasterKey, check
from crypto.service.policy import QuotaLimiter
from crypto.service.records import RecordStore, canonical
from crypto.service.vault import Vault

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def open_master(config: ServiceConfig) -> MasterKey:
    """The master key named by the config; parameters from ``service.json`` (created once)."""
    meta_path = config.data_dir / "service.json"
    config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    factory = MASTER_KEYS[config.master]
    if meta_path.is_file():
        import json  # noqa: PLC0415

        described = json.loads(meta_path.read_text())["master"]
        if described.get("provider") != config.master:
            raise ServiceError(
                "config", f"the store was created with master {described.get('provider')!r}"
            )
        master = factory(described, env_var=config.master_env)
        try:
            check(master, described)
        except Exception as exc:  # noqa: BLE001 - a wrong master is a configuration error
            raise ServiceError("config", str(exc)) from None
        return master
    master = factory({"iterations": config.master_iterations}, env_var=config.master_env)
    meta = {"format": "tulou-kms", "format_version": 1, "master": master.describe()}
    tmp = meta_path.with_name(".service.json.tmp")
    tmp.write_bytes(canonical(meta) + b"\n")
    tmp.chmod(0o600)
    tmp.replace(meta_path)
    return master


@dataclass
class Service:
    config: ServiceConfig
    records: RecordStore
    vault: Vault
    gate: Gate
    extras: dict[str, Any] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def close(self) -> None:
        self._stop.set()
        self.records.close()

    def run_scheduler(self) -> None:
        """Rotate due keys and erase approved, waited-out destructions until closed."""
        while not self._stop.wait(self.config.rotation_check_interval):
            self.tick()

    def tick(self) -> None:
        """One scheduler pass; a failure is logged and retried next pass (never kills it)."""
        try:
            self._tick()
        except Exception:
            logging.getLogger("tulou.crypto.service").exception("scheduler pass failed")

    def _tick(self) -> None:
        for key_id in self.vault.rotate_due():
            self.gate.audit.record(
                "key-rotate",
                outcome="success",
                caller="scheduler",
                fields={"tulou.key.id": key_id, "event.reason": "scheduled"},
            )
        for path in self.vault.all_keys():
            for version in self.vault.destroy_due(path):
                self.gate.audit.record(
                    "key-destroy",
                    outcome="success",
                    caller="scheduler",
                    fields={"tulou.key.id": f"{path}@v{version}", "tulou.key.version": version},
                )


def open_service(config: ServiceConfig) -> Service:
    master = open_master(config)
    records = RecordStore(config.data_dir / "store", master)
    try:
        vault = Vault(records, master, destruction_wait=config.destruction_wait)
        audit = AuditLog(JsonLinesAuditSink(config.audit_file))
        gate = Gate(
            Authenticator(config.accounts, config.gateway),
            ReplayGuard(config.replay_window),
            config.policy_model(),
            QuotaLimiter(
                config.quota.rate, config.quota.burst, overrides=dict(config.quota.callers)
            ),
            audit,
        )
        service = Service(config, records, vault, gate)
        from crypto.service.ca import ensure_key  # noqa: PLC0415
        from crypto.service.vault import KeyPath  # noqa: PLC0415

        ensure_key(vault, KeyPath("city", "kms", "import"))
        from crypto.service import pki  # noqa: PLC0415 - the CA and TSA are optional parts

        pki.attach(service)
        return service
    except BaseException:
        records.close()
        raise


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 ``body-too-large`` (audited)."""

    def __init__(self, app: Any, limit: int, on_refuse: Callable[[Scope], None]) -> None:
        self.app, self.limit, self.on_refuse = app, limit, on_refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, send)
            return
        seen = 0
        refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    refused = True
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        self.on_refuse(scope)
        body = canonical(
            {
                "error": {
                    "code": "body-too-large",
                    "message": f"request body over {self.limit} bytes",
                }
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def presented(request: Request) -> Presented:
    tls = request.scope.get("extensions", {}).get("tls", {})
    return Presented(
        headers={k.lower(): v for k, v in request.headers.items()},
        client_cert_der=tls.get("client_cert_der"),
        method=request.method,
        path=request.url.path,
    )


def _action(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "name", None) or "request"


def create_app(service: Service) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker = threading.Thread(target=service.run_scheduler, name="kms-scheduler", daemon=True)
        worker.start()
        yield
        service._stop.set()

    app = FastAPI(
        title="Tulou crypto service",
        version="1",
        description="Keys, encryption, signatures, certificates and timestamps (SM2/SM3/SM4).",
        lifespan=lifespan,
    )
    app.state.service = service

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(
            {"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )[:500]
        error = ServiceError("bad-request", problems or "invalid request")
        service.gate.refuse(
            _action(request),
            error,
            caller=getattr(request.state, "caller", None),
            fields={
                "source.ip": request.client.host if request.client else None,
                "url.path": request.url.path,
            },
        )
        return JSONResponse(
            {"error": {"code": error.code, "message": error.message}}, status_code=400
        )

    from crypto.service import routes_data, routes_keys  # noqa: PLC0415

    app.include_router(routes_keys.router)
    app.include_router(routes_data.router)
    for router in service.extras.get("routers", ()):
        app.include_router(router)

    @app.get("/v1/health", name="health")
    def health() -> dict[str, Any]:
        return {"ok": True}

    def on_refuse(scope: Scope) -> None:
        client = scope.get("client")
        service.gate.refuse(
            "request",
            ServiceError("body-too-large", "request body over the limit"),
            caller=None,
            fields={"source.ip": client[0] if client else None, "url.path": scope.get("path")},
        )

    app.add_middleware(BodyLimit, limit=service.config.body_limit, on_refuse=on_refuse)
    return app


async def context(request: Request) -> Context:
    """FastAPI dependency: the authenticated, replay-checked caller of this request.

    A token is checked on the event loop (a digest lookup: no thread hop per request); an
    identity assertion costs an SM2 verification, so it runs in the thread pool.
    """
    service: Service = request.app.state.service
    shown = presented(request)
    source = request.client.host if request.client else None
    if "authorization" in shown.headers:
        ctx = service.gate.enter(_action(request), shown, source)
    else:
        ctx = await run_in_threadpool(service.gate.enter, _action(request), shown, source)
    request.state.caller = ctx.caller.principal  # for the audit line of a malformed body
    return ctx
