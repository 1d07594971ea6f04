"""Addon: system-to-system routes seal or open bodies with the crypto envelope.

``inter_system: seal`` (sending gateway): after the policy allowed the request, its body is
sealed to the route's peer gateway, bound to method and path (:mod:`gateway.sealing`); the
peer's sealed response is verified and opened before it goes back to the client, and a
response that does not verify becomes a 502.

``inter_system: open`` (receiving gateway): the body must be an envelope from a configured peer
whose binding matches this request; it is verified (signature, freshness, replay) and
decrypted, and the app receives plaintext. The app's response is sealed back to the sender.
Anything that does not verify is refused with ``builtin:envelope-invalid`` (403) and never
reaches the app.
"""

from __future__ import annotations

from mitmproxy import http

from gateway.addons._common import deny, state_of
from gateway.policy import BUILTIN_ENVELOPE_INVALID, Decision
from gateway.sealing import CONTENT_TYPE, Sealer
from gateway.state import Runtime
from tulou.errors import TulouError

_SENDER = "tulou.envelope.sender"
_MESSAGE = "tulou.envelope.message"


class Envelope:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.sealer: Sealer | None = runtime.extras.get("sealer")

    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done or state.route is None or state.decision is None:
            return
        mode = state.route.inter_system
        if mode == "off":
            return
        if self.sealer is None:
            reason = "inter-system route without envelope keys"
            deny(flow, state, Decision.deny(BUILTIN_ENVELOPE_INVALID, reason, 502))
            return
        request = flow.request
        if mode == "seal":
            binding = {
                "m": request.method.upper(),
                "p": state.path,
                "ct": request.headers.get("content-type", ""),
            }
            assert state.route.peer is not None  # checked when the config was loaded
            request.content = self.sealer.seal(binding, request.content or b"", state.route.peer)
            request.headers["Content-Type"] = CONTENT_TYPE
            flow.metadata[_SENDER] = state.route.peer
            state.sealed = True
            return
        try:
            if request.headers.get("content-type", "") != CONTENT_TYPE:
                raise TulouError("request body is not an envelope")
            opened = self.sealer.open(request.content or b"")
            if (opened.binding.get("m"), opened.binding.get("p")) != (
                request.method.upper(),
                state.path,
            ):
                raise TulouError("envelope was sealed for another method or path")
        except TulouError as exc:
            reason = f"envelope refused: {exc.message}"
            deny(flow, state, Decision.deny(BUILTIN_ENVELOPE_INVALID, reason, 403))
            return
        request.content = opened.body
        if opened.content_type:
            request.headers["Content-Type"] = opened.content_type
        else:
            request.headers.pop("content-type", None)
        request.headers["X-Tulou-Envelope-Sender"] = opened.sender
        flow.metadata[_SENDER] = opened.sender
        flow.metadata[_MESSAGE] = opened.message_id
        state.sealed = True

    def response(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        response = flow.response
        if state is None or response is None or not state.sealed or self.sealer is None:
            return
        assert state.route is not None
        peer = flow.metadata.get(_SENDER)
        if state.route.inter_system == "open":
            binding = {
                "s": response.status_code,
                "ct": response.headers.get("content-type", ""),
                "rq": flow.metadata.get(_MESSAGE),
            }
            response.content = self.sealer.seal(binding, response.content or b"", str(peer))
            response.headers["Content-Type"] = CONTENT_TYPE
            return
        try:
            if response.headers.get("content-type", "") != CONTENT_TYPE:
                raise TulouError("peer response is not an envelope")
            opened = self.sealer.open(response.content or b"", from_peer=str(peer))
        except TulouError as exc:
            reason = f"peer response refused: {exc.message}"
            state.decision = Decision.deny(BUILTIN_ENVELOPE_INVALID, reason, 502)
            flow.response = http.Response.make(
                502, b'{"error": "bad gateway"}', {"Content-Type": "application/json"}
            )
            return
        response.content = opened.body
        if opened.content_type:
            response.headers["Content-Type"] = opened.content_type
