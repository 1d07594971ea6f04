"""The decision point as a service: what the fast data plane (nginx) asks for every request.

- :mod:`gateway.decision.front` — the request as the TLS front (nginx) describes it;
- :mod:`gateway.decision.point` — the decision pipeline: the same steps, in the same order,
  with the same pure components as the mitmproxy addons (policy engine, token verifier, state
  seam, route matcher, device verifier, inventory, assertion signer);
- :mod:`gateway.decision.cache` — the short decision cache (bounded TTL, flushed on reload);
- :mod:`gateway.decision.service` — the HTTP/1.1 server on a Unix socket nginx asks.

Nothing here imports mitmproxy (checked by import-linter).
"""
