"""The Elasticsearch index-loss drill against the real lab node (marker ``elasticsearch``).

The node must list a folder in its ``path.repo`` setting: Elasticsearch only writes ``fs``
snapshot repositories there. The lab node sets it to ``<home>/snapshots``
(lab/es/src/org/elasticsearch/node/LabNode.java); the test reads it from the node's settings.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.integration.backup.conftest import Sandbox, write_policy

pytestmark = pytest.mark.elasticsearch

INDEX = "test-backup-events"


def _call(url: str, method: str, path: str, body: object = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}{path}", data=data, method=method)
    request.add_header(
        "Content-Type", "application/x-ndjson" if "_bulk" in path else "application/json"
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _path_repo(url: str) -> list[str]:
    nodes = _call(url, "GET", "/_nodes/_local/settings")
    assert isinstance(nodes, dict)
    settings = next(iter(nodes["nodes"].values()))["settings"]
    value = settings.get("path", {}).get("repo", [])
    return [value] if isinstance(value, str) else list(value)


def test_es_index_loss_restores_event_counts(sandbox: Sandbox, elasticsearch_url: str) -> None:
    repo_roots = _path_repo(elasticsearch_url)
    assert repo_roots, "the lab node must set path.repo (lab/es/.../LabNode.java)"
    events = "".join(
        json.dumps({"index": {"_index": INDEX}})
        + "\n"
        + json.dumps(
            {
                "@timestamp": f"2026-11-26T10:00:{i % 60:02d}Z",
                "event.kind": "event",
                "source.ip": f"10.0.0.{i % 250}",
            }
        )
        + "\n"
        for i in range(321)
    )
    request = urllib.request.Request(
        f"{elasticsearch_url}/_bulk?refresh=true", data=events.encode(), method="POST"
    )
    request.add_header("Content-Type", "application/x-ndjson")
    with urllib.request.urlopen(request, timeout=60) as response:
        assert json.loads(response.read())["errors"] is False
    root = Path(repo_roots[0])
    location = root / f"tulou-test-{sandbox.root.name}"
    sources = (
        f'[[sources]]\nname = "events"\nkind = "elasticsearch"\nurl = "{elasticsearch_url}"\n'
        f'indices = ["{INDEX}"]\nrepository_path = "{location}"\n'
        f'restore_path = "{location}-restore"\nrepository = "tulou-test"\n'
        "[objectives]\nrto_seconds = 600\nrpo_seconds = 3600\n"
    )
    write_policy(sandbox.policy, [("primary", str(sandbox.root / "site-a"), {})], sources)
    sandbox.tulou("backup", "init", "--policy", str(sandbox.policy), "--kdf-iterations", "2000")
    sandbox.tulou("backup", "run", "--policy", str(sandbox.policy))
    result = sandbox.tulou(
        "drill",
        "run",
        "es-index-loss",
        "--policy",
        str(sandbox.policy),
        "--inject",
        "--records",
        str(sandbox.root / "records"),
    )
    assert result["outcome"] == "passed", result
    check = next(c for c in result["checks"] if "event counts" in c["name"])
    assert check["expected"] == {INDEX: 321} == check["actual"]
    count = _call(elasticsearch_url, "GET", f"/{INDEX}/_count")
    assert isinstance(count, dict) and count["count"] == 321
