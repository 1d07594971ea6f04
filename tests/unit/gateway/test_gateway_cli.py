"""`tulou gateway policy check | policy explain | token` through the real CLI, on the config
`tulou lab gateway-example` writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gateway.issuers import load_issuers
from gateway.tokens import TokenVerifier
from tulou.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    code, out, _ = run(capsys, "--json", "lab", "gateway-example", str(tmp_path / "ex"))
    assert code == 0
    paths: dict[str, str] = json.loads(out)
    return paths


def test_example_policy_checks(example: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    policy = str(Path(example["config"]).parent / "policy.yaml")
    code, out, _ = run(capsys, "gateway", "policy", "check", "--json", policy)
    assert code == 0
    assert [r["id"] for r in json.loads(out)["rules"]][:2] == ["no-admin", "hr-read"]


def test_broken_policy_exits_3_with_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("version: 1\nrules:\n  - id: a\n    effect: alow\n")
    code, _, err = run(capsys, "gateway", "policy", "check", str(bad))
    assert code == 3
    assert f"{bad}:3" in err


def test_explain(example: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    base = Path(example["config"]).parent
    args = [
        "--json",
        "gateway",
        "policy",
        "explain",
        "--policy",
        str(base / "policy.yaml"),
        "--config",
        example["config"],
        "--request",
        "GET https://hr.city.test/api/people",
        "--subject",
        "alice",
        "--group",
        "hr-staff",
        "--device-fingerprint",
        "ab",
        "--device-owner",
        "alice",
    ]
    code, out, _ = run(capsys, *args)
    data = json.loads(out)
    assert code == 0 and data["allowed"] and data["rule_id"] == "hr-read"
    assert data["route"] == "hr" and len(data["trace"]) >= 2
    code, out, _ = run(capsys, *args[:-4])
    data = json.loads(out)
    assert not data["allowed"] and data["rule_id"] == "builtin:default-deny"
    assert "device" in data["reason"]
    code, _, _ = run(
        capsys,
        "gateway",
        "policy",
        "explain",
        "--policy",
        str(base / "policy.yaml"),
        "--request",
        "nonsense",
    )
    assert code == 2


@pytest.mark.parametrize(
    ("alg", "key", "kid"), [("ES256", "idp-es", "es-1"), ("SM2SM3", "idp-sm2", "sm-1")]
)
def test_issued_tokens_verify(
    example: dict[str, str], capsys: pytest.CaptureFixture[str], alg: str, key: str, kid: str
) -> None:
    base = Path(example["config"]).parent
    code, out, _ = run(
        capsys,
        "--json",
        "gateway",
        "token",
        "--key",
        str(base / "keys" / f"{key}.key"),
        "--alg",
        alg,
        "--kid",
        kid,
        "--issuer",
        "https://idp.city.test",
        "--audience",
        "tulou-gateway",
        "--subject",
        "alice",
        "--group",
        "hr-staff",
        "--claim",
        "acr=mfa",
    )
    assert code == 0
    token = json.loads(out)["token"]
    identity = TokenVerifier(load_issuers(base / "issuers.yaml")).verify(token, binding="x")
    assert identity.subject == "alice" and identity.groups == frozenset({"hr-staff"})
    assert identity.claims["acr"] == "mfa"


def test_explain_picks_the_route_the_router_picks(
    example: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--config` uses the router's matcher: prefixes end on a segment boundary, `*` is one
    label, and a request no route serves is denied as the gateway denies it (404)."""
    config_path = Path(example["config"])
    config = yaml.safe_load(config_path.read_text())
    upstream = config["routes"][0]["upstream"]
    config["routes"] = [
        {"id": "api", "host": "hr.city.test", "prefix": "/api", "upstream": upstream},
        {"id": "wild", "host": "*.city.test", "prefix": "/", "upstream": upstream},
    ]
    config_path.write_text(yaml.safe_dump(config))
    policy = str(config_path.parent / "policy.yaml")

    def route_of(url: str) -> dict[str, object]:
        code, out, _ = run(
            capsys, "--json", "gateway", "policy", "explain", "--policy", policy,
            "--config", str(config_path), "--request", f"GET {url}",
        )  # fmt: skip
        assert code == 0
        return dict(json.loads(out))

    assert route_of("https://hr.city.test/api/people")["route"] == "api"
    assert route_of("https://hr.city.test/apix")["route"] == "wild"
    unrouted = route_of("https://a.b.city.test/")
    assert unrouted["route"] is None
    assert (unrouted["rule_id"], unrouted["status"]) == ("builtin:no-route", 404)
