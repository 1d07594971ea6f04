"""``tulou backup key list|add|passwd|remove`` on a two-site policy: every site changes, the
passphrases that should open the repository do and the others do not."""

from __future__ import annotations

import json

import pytest

from tests.integration.backup.conftest import PASSPHRASE, Sandbox
from tulou.cli import main

NEW = "a brand new passphrase"


@pytest.fixture
def keyed(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    sandbox.tulou("backup", "init", "--policy", str(sandbox.policy), "--kdf-iterations", "2000")
    sandbox.tulou("backup", "run", "--policy", str(sandbox.policy))
    monkeypatch.setenv("TULOU_BACKUP_NEW_PASSPHRASE", NEW)
    return sandbox


def _opens(sb: Sandbox, monkeypatch: pytest.MonkeyPatch, secret: str) -> dict[str, bool]:
    """Per site: whether ``secret`` opens it (exit 0) or is refused as wrong (exit 5)."""
    monkeypatch.setenv("TULOU_BACKUP_PASSPHRASE", secret)
    opened = {}
    for site in ("primary", "secondary"):
        code = main(["--json", "backup", "snapshots", "--policy", str(sb.policy), "--site", site])
        assert code in (0, 5)
        opened[site] = code == 0
    monkeypatch.setenv("TULOU_BACKUP_PASSPHRASE", PASSPHRASE)
    return opened


def test_add_list_and_remove_a_passphrase(keyed: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    sb, policy = keyed, str(keyed.policy)
    (first,) = sb.tulou("backup", "key", "list", "--policy", policy)
    assert first["current"] and first["sites"] == ["primary", "secondary"]
    assert first["kdf"] == "pbkdf2-hmac-sm3" and first["iterations"] == 2000
    added = sb.tulou("backup", "key", "add", "--policy", policy, "--kdf-iterations", "2000")
    assert added["sites"] == {"primary": "added", "secondary": "added"}
    assert NEW not in json.dumps(added)
    rows = sb.tulou("backup", "key", "list", "--policy", policy)
    assert {r["id"] for r in rows} == {first["id"], added["id"]}
    assert all(r["sites"] == ["primary", "secondary"] for r in rows)
    assert _opens(sb, monkeypatch, NEW) == {"primary": True, "secondary": True}
    assert _opens(sb, monkeypatch, PASSPHRASE) == {"primary": True, "secondary": True}

    # The key in use cannot be removed; the other one can, and its passphrase stops working.
    sb.tulou("backup", "key", "remove", "--policy", policy, first["id"][:10], expect=2)
    removed = sb.tulou("backup", "key", "remove", "--policy", policy, added["id"][:10])
    assert removed["sites"] == {"primary": "removed", "secondary": "removed"}
    assert _opens(sb, monkeypatch, NEW) == {"primary": False, "secondary": False}
    sb.tulou("backup", "key", "remove", "--policy", policy, "ffff", expect=6)


def test_passwd_changes_the_passphrase_at_every_site(
    keyed: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb, policy = keyed, str(keyed.policy)
    changed = sb.tulou("backup", "key", "passwd", "--policy", policy, "--kdf-iterations", "2000")
    assert changed["sites"] == {"primary": "changed", "secondary": "changed"}
    assert _opens(sb, monkeypatch, PASSPHRASE) == {"primary": False, "secondary": False}
    assert _opens(sb, monkeypatch, NEW) == {"primary": True, "secondary": True}
    monkeypatch.setenv("TULOU_BACKUP_PASSPHRASE", NEW)
    (only,) = sb.tulou("backup", "key", "list", "--policy", policy)
    assert only["id"] == changed["id"] and only["current"]
    assert sb.tulou("backup", "verify", "--policy", policy, "--read-data")["ok"]


def test_an_append_only_site_keeps_a_removed_key_and_says_so(
    keyed: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb, policy = keyed, str(keyed.policy)
    added = sb.tulou("backup", "key", "add", "--policy", policy, "--kdf-iterations", "2000")
    sb.policy.write_text(
        sb.policy.read_text().replace(
            'name = "secondary"', 'name = "secondary"\nappend_only = true'
        )
    )
    error = sb.tulou("backup", "key", "remove", "--policy", policy, added["id"][:12], expect=7)
    assert "NOT at secondary" in error["error"] and "append-only" in error["error"]
    assert _opens(sb, monkeypatch, NEW) == {"primary": False, "secondary": True}


def test_a_new_passphrase_never_comes_from_the_command_line(keyed: Sandbox) -> None:
    keyed.tulou("backup", "key", "add", "--policy", str(keyed.policy), "--new-passphrase",
                "x", expect=2)  # fmt: skip
