"""The enforcement point: mitmproxy addons, one class per file, in an explicit order.

The order of :func:`gateway_addons` is the processing order of every request:

1. ``StateInit``      fresh request state, clock started
2. ``Shield``         per-address budget spent first, blocks, connection cap, timeouts
3. ``TlsGuard``       plain HTTP refused; client certificate verified (per connection)
4. ``Sanitizer``      host/path canonical, ambiguities refused, spoofable headers stripped
5. ``Router``         host + canonical path prefix -> route (unknown: 404); body limit
6. ``DevicePosture``  device revocation, inventory owners and posture
7. ``Authenticator``  bearer token verified (failure buckets first; revocation, replay)
8. ``RateLimit``      token buckets per subject and device (429)
9. ``PolicyEnforcer`` the policy decision point decides; deny by default
10. ``Revoker``       remembers who is on each connection; cuts them on revocation
11. ``Assertion``     the signed identity assertion header for the upstream
12. ``Forwarder``     upstream + canonical origin-form target; refuses undecided flows
13. ``Envelope``      inter-system routes: seal or open bodies (SM2 + SM4), once read
14. ``Auditor``       one ECS audit line + metrics per decision (response and error)
15. ``AdminServer``   /healthz, /readyz, /metrics, POST /revoke on the admin listener
16. ``Reloader``      watches the reloadable files

Steps 1-12 run on ``requestheaders``: the whole decision is made on the request head, and a
denial is answered before any body is read. Only the envelope needs the body (``request``).
Any exception in any addon denies its flow (``gateway.addons.failsafe``).
"""

from __future__ import annotations

from typing import Any

from gateway.addons.admin_server import AdminServer
from gateway.addons.assertion import Assertion
from gateway.addons.auditor import Auditor
from gateway.addons.authenticator import Authenticator
from gateway.addons.device_posture import DevicePosture
from gateway.addons.envelope import Envelope
from gateway.addons.failsafe import Failsafe
from gateway.addons.forwarder import Forwarder
from gateway.addons.policy_enforcer import PolicyEnforcer
from gateway.addons.rate_limiter import RateLimit
from gateway.addons.reloader import Reloader
from gateway.addons.revoker import Revoker
from gateway.addons.router import Router
from gateway.addons.sanitizer import Sanitizer
from gateway.addons.shield import Shield
from gateway.addons.state_init import StateInit
from gateway.addons.tls_guard import TlsGuard
from gateway.state import Runtime


def gateway_addons(runtime: Runtime) -> list[Any]:
    """The gateway's addons in processing order (see the module docstring)."""
    return [
        StateInit(),
        Shield(runtime),
        TlsGuard(runtime),
        Sanitizer(runtime),
        Router(runtime),
        DevicePosture(runtime),
        Authenticator(runtime),
        RateLimit(runtime),
        PolicyEnforcer(runtime),
        Revoker(runtime),
        Assertion(runtime),
        Forwarder(runtime),
        Envelope(runtime),
        Auditor(runtime),
        AdminServer(runtime),
        Reloader(runtime),
    ]


def failsafe_for(addons: list[Any], runtime: Runtime) -> Failsafe:
    """The fail-closed handler for ``addons`` (it audits through their ``Auditor``)."""
    auditor = next(a for a in addons if isinstance(a, Auditor))
    return Failsafe(runtime, auditor)


__all__ = ["failsafe_for", "gateway_addons"]
