from __future__ import annotations

import json

import pytest

from tulou.cli import COMMAND_GROUPS, all_groups, main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_command_group(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for name in (
        "gateway",
        "crypto",
        "detect",
        "rules",
        "soc",
        "backup",
        "drill",
        "report",
    ):
        assert name in out
        assert name in COMMAND_GROUPS
    # The lab is an optional part: its groups come from the tulou.commands entry point.
    for name in ("lab", "demo"):
        assert name in out
        assert name not in COMMAND_GROUPS and name in all_groups()


def test_the_core_never_names_the_lab() -> None:
    assert not any(target.startswith("lab.") for target, _ in COMMAND_GROUPS.values())


def test_every_group_imports_and_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for name in all_groups():
        code, out, err = run(capsys, name, "--help")
        assert code == 0, (name, err)
        assert "Usage: tulou" in out


def test_wrong_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--no-such-option")
    assert code == 2
    assert "No such option" in err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "frobnicate")
    assert code == 2
    assert "frobnicate" in err


def test_version_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "version", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["tulou"]
    assert data["python"].startswith("3.12")


def test_global_json_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--json", "exit-codes")
    assert code == 0
    assert json.loads(out)["5"].startswith("verification failed")


def test_config_error_exit_code(capsys: pytest.CaptureFixture[str], tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TULOU_SECRET_KEY", "changeme")
    monkeypatch.chdir(tmp_path)
    import click

    from tulou.clikit import app

    @click.command()
    def probe() -> None:
        _ = app().settings

    from tulou.cli import cli

    cli.add_command(probe, "probe-settings")
    try:
        code, _, err = run(capsys, "probe-settings")
    finally:
        cli.commands.pop("probe-settings")
    assert code == 3
    assert "placeholder" in err
    assert "changeme" not in err
