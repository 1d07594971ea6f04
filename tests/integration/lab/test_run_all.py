"""``tulou lab run-all``: every registered scenario, end to end, on SQLite and on Elasticsearch.

The real CLI in a subprocess (as an operator runs it): the SOC, the city range (gateway + sample
apps), detect and the rules, all real. The purple team passes only when every attack's expected
alerts reached the SOC and every benign day raised nothing; the JSON names each scenario.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from lab.scenarios import all_scenarios

pytestmark = pytest.mark.slow

#: The scenario families the issue asks for (a scenario name must contain one of each group).
REQUIRED = [
    ("stuffing",),
    ("spray",),
    ("replay",),
    ("device",),
    ("admin", "escalation", "privilege"),
    ("port-scan", "scan"),
    ("dns",),
    ("sql",),
    ("webshell",),
    ("linux",),
    ("ransomware",),
    ("sm2", "tamper"),
    ("benign",),
]


def _run_all(tmp_path: Path, *extra: str) -> dict[str, Any]:
    env = {**os.environ, "TULOU_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-m", "tulou", "--json", "lab", "run-all", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    try:
        data: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON (exit {result.returncode}): {result.stdout[-2000:]}{result.stderr}")
    failed = [s for s in data["scenarios"] if not s["ok"]]
    assert result.returncode == (0 if not failed else 5), result.stderr[-2000:]
    assert not failed, json.dumps(failed, indent=1)
    return data


def _check(data: dict[str, Any]) -> None:
    names = [s["scenario"] for s in data["scenarios"]]
    assert names == [s.name for s in all_scenarios()]
    for group in REQUIRED:
        assert any(word in name for name in names for word in group), f"no scenario for {group}"
    for scenario in data["scenarios"]:
        if scenario["benign"]:
            assert scenario["alerts"] == 0
        else:
            assert scenario["found"] == scenario["expected"]
            assert scenario["seconds_to_detect"] is not None
        assert scenario["events"] > 0


def test_run_all_on_sqlite(tmp_path: Path) -> None:
    data = _run_all(tmp_path)
    assert data["store"] == "sqlite"
    _check(data)


@pytest.mark.elasticsearch
def test_run_all_on_elasticsearch(tmp_path: Path, elasticsearch_url: str) -> None:
    index = f"test-lab-{uuid.uuid4().hex[:8]}"
    data = _run_all(tmp_path, "--store", f"{elasticsearch_url}/{index}")
    assert data["store"] == "elasticsearch"
    _check(data)
