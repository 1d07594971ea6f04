"""The shared crypto service of the service tests: two departments, officers, an outsider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crypto.service.client import KmsClient
from tests.fixtures.cryptoservice import RunningService, start_service

ACCOUNTS = {
    "admin": {"roles": ["kms-admin"]},
    "officer-a": {"groups": ["officers"]},
    "officer-b": {"groups": ["officers"]},
    "hr-app": {},
    "tax-app": {},
    "outsider": {},
    "limited": {},
}
POLICY = [
    {
        "id": "limited",
        "callers": ["service:limited"],
        "tenants": ["hr"],
        "keys": ["records/*"],
        "operations": ["encrypt"],
    },
    {
        "id": "admins",
        "callers": ["role:kms-admin"],
        "tenants": ["*"],
        "keys": ["*"],
        "operations": [
            "key-import",
            "tenant-create",
            "ring-create",
            "key-create",
            "key-read",
            "key-rotate",
            "key-update",
            "public-key",
            "export",
        ],
    },
    {
        "id": "officers-destroy",
        "callers": ["group:officers"],
        "tenants": ["*"],
        "keys": ["*"],
        "operations": [
            "key-destroy-request",
            "key-destroy-approve",
            "key-destroy-cancel",
            "key-read",
        ],
    },
    {
        "id": "hr-data",
        "callers": ["service:hr-app"],
        "tenants": ["hr"],
        "keys": ["records/*"],
        "operations": [
            "key-read",
            "encrypt",
            "decrypt",
            "rewrap",
            "generate-data-key",
            "mac",
            "mac-verify",
            "sign",
            "verify",
            "public-key",
        ],
    },
    {
        "id": "tax-exchange",
        "callers": ["service:tax-app"],
        "tenants": ["hr"],
        "keys": ["exchange/*"],
        "operations": ["decrypt", "verify", "public-key"],
    },
    {
        "id": "hr-exchange",
        "callers": ["service:hr-app"],
        "tenants": ["hr"],
        "keys": ["exchange/*"],
        "operations": ["encrypt", "generate-data-key", "sign", "key-read", "public-key"],
    },
    {
        "id": "pki-admin",
        "callers": ["role:kms-admin"],
        "tenants": ["city"],
        "keys": ["pki/*"],
        "operations": ["cert-issue", "cert-revoke", "cert-read", "cert-validate"],
    },
    {
        "id": "hr-pki",
        "callers": ["service:hr-app"],
        "tenants": ["hr"],
        "keys": ["records/*"],
        "operations": ["cert-issue", "cms-sign"],
    },
    {
        "id": "city-services",
        "callers": ["service:hr-app", "service:tax-app"],
        "tenants": ["city"],
        "keys": ["pki/*"],
        "operations": ["cms-verify", "cert-validate", "timestamp", "timestamp-verify"],
    },
    {
        "id": "tax-own",
        "callers": ["service:tax-app"],
        "tenants": ["tax"],
        "keys": ["*"],
        "operations": ["encrypt", "decrypt"],
    },
]


@pytest.fixture(scope="package")
def kms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    quota = '[quota]\ncallers = { "service:limited" = [0.5, 3.0] }\n'
    with start_service(tmp_path_factory.mktemp("kms"), ACCOUNTS, POLICY, extra=quota) as running:
        admin = KmsClient(running.url, running.tokens["admin"])
        for tenant in ("hr", "tax"):
            admin.request("POST", "/v1/tenants", {"tenant": tenant})
        for ring in ("records", "exchange"):
            admin.request("POST", "/v1/tenants/hr/rings", {"ring": ring})
        admin.request("POST", "/v1/tenants/tax/rings", {"ring": "records"})
        admin.close()
        yield running


@pytest.fixture
def client_for(kms: RunningService) -> Iterator[object]:
    made: list[KmsClient] = []

    def make(name: str) -> KmsClient:
        client = KmsClient(kms.url, kms.tokens[name])
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
