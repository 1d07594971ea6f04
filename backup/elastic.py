"""Elasticsearch through its snapshot API: take a snapshot into an ``fs`` repository, restore
one, and count documents (the application check of the index-loss drill).

Options (a ``[[sources]]`` table of kind ``elasticsearch``): ``url``; ``indices`` (names or
patterns); ``repository_path`` (a folder the node can write and that is listed in its
``path.repo`` setting: Elasticsearch refuses any other); ``repository`` (the name to register
it under, default ``tulou-backup``); ``api_key_env`` (the environment variable holding an API
key, if the cluster needs one).
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

from tulou.errors import ConfigError, InputError, UnavailableError

DEFAULT_REPOSITORY = "tulou-backup"


class ElasticClient:
    """A minimal JSON-over-HTTP client for the few endpoints backup needs."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 120.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"Elasticsearch URL must be http(s): {url!r}")
        self.url = url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"ElasticClient({self.url!r})"

    def call(self, method: str, path: str, body: Any = None, ok404: bool = False) -> Any:
        # Imported here: urllib.request (http.client, ssl, email) costs ~70 ms of every start-up
        # of a backup command, and only Elasticsearch sources need it.
        import urllib.error  # noqa: PLC0415
        import urllib.request  # noqa: PLC0415

        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        if self._api_key:
            request.add_header("Authorization", f"ApiKey {self._api_key}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            if ok404 and exc.code == 404:
                return None
            detail = exc.read()[:600].decode(errors="replace")
            raise UnavailableError(
                f"Elasticsearch {method} {path}: HTTP {exc.code}: {detail}"
            ) from exc
        except (OSError, ValueError) as exc:
            raise UnavailableError(f"Elasticsearch at {self.url} unreachable: {exc}") from exc

    def counts(self, indices: list[str]) -> dict[str, int]:
        """Document count of every index matching ``indices`` (after a refresh)."""
        joined = quote(",".join(indices), safe=",*")
        self.call("POST", f"/{joined}/_refresh?allow_no_indices=true&ignore_unavailable=true")
        rows = (
            self.call(
                "GET",
                f"/_cat/indices/{joined}?format=json&h=index&expand_wildcards=open",
                ok404=True,
            )
            or []
        )
        result = {}
        for row in rows:
            name = row["index"]
            result[name] = int(self.call("GET", f"/{quote(name)}/_count")["count"])
        return dict(sorted(result.items()))

    def register(self, repository: str, location: str, *, readonly: bool = False) -> None:
        body = {"type": "fs", "settings": {"location": location, "readonly": readonly}}
        try:
            self.call("PUT", f"/_snapshot/{quote(repository)}", body)
        except UnavailableError as exc:
            if "path.repo" in str(exc):
                raise ConfigError(
                    f"Elasticsearch refuses the fs repository {location}: it is not under the "
                    "node's path.repo setting (add it to elasticsearch.yml and restart the node)"
                ) from exc
            raise


def client(options: dict[str, Any]) -> ElasticClient:
    url = options.get("url")
    if not url:
        raise ConfigError("an elasticsearch source needs 'url'")
    api_key = None
    if options.get("api_key_env"):
        api_key = os.environ.get(str(options["api_key_env"]))
    return ElasticClient(str(url), api_key)


def snapshot(options: dict[str, Any], source_name: str, tag: str) -> dict[str, Any]:
    """Snapshot the source's indices; return the facts recorded in the backup snapshot."""
    es = client(options)
    indices = [str(i) for i in options.get("indices", [])]
    if not indices:
        raise ConfigError(f"source {source_name!r}: 'indices' is empty")
    if not options.get("repository_path"):
        raise ConfigError(f"source {source_name!r}: 'repository_path' is required")
    repository = str(options.get("repository", DEFAULT_REPOSITORY))
    es.register(repository, str(options["repository_path"]))
    counts = es.counts(indices)
    if not counts:
        raise InputError(f"source {source_name!r}: no index matches {indices}")
    name = f"tulou-{tag}".lower()
    result = es.call(
        "PUT",
        f"/_snapshot/{quote(repository)}/{quote(name)}?wait_for_completion=true",
        {"indices": ",".join(counts), "include_global_state": False},
    )
    state = result.get("snapshot", {}).get("state")
    if state != "SUCCESS":
        raise UnavailableError(f"Elasticsearch snapshot {name} ended in state {state}")
    return {"snapshot": name, "repository": repository, "indices": counts}


def restore(
    es: ElasticClient,
    location: str,
    meta: dict[str, Any],
    *,
    rename_prefix: str = "",
    repository: str = "tulou-restore",
) -> dict[str, int]:
    """Register ``location`` (restored repository files) read-only, restore the snapshot named
    in ``meta`` (optionally renaming indices), and return the restored indices' counts."""
    es.register(repository, location, readonly=True)
    indices = list(meta["indices"])
    body: dict[str, Any] = {"indices": ",".join(indices), "include_global_state": False}
    if rename_prefix:
        body |= {"rename_pattern": "(.+)", "rename_replacement": f"{rename_prefix}$1"}
    es.call(
        "POST",
        f"/_snapshot/{quote(repository)}/{quote(meta['snapshot'])}/_restore"
        "?wait_for_completion=true",
        body,
    )
    es.call("DELETE", f"/_snapshot/{quote(repository)}", ok404=True)
    return es.counts([f"{rename_prefix}{i}" for i in indices])
