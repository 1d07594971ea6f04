"""Scenarios on identity and devices, played through the live gateway of the city range.

* ``stolen-token-replay`` — alice's bearer token, used normally from her laptop, is replayed
  from another machine and address (the jti replay cache refuses it), then used together with
  her cloned device key from the attacker's address (allowed: the address correlation sees it).
* ``unmanaged-or-revoked-device`` — mallory (departed; subject revoked, laptop on the CRL) and an
  unenrolled laptop try to get in.
* ``admin-privilege-escalation`` — a citizen account probes the admin console without a device
  certificate, then from an unmanaged laptop, hammering admin paths.

What they leave behind: the gateway's audit lines (collected by the runner) and the access-log
lines of the apps (registered here). The rule ids are those of ``rules/``.
"""

from __future__ import annotations

from typing import ClassVar

from lab.cityconfig import ATTACKER_ADDRESS, PEOPLE
from lab.range import expect_status
from lab.scenarios.base import Scenario, Stage

REPLAY = "25aef157-9ca0-5e13-bdf5-68c678dbf354"  # rules/gateway-token-replay.yml
MANY_ADDRESSES = "3efb0711-56f2-5c7a-9feb-1d36078be91c"  # rules/gateway-token-used-from-...
DEVICE_REFUSED = "b0b9094c-9c4f-58c8-be8c-5f620bd3c006"  # rules/gateway-device-certificate-...
REVOKED = "7a14d547-b962-5f3d-ac3f-d841ff4e4804"  # rules/gateway-revoked-credential-use.yml
ADMIN_NO_DEVICE = "613f136a-0ce6-58c9-8e4d-a819abf4d15a"  # rules/gateway-admin-route-without-...
ADMIN_UNMANAGED = "7b753ba1-8af6-5e61-9825-13a9d70a5aa9"  # rules/gateway-admin-route-unmanaged-...
DENIAL_BURST = "94aa342c-9095-557a-8c45-badb2601836d"  # rules/gateway-denial-burst.yml

EXCHANGE = "https://exchange.city.test"
PORTAL = "https://portal.city.test"
ADMIN = "https://admin.city.test"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class StolenTokenReplay(Scenario):
    name: ClassVar[str] = "stolen-token-replay"
    title: ClassVar[str] = "A staff token stolen from alice's laptop is replayed from elsewhere"
    techniques: ClassVar[tuple[str, ...]] = ("T1550.001", "T1528")
    expects: ClassVar[tuple[str, ...]] = (REPLAY, MANY_ADDRESSES)
    needs_range: ClassVar[bool] = True

    def play(self, stage: Stage) -> None:
        city = stage.range
        with city.recording(stage):
            auth = _bearer(city.token("alice"))
            with city.person_client("alice") as laptop:
                for path in ("/api/datasets", "/api/datasets/population-2025"):
                    expect_status(laptop.get(f"{EXCHANGE}{path}", headers=auth), 200)
            # The thief has the token (e.g. from a proxy log), not alice's laptop: the replay
            # cache bound the token to her device on first use and refuses it.
            with city.client("unmanaged-laptop", ATTACKER_ADDRESS) as thief:
                for path in ("/api/datasets/population-2025", "/api/datasets/business-register"):
                    expect_status(thief.get(f"{EXCHANGE}{path}", headers=auth), 401)
                expect_status(thief.get(f"{PORTAL}/api/applications?id=1001", headers=auth), 401)
            # Malware also copied the laptop's client key: the binding holds and the gateway
            # lets it through -- only the second address gives the theft away (correlation).
            with city.client("alice-laptop", ATTACKER_ADDRESS) as cloned:
                path = "/api/datasets/business-register"
                expect_status(cloned.get(f"{EXCHANGE}{path}", headers=auth), 200)
        stage.note(
            f"alice's token used from {PEOPLE['alice'].address}; replayed 3x from "
            f"{ATTACKER_ADDRESS} on another laptop (refused), then once with her cloned "
            "device key (allowed)"
        )


class UnmanagedOrRevokedDevice(Scenario):
    name: ClassVar[str] = "unmanaged-or-revoked-device"
    title: ClassVar[str] = (
        "A departed employee's revoked laptop and an unenrolled laptop try to get in"
    )
    techniques: ClassVar[tuple[str, ...]] = ("T1078", "T1200")
    expects: ClassVar[tuple[str, ...]] = (DEVICE_REFUSED, REVOKED)
    needs_range: ClassVar[bool] = True

    def play(self, stage: Stage) -> None:
        city = stage.range
        mallory = PEOPLE["mallory"]
        with city.recording(stage):
            token = _bearer(city.token("mallory"))
            # Her laptop's certificate is on the CRL: refused before any token is looked at.
            with city.client(mallory.device, mallory.address) as laptop:
                for path in ("/api/datasets", "/api/datasets/business-register"):
                    expect_status(laptop.get(f"{EXCHANGE}{path}", headers=token), 403)
            # Same person from an unenrolled laptop: her subject is on the revocation list.
            with city.client("unmanaged-laptop", mallory.address) as other:
                expect_status(other.get(f"{EXCHANGE}/api/datasets", headers=token), 403)
                expect_status(other.get(f"{PORTAL}/api/applications?id=1001", headers=token), 403)
            # A valid staff token on an unenrolled laptop: the policy wants an enrolled device.
            with city.client("unmanaged-laptop", ATTACKER_ADDRESS) as unknown:
                bob = _bearer(city.token("bob"))
                expect_status(unknown.get(f"{EXCHANGE}/api/datasets", headers=bob), 403)
        stage.note(
            "revoked laptop refused 2x (CRL), revoked subject refused 2x, "
            "unenrolled laptop denied 1x by policy"
        )


class AdminPrivilegeEscalation(Scenario):
    name: ClassVar[str] = "admin-privilege-escalation"
    title: ClassVar[str] = "A citizen account probes the admin console, then hammers it"
    techniques: ClassVar[tuple[str, ...]] = ("T1078", "T1068", "T1595.003")
    expects: ClassVar[tuple[str, ...]] = (ADMIN_NO_DEVICE, ADMIN_UNMANAGED, DENIAL_BURST)
    needs_range: ClassVar[bool] = True

    PROBES: ClassVar[tuple[str, ...]] = (
        "/admin/",
        "/admin/users",
        "/admin/audit",
        "/admin/config",
        "/admin/users/1",
        "/manage/",
        "/api/admin/users",
        "/admin/login",
    )

    def play(self, stage: Stage) -> None:
        city = stage.range
        carol = PEOPLE["carol"]
        with city.recording(stage):
            # A citizen tries the console from her own browser (no device certificate).
            with city.client(None, carol.address) as browser:
                token = _bearer(city.token("carol"))
                for path in ("/admin/", "/admin/users"):
                    expect_status(browser.get(f"{ADMIN}{path}", headers=token), 403)
            # An attacker with a (phished) citizen account, from an unenrolled laptop.
            attacker_token = _bearer(city.token("erin"))
            with city.client("unmanaged-laptop", ATTACKER_ADDRESS) as laptop:
                for _ in range(3):
                    for path in self.PROBES:
                        expect_status(laptop.get(f"{ADMIN}{path}", headers=attacker_token), 403)
        stage.note(
            f"2 admin requests without a device; {3 * len(self.PROBES)} admin probes from "
            f"{ATTACKER_ADDRESS} on an unenrolled laptop, all denied"
        )


SCENARIOS: tuple[type[Scenario], ...] = (
    StolenTokenReplay,
    UnmanagedOrRevokedDevice,
    AdminPrivilegeEscalation,
)
