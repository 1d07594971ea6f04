"""A benign day on the city range: citizens, staff, an administrator and a peer system at work.

Everyone uses their own token from their own device and address (see ``lab.cityconfig.PEOPLE``)
and does what the policy allows: citizens read the catalogue, look up and file applications,
download a form and attach a document; staff read shared datasets on the exchange; the
administrator opens the console from a managed laptop; the civil-affairs system delivers a
sealed batch of records. Every request must succeed (anything else means the range misbehaves)
and no rule may raise an alert.
"""

from __future__ import annotations

from typing import ClassVar

import httpx

from lab.cityconfig import PEOPLE
from lab.range import CityRange, expect_status
from lab.scenarios.base import Scenario, Stage
from lab.scenarios.system_to_system import deliver_sealed

PORTAL = "https://portal.city.test"
EXCHANGE = "https://exchange.city.test"
ADMIN = "https://admin.city.test"
AGENTS = {
    "carol": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148 Safari/604.1",
    "erin": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "alice": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "bob": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
    "dave": "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
}


def _session(city: CityRange, name: str) -> tuple[httpx.Client, dict[str, str]]:
    client = city.person_client(name, user_agent=AGENTS[name])
    return client, {"Authorization": f"Bearer {city.token(name)}"}


def _citizen(city: CityRange, name: str, application: int) -> None:
    client, auth = _session(city, name)
    with client:
        expect_status(client.get(f"{PORTAL}/api/services"), 200)  # anonymous catalogue
        expect_status(client.get(f"{PORTAL}/api/applications?id={application}", headers=auth), 200)
        form = f"{PORTAL}/api/files?name=residence-permit.pdf"
        expect_status(client.get(form, headers=auth), 200)
        filed = client.post(
            f"{PORTAL}/api/applications", json={"service": "residence-permit"}, headers=auth
        )
        expect_status(filed, 201)
        files = {"file": (f"{name}-id-card.pdf", b"%PDF-1.4 id card\n", "application/pdf")}
        expect_status(client.post(f"{PORTAL}/api/upload", files=files, headers=auth), 201)
        expect_status(client.get(f"{PORTAL}/uploads/{name}-id-card.pdf", headers=auth), 200)


def _staff(city: CityRange, name: str) -> None:
    client, auth = _session(city, name)
    with client:
        expect_status(client.get(f"{EXCHANGE}/api/datasets", headers=auth), 200)
        for dataset in ("population-2025", "business-register"):
            expect_status(client.get(f"{EXCHANGE}/api/datasets/{dataset}", headers=auth), 200)
        expect_status(client.get(f"{PORTAL}/api/applications?id=1002", headers=auth), 200)


def _administrator(city: CityRange) -> None:
    client, auth = _session(city, "dave")
    with client:
        for page in ("/admin/", "/admin/users", "/admin/audit"):
            expect_status(client.get(f"{ADMIN}{page}", headers=auth), 200)
        expect_status(
            client.post(f"{ADMIN}/admin/users", json={"user": "frank"}, headers=auth), 201
        )


class BenignGatewayDay(Scenario):
    name: ClassVar[str] = "benign-gateway-day"
    title: ClassVar[str] = (
        "A normal day behind the gateway: citizens, staff, an admin, a peer system"
    )
    techniques: ClassVar[tuple[str, ...]] = ()
    expects: ClassVar[tuple[str, ...]] = ()
    needs_range: ClassVar[bool] = True

    def play(self, stage: Stage) -> None:
        city = stage.range
        with city.recording(stage):
            _citizen(city, "carol", 1001)
            _citizen(city, "erin", 1002)
            _staff(city, "alice")
            _staff(city, "bob")
            _administrator(city)
            deliver_sealed(stage, 100)
        people = ", ".join(f"{n} ({PEOPLE[n].address})" for n in AGENTS)
        stage.note(f"normal work by {people} and one sealed delivery; every request succeeded")


SCENARIOS: tuple[type[Scenario], ...] = (BenignGatewayDay,)
