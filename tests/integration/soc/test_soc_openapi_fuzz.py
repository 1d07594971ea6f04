"""The published OpenAPI document, fuzzed with schemathesis in-process: no server errors.

Every operation gets generated requests (valid and edge-case bodies, paths and queries) sent
with an admin token (so requests reach the handlers rather than stopping at the role check);
any 5xx fails. Bounded: a fixed number of examples per operation, no deadline.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

pytestmark = pytest.mark.slow

EXAMPLES = 8


def test_the_openapi_document_is_published(soc_sqlite):
    doc = soc_sqlite.client.get("/api/openapi.json").json()
    assert doc["info"]["title"] == "Tulou SOC"
    assert "/api/v1/alerts/ingest" in doc["paths"]
    assert not any(p.startswith("/alerts") for p in doc["paths"])  # web pages are not API


def test_no_operation_gives_a_server_error(soc_sqlite):
    for _ in range(3):
        soc_sqlite.new_alert()
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", soc_sqlite.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    headers = soc_sqlite.headers("admin")
    failures: list[str] = []

    def check(case):
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.path}: {response.status_code} "
                f"{case.path_parameters} {case.query} {str(case.body)[:200]}"
            )

    for operation in operations:
        fuzz = settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )(given(case=operation.as_strategy())(check))
        fuzz()
    assert failures == []
