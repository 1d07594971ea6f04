"""Shared test configuration: fixtures plugins and the CI rule that listed suites never skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cpu import missing

pytest_plugins = [
    "tests.fixtures.elasticsearch",
    "tests.fixtures.postgres",
    "tests.fixtures.sshd",
    "tests.fixtures.s3",
    "tests.fixtures.browser",
    "tests.fixtures.redis",
    "tests.fixtures.smtp",
]

ROOT = Path(__file__).resolve().parent.parent


def _shared() -> Path:
    """``../shared`` beside the repository; ``TULOU_SHARED_DIR`` overrides (e.g. a clone
    made elsewhere, such as /tmp/fresh-clone, on a machine whose checkout has ../shared)."""
    override = os.environ.get("TULOU_SHARED_DIR")
    return Path(override) if override else ROOT.parent / "shared"


SHARED = _shared()
_MUST_NOT_SKIP = ROOT / "tests" / "must_not_skip.txt"


def _rules() -> tuple[set[str], tuple[str, ...]]:
    markers: set[str] = set()
    paths: list[str] = []
    for line in _MUST_NOT_SKIP.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kind, _, value = line.partition(":")
        if kind == "marker":
            markers.add(value)
        elif kind == "path":
            paths.append(value)
        else:
            raise pytest.UsageError(f"{_MUST_NOT_SKIP}: unknown entry {line!r}")
    return markers, tuple(paths)


def _enforced() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("TULOU_NO_SKIP") == "1"


_protected: dict[str, bool] = {}
_violations: list[str] = []
#: Tests skipped because the CPU lacks a feature their ``cpu`` marker names (allowed in CI).
_cpu_skipped: set[str] = set()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cpu(*flags): needs these /proc/cpuinfo CPU flags; skipped where absent (tests/cpu.py)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    markers, paths = _rules()
    for item in items:
        rel = Path(str(item.path)).resolve().relative_to(ROOT).as_posix()
        named = {m.name for m in item.iter_markers()}
        _protected[item.nodeid] = bool(named & markers) or rel.startswith(paths)
        needed = tuple(f for m in item.iter_markers("cpu") for f in m.args)
        absent = missing(needed)
        if absent:
            _cpu_skipped.add(item.nodeid)
            item.add_marker(pytest.mark.skip(reason=f"this CPU lacks {' '.join(absent)}"))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if (
        report.skipped
        and _protected.get(report.nodeid)
        and report.nodeid not in _cpu_skipped
        and not hasattr(report, "wasxfail")
    ):
        _violations.append(f"{report.nodeid}: {report.longrepr}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _violations and _enforced():
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "suites that must not skip in CI were skipped", red=True)
            for line in _violations:
                reporter.write_line(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def shared_data() -> Path:
    """../shared/data (public corpora); tests using it carry the ``corpus`` marker."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"{path} is absent (the public corpora live beside the repository)")
    return path
