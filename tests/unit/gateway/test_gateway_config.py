"""Config, inventory and revocation files: typed, validated, errors name the place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from gateway.config import load_config
from gateway.inventory import load_inventory
from gateway.revocation import load_revocations
from lab.gateway_kit import EXAMPLES
from tulou.errors import ConfigError


def test_example_config_loads_and_resolves() -> None:
    config = load_config(EXAMPLES / "gateway.yaml")
    assert config.policy == (EXAMPLES / "policy.yaml").resolve()
    assert config.routes[0].upstream_parts == ("http", "127.0.0.1", 8081)
    assert config.assertion is not None and config.assertion.ttl == 60


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"routes": []}, "routes"),
        ({"routes": [{"id": "x", "host": "h", "upstream": "ftp://a"}]}, "upstream"),
        ({"routes": [{"id": "x", "host": "h", "upstream": "http://u:p@a"}]}, "credentials"),
        ({"routes": [{"id": "X Y", "host": "h", "upstream": "http://a"}]}, "id"),
        ({"unknown": 1}, "unknown"),
        (
            {"routes": [{"id": "x", "host": "h", "upstream": "http://a", "inter_system": "seal"}]},
            "envelope",
        ),
    ],
)
def test_bad_configs(tmp_path: Path, change: dict[str, object], fragment: str) -> None:
    data = yaml.safe_load((EXAMPLES / "gateway.yaml").read_text())
    data.update(change)
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert fragment in str(info.value).lower()


def test_inventory(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    path = tmp_path / "inv.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "devices": [
                    {
                        "fingerprint": "AB" * 32,
                        "owners": ["alice"],
                        "enrolled": True,
                        "last_checkin": (now - timedelta(hours=2)).isoformat(),
                    }
                ]
            }
        )
    )
    inventory = load_inventory(path, freshness=3600)
    owners, posture = inventory.lookup("ab" * 32, now)
    assert owners == {"alice"} and posture is not None and posture.enrolled
    assert not posture.fresh and not posture.disk_encrypted
    assert load_inventory(path, freshness=86400).lookup("ab" * 32, now)[1].fresh  # type: ignore[union-attr]
    assert inventory.lookup("cd" * 32, now) == (frozenset(), None)
    for bad in (
        {"devices": [{"fingerprint": "xyz"}]},
        {"devices": [{"fingerprint": "ab" * 32, "enrolled": "yes"}]},
        {"devices": "x"},
    ):
        path.write_text(yaml.safe_dump(bad))
        with pytest.raises(ConfigError):
            load_inventory(path, 1)


def test_revocations(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"tokens": ["j"], "devices": ["AB"]}))
    revocations = load_revocations(path)
    assert revocations.reason(token_id="j", subject=None, device=None) == "token revoked"
    assert revocations.reason(token_id=None, subject=None, device="ab") == "device revoked"
    assert revocations.reason(token_id="k", subject="s", device=None) is None
    path.write_text("tokens: [1]\n")
    with pytest.raises(ConfigError):
        load_revocations(path)
