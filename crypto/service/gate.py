"""The order every request goes through, in one place, so no route can skip a step:

    authenticate -> replay check (state-changing requests) -> policy -> quota -> operation
    -> audit line -> response

Each step that refuses writes the audit line with the error code first; the operation's
result is released only after its audit line is written (fail closed). Unexpected errors are
refused as ``unavailable`` and audited with the exception type, never passed through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from crypto.service.audit import AuditLog
from crypto.service.auth import Authenticator, Presented, ReplayGuard
from crypto.service.errors import ServiceError
from crypto.service.policy import Caller, Policy, QuotaLimiter
from tulou.errors import TulouError, UnavailableError

T = TypeVar("T")
log = logging.getLogger("tulou.crypto.service")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Context:
    caller: Caller
    request_id: str | None
    source_ip: str | None

    def fields(self) -> dict[str, Any]:
        return {
            "user.roles": sorted(self.caller.roles) or None,
            "tulou.caller.kind": self.caller.kind,
            "tulou.caller.via": self.caller.via,
            "source.ip": self.source_ip,
            "http.request.id": self.request_id,
        }


class Gate:
    def __init__(
        self,
        auth: Authenticator,
        replay: ReplayGuard,
        policy: Policy,
        quota: QuotaLimiter,
        audit: AuditLog,
    ) -> None:
        self.auth, self.replay, self.policy, self.quota, self.audit = (
            auth,
            replay,
            policy,
            quota,
            audit,
        )

    def refuse(
        self, action: str, error: ServiceError, *, caller: str | None, fields: dict[str, Any]
    ) -> None:
        try:
            self.audit.record(
                action,
                outcome="failure",
                caller=caller,
                fields=fields,
                code=error.code,
                reason=error.message,
            )
        except UnavailableError:
            log.error("audit log unavailable while refusing %s (%s)", action, error.code)

    def enter(self, action: str, presented: Presented, source_ip: str | None) -> Context:
        """Authenticate (and replay-check a state-changing request); audit any refusal."""
        base = {
            "source.ip": source_ip,
            "http.request.id": presented.headers.get("x-tulou-request-id"),
        }
        try:
            caller = self.auth.authenticate(presented)
        except ServiceError as exc:
            self.refuse(action, exc, caller=None, fields=base)
            raise
        request_id = None
        if presented.method in MUTATING:
            try:
                request_id = self.replay.check(caller.principal, presented.headers)
            except ServiceError as exc:
                self.refuse(action, exc, caller=caller.principal, fields=base)
                raise
        return Context(caller, request_id, source_ip)

    def run(
        self,
        ctx: Context,
        operation: str,
        tenant: str,
        key: str | None,
        work: Callable[[], tuple[T, dict[str, Any]]],
        *,
        fields: dict[str, Any] | None = None,
        cost: int = 1,
        quota: bool = True,
    ) -> T:
        """Policy, quota, ``work()`` (returns result + audit fields), audit; raises ServiceError."""
        common = {
            **ctx.fields(),
            "tulou.tenant": tenant,
            "tulou.key.path": f"{tenant}/{key}" if key else None,
            **(fields or {}),
        }
        principal = ctx.caller.principal
        decision = self.policy.decide(ctx.caller, tenant, key, operation)
        common["tulou.rule"] = decision.rule
        if not decision.allowed:
            error = ServiceError("denied", decision.reason)
            self.refuse(operation, error, caller=principal, fields=common)
            raise error
        if quota and not self.quota.take(principal, cost):
            error = ServiceError("quota-exceeded", f"{principal} is over its operation quota")
            self.refuse(operation, error, caller=principal, fields=common)
            raise error
        try:
            result, extra = work()
        except ServiceError as exc:
            self.refuse(operation, exc, caller=principal, fields=common)
            raise
        except TulouError as exc:
            error = ServiceError(
                "bad-request" if exc.exit_code == 2 else "unavailable", exc.message
            )
            self.refuse(operation, error, caller=principal, fields=common)
            raise error from None
        except Exception as exc:
            log.exception("unexpected error in %s", operation)
            error = ServiceError("unavailable", f"internal error ({type(exc).__name__})")
            self.refuse(operation, error, caller=principal, fields=common)
            raise error from None
        try:
            self.audit.record(
                operation, outcome="success", caller=principal, fields={**common, **extra}
            )
        except UnavailableError as exc:
            raise ServiceError("unavailable", exc.message) from None
        return result
