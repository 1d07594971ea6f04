"""The city range's identities, devices, policy and gateway configuration (data + one writer).

Who is who: :data:`PEOPLE` (token claims, usual device and loopback address). The policy
(:data:`POLICY`) publishes three apps: the portal (service catalogue anonymous; citizens and
staff with a token), the data exchange (staff on their own enrolled device; peer systems through
the envelope route from an enrolled machine certificate) and the admin console (``admin`` role
on a bound, enrolled, encrypted, fresh device). Everything else is denied by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from lab.pki import DEVICES, RangePki

IDP_ISSUER = "https://idp.city.test"
AUDIENCE = "tulou-gateway"
ASSERTION_ISSUER = "tulou-city-gateway"
#: The envelope name of this range's gateway and of the peer system that sends to it.
GATEWAY_SYSTEM = "city-gw"
PEER_SYSTEM = "civil-affairs-gw"
#: The city's applications (route id -> host): the inventory the compliance report measures the
#: gateway's coverage against.
APPLICATIONS: dict[str, str] = {
    "portal": "portal.city.test",
    "exchange": "exchange.city.test",
    "admin": "admin.city.test",
}
#: Where attackers come from (a loopback address no lab person uses).
ATTACKER_ADDRESS = "127.0.0.66"


@dataclass(frozen=True)
class Person:
    """A lab identity: token claims, the device they normally use and their usual address."""

    name: str
    groups: tuple[str, ...]
    roles: tuple[str, ...]
    device: str | None
    address: str


PEOPLE: dict[str, Person] = {
    p.name: p
    for p in (
        Person("alice", ("staff",), (), "alice-laptop", "127.0.0.11"),
        Person("bob", ("staff",), (), "bob-laptop", "127.0.0.12"),
        Person("dave", ("staff",), ("admin",), "dave-laptop", "127.0.0.13"),
        Person("carol", ("citizens",), (), None, "127.0.0.21"),
        Person("erin", ("citizens",), (), None, "127.0.0.22"),
        # a departed employee: subject on the revocation list, laptop on the CRL
        Person("mallory", ("staff",), (), "revoked-laptop", "127.0.0.31"),
    )
}
REVOKED_SUBJECTS = ("mallory",)

POLICY: dict[str, Any] = {
    "version": 1,
    "rules": [
        {
            "id": "portal-catalogue",
            "effect": "allow",
            "description": "anyone may read the service catalogue",
            "anonymous": True,
            "routes": ["portal"],
            "methods": ["GET", "HEAD"],
            "paths": ["/api/services"],
        },
        {
            "id": "portal-residents",
            "effect": "allow",
            "description": "citizens and staff use the portal with a valid token",
            "routes": ["portal"],
            "methods": ["GET", "POST"],
            "paths": ["/api/**", "/uploads/**"],
            "groups": ["citizens", "staff"],
        },
        {
            "id": "exchange-staff",
            "effect": "allow",
            "description": "staff read shared datasets from their own managed device",
            "routes": ["exchange"],
            "methods": ["GET", "HEAD"],
            "paths": ["/api/**"],
            "groups": ["staff"],
            "device": {"bound": True, "enrolled": True, "fresh": True},
        },
        {
            "id": "exchange-peer-systems",
            "effect": "allow",
            "description": "peer systems deliver sealed records from an enrolled machine",
            "anonymous": True,
            "routes": ["exchange-inbound"],
            "methods": ["POST"],
            "device": {"required": True, "enrolled": True},
        },
        {
            "id": "admin-console",
            "effect": "allow",
            "description": "administrators on a managed, encrypted, fresh device",
            "routes": ["admin"],
            "roles": ["admin"],
            "device": {
                "bound": True,
                "enrolled": True,
                "disk_encrypted": True,
                "fresh": True,
            },
        },
    ],
}


def _yaml(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def write_gateway_config(work: Path, pki: RangePki, ports: dict[str, int]) -> Path:
    """Write gateway.yaml and the files it names under ``work``; return the config path."""
    now = datetime.now(UTC)
    inventory = [
        {
            "fingerprint": files.fingerprint,
            "device_id": name,
            "owners": list(DEVICES[name] or ()),
            "enrolled": True,
            "os_patch_level": now.strftime("%Y-%m"),
            "disk_encrypted": True,
            "last_checkin": now.isoformat(),
        }
        for name, files in pki.devices.items()
        if DEVICES[name] is not None
    ]
    _yaml(work / "inventory.yaml", {"devices": inventory})
    _yaml(work / "policy.yaml", POLICY)
    _yaml(work / "revocations.yaml", {"tokens": [], "subjects": list(REVOKED_SUBJECTS)})
    keys = [
        {"kid": "es-1", "alg": "ES256", "public_key": str(pki.public("idp-es"))},
        {"kid": "sm-1", "alg": "SM2SM3", "public_key": str(pki.public("idp-sm2"))},
    ]
    issuer = {
        "name": "city-idp",
        "issuer": IDP_ISSUER,
        "audience": [AUDIENCE],
        "max_lifetime": 3600,
        "keys": keys,
    }
    _yaml(work / "issuers.yaml", {"issuers": [issuer]})
    portal, exchange, admin = (ports[n] for n in ("portal", "exchange", "admin"))
    config = {
        "listen": {"host": "127.0.0.1", "port": 0},
        "admin": {"host": "127.0.0.1", "port": 0},
        "tls": {"cert": "pki/gateway.pem", "key": "pki/gateway.key"},
        "device": {
            "ca": "pki/device-ca.pem",
            "crl": "pki/device.crl",
            "inventory": "inventory.yaml",
            "freshness": 86400,
        },
        "identity": {"issuers": "issuers.yaml", "revocations": "revocations.yaml", "leeway": 5},
        "policy": "policy.yaml",
        "routes": [
            {
                "id": "portal",
                "host": APPLICATIONS["portal"],
                "upstream": f"http://127.0.0.1:{portal}",
            },
            {
                "id": "exchange",
                "host": APPLICATIONS["exchange"],
                "upstream": f"http://127.0.0.1:{exchange}",
            },
            {
                "id": "exchange-inbound",
                "host": APPLICATIONS["exchange"],
                "prefix": "/inbound",
                "upstream": f"http://127.0.0.1:{exchange}",
                "inter_system": "open",
            },
            {"id": "admin", "host": APPLICATIONS["admin"], "upstream": f"http://127.0.0.1:{admin}"},
        ],
        "rate_limit": {
            "subject": {"rate": 100, "burst": 200},
            "device": {"rate": 100, "burst": 200},
            "ip": {"rate": 200, "burst": 400},
        },
        "assertion": {"key": "keys/assertion.key", "issuer": ASSERTION_ISSUER},
        "envelope": {
            "name": GATEWAY_SYSTEM,
            "private_key": f"keys/{GATEWAY_SYSTEM}.key",
            "peers": {PEER_SYSTEM: f"keys/{PEER_SYSTEM}.pub.pem"},
            "max_age": 300,
        },
        "audit": "audit.jsonl",
        "confdir": "state/mitmproxy",
        "reload_interval": 0.5,
        "drain_timeout": 1,
    }
    path = work / "gateway.yaml"
    _yaml(path, config)
    return path
