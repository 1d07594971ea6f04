"""The enforcement point: mitmproxy addons, one class per file, in an explicit order.

The order of :func:`gateway_addons` is the processing order of every request:

1. ``StateInit``      fresh request state, clock started
2. ``TlsGuard``       plain HTTP refused; client certificate verified (per connection)
3. ``Sanitizer``      host/path canonical, ambiguities refused, spoofable headers stripped
4. ``Router``         host + path prefix -> route (unknown: 404)
5. ``DevicePosture``  device revocation, inventory owners and posture
6. ``Authenticator``  bearer token verified (issuers, keys, claims, revocation, replay)
7. ``RateLimit``      token buckets per subject, device, source address (429)
8. ``PolicyEnforcer`` the policy decision point decides; deny by default
9. ``Revoker``        remembers who is on each connection; cuts them on revocation
10. ``Envelope``      inter-system routes: seal or open bodies (SM2 + SM4)
11. ``Assertion``     the signed identity assertion header for the upstream
12. ``Forwarder``     the upstream and the canonical path are set (lazy connect: only now)
13. ``Auditor``       one ECS audit line + metrics per decision (response and error)
14. ``AdminServer``   /healthz, /readyz, /metrics on the admin listener
15. ``Reloader``      watches the reloadable files
"""

from __future__ import annotations

from typing import Any

from gateway.addons.admin_server import AdminServer
from gateway.addons.assertion import Assertion
from gateway.addons.auditor import Auditor
from gateway.addons.authenticator import Authenticator
from gateway.addons.device_posture import DevicePosture
from gateway.addons.envelope import Envelope
from gateway.addons.forwarder import Forwarder
from gateway.addons.policy_enforcer import PolicyEnforcer
from gateway.addons.rate_limiter import RateLimit
from gateway.addons.reloader import Reloader
from gateway.addons.revoker import Revoker
from gateway.addons.router import Router
from gateway.addons.sanitizer import Sanitizer
from gateway.addons.state_init import StateInit
from gateway.addons.tls_guard import TlsGuard
from gateway.state import Runtime


def gateway_addons(runtime: Runtime) -> list[Any]:
    """The gateway's addons in processing order (see the module docstring)."""
    return [
        StateInit(),
        TlsGuard(runtime),
        Sanitizer(runtime),
        Router(runtime),
        DevicePosture(runtime),
        Authenticator(runtime),
        RateLimit(runtime),
        PolicyEnforcer(runtime),
        Revoker(runtime),
        Envelope(runtime),
        Assertion(runtime),
        Forwarder(),
        Auditor(runtime),
        AdminServer(runtime),
        Reloader(runtime),
    ]


__all__ = ["gateway_addons"]
