"""The Elasticsearch event store: an index template with ECS mappings, bulk ingest, retries.

Index layout: one index per store (default ``tulou-events``) created from a composable index
template of the same name (:func:`index_template`). The mapping uses ``subobjects: false`` so
that flat dotted ECS names are stored and returned exactly as written, ``date_detection`` off,
and dynamic templates: ``*.ip`` -> ``ip``, floats -> ``double``, every string -> ``keyword``
with a ``<field>.lower`` sub-field normalised by the ``lowercase`` normalizer (Sigma matching
is case-insensitive: query the ``.lower`` field with the lower-cased value, or use a wildcard /
query_string on it, which ES normalises too).

Writes: ``_bulk`` with ``create`` operations and ``_id = event.id``. A 409 (the id exists)
fetches the stored documents (``_mget``, real-time) and compares contents: the same content is a
duplicate, other content a collision, created again under its derived id (the contract in
:mod:`detect.stores.base`). Items refused with 429 (back-pressure) or 5xx are retried with
exponential back-off; connection errors likewise; after ``retry_for`` seconds of failure the
store raises :class:`UnavailableError` and the caller buffers the batch. Items refused with
another 4xx (a value the mapping cannot take) are *rejected* with ES's reason.

Refresh policy: writes never force a refresh (the index refreshes every second); ``search``
and ``count`` refresh the index first if this store wrote since the last refresh, so they see
every write that returned.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError

from detect.stores.base import FilterValue, Query, WriteResult, as_list, content_digest, settle
from tulou.errors import InputError, UnavailableError
from tulou.events import Event, format_timestamp

DEFAULT_INDEX = "tulou-events"
BULK_BYTES = 8 * 1024 * 1024
DATE_FIELDS = ("@timestamp", "event.start", "event.end", "event.created", "event.ingested")


def index_template(index: str) -> dict[str, Any]:
    """The composable index template for ``index`` (ECS mappings, see the module docstring)."""
    keyword = {
        "type": "keyword",
        "ignore_above": 8191,
        "fields": {"lower": {"type": "keyword", "normalizer": "lowercase", "ignore_above": 8191}},
    }
    return {
        "index_patterns": [index],
        "priority": 200,
        "template": {
            "settings": {
                "number_of_shards": 1,
                "number_of_replicas": 0,
                "refresh_interval": "1s",
                "mapping.total_fields.limit": 20000,
            },
            "mappings": {
                "subobjects": False,
                "date_detection": False,
                "numeric_detection": False,
                "dynamic_templates": [
                    {
                        "ips": {
                            "path_match": ["*.ip", "dns.resolved_ip"],
                            "match_mapping_type": "string",
                            "mapping": {"type": "ip"},
                        }
                    },
                    {"ports": {"path_match": "*.port", "mapping": {"type": "long"}}},
                    {"doubles": {"match_mapping_type": "double", "mapping": {"type": "double"}}},
                    {"strings": {"match_mapping_type": "string", "mapping": keyword}},
                ],
                "properties": {
                    **{name: {"type": "date"} for name in DATE_FIELDS},
                    "event.id": {"type": "keyword"},
                    "event.duration": {"type": "long"},
                },
            },
        },
    }


class ElasticsearchStore:
    """Events in one Elasticsearch index (see the module docstring for layout and policy)."""

    def __init__(
        self,
        url: str,
        *,
        index: str = DEFAULT_INDEX,
        api_key: str | None = None,
        retry_for: float = 30.0,
        request_timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.index = index
        self.retry_for = retry_for
        self._sleep = sleep
        self.client = Elasticsearch(
            url,
            api_key=api_key,
            request_timeout=request_timeout,
            max_retries=0,  # retries are ours: they know which items failed
            retry_on_timeout=False,
        )
        self._ready = False
        self._dirty = False
        self._types: dict[str, str] = {}

    def __repr__(self) -> str:  # never the API key
        return f"ElasticsearchStore({self.url!r}, index={self.index!r})"

    # -- set-up ------------------------------------------------------------------------------

    def ensure_index(self) -> None:
        """Install the index template and create the index (idempotent)."""
        if self._ready:
            return
        self._call(
            lambda: self.client.indices.put_index_template(
                name=self.index, **index_template(self.index)
            )
        )
        self._call(lambda: self.client.options(ignore_status=400).indices.create(index=self.index))
        self._ready = True

    def _call(self, action: Callable[[], Any]) -> Any:
        """Run a request, retrying connection failures and 429/5xx for up to ``retry_for`` s."""
        deadline = time.monotonic() + self.retry_for
        delay = 0.2
        while True:
            try:
                return action()
            except ApiError as exc:
                if exc.meta.status != 429 and exc.meta.status < 500:
                    raise InputError(f"Elasticsearch refused the request: {exc.message}") from exc
                problem = f"HTTP {exc.meta.status}"
            except TransportError as exc:
                problem = type(exc).__name__
            if time.monotonic() + delay > deadline:
                raise UnavailableError(f"Elasticsearch at {self.url} is unavailable ({problem})")
            self._sleep(delay)
            delay = min(delay * 2, 5.0)

    # -- writes ------------------------------------------------------------------------------

    def write(self, events: Sequence[Event]) -> WriteResult:
        result = WriteResult()
        pending: list[tuple[Event, bytes]] = []
        for event in events:
            ident = event.get("event.id")
            if not isinstance(ident, str) or not isinstance(event.get("@timestamp"), str):
                result.rejected.append((event, "event.id and @timestamp must be strings"))
                continue
            line = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
            pending.append((event, line))
        if not pending:
            return result
        self.ensure_index()
        chunk: list[tuple[Event, bytes]] = []
        size = 0
        for item in pending:
            chunk.append(item)
            size += len(item[1]) + 80
            if size >= BULK_BYTES:
                self._bulk(chunk, result)
                chunk, size = [], 0
        if chunk:
            self._bulk(chunk, result)
        return result

    def _held(self, ids: Sequence[str]) -> dict[str, str]:
        """The content digests stored under ``ids`` (``_mget`` reads in real time)."""
        out: dict[str, str] = {}
        for i in range(0, len(ids), 1000):
            chunk = list(ids[i : i + 1000])
            response = self._call(partial(self.client.mget, index=self.index, ids=chunk))
            for doc in response["docs"]:
                if doc.get("found"):
                    out[str(doc["_id"])] = content_digest(doc["_source"])
        return out

    def _settle(self, taken: list[tuple[Event, bytes]], result: WriteResult) -> None:
        """Events refused with 409: duplicates, or collisions created under derived ids."""
        retry, duplicates, rejected = settle([event for event, _ in taken], self._held)
        result.duplicates += duplicates
        result.rejected.extend(rejected)
        if not retry:
            return
        again = WriteResult()
        lines = [
            (e, json.dumps(e, ensure_ascii=False, separators=(",", ":")).encode()) for e in retry
        ]
        late = self._bulk(lines, again, settle_taken=False)
        result.collisions += again.stored
        result.rejected.extend(again.rejected)
        # A derived id taken since we looked (another writer): the same check once more.
        held = self._held([e["event.id"] for e, _ in late])
        for event, _ in late:
            if held.get(event["event.id"]) == content_digest(event):
                result.duplicates += 1
            else:
                result.rejected.append((event, f"event id {event['event.id']} is taken"))

    def _bulk(
        self, items: list[tuple[Event, bytes]], result: WriteResult, *, settle_taken: bool = True
    ) -> list[tuple[Event, bytes]]:
        """Create ``items``; counts them in ``result``. Items whose id exists are settled
        (:meth:`_settle`), or returned when ``settle_taken`` is false."""
        taken: list[tuple[Event, bytes]] = []
        deadline = time.monotonic() + self.retry_for
        delay = 0.2
        while items:
            body = b"".join(
                b'{"create":{"_id":'
                + json.dumps(event["event.id"]).encode()
                + b"}}\n"
                + line
                + b"\n"
                for event, line in items
            )
            # NDJSON bytes are sent as they are (the client accepts them; its stubs say otherwise).
            bulk = partial(self.client.bulk, index=self.index, operations=body)  # type: ignore[arg-type]
            response = self._call(bulk)
            self._dirty = True
            retry: list[tuple[Event, bytes]] = []
            for (event, line), outcome in zip(items, response["items"], strict=True):
                status = outcome["create"]["status"]
                if status in (200, 201):
                    result.stored += 1
                elif status == 409:
                    taken.append((event, line))
                elif status == 429 or status >= 500:
                    retry.append((event, line))
                else:
                    error = outcome["create"].get("error", {})
                    reason = f"{error.get('type', status)}: {error.get('reason', '')}"
                    result.rejected.append((event, reason))
            items = retry
            if items:
                if time.monotonic() + delay > deadline:
                    raise UnavailableError(
                        f"Elasticsearch at {self.url} kept refusing {len(items)} events (429/5xx)"
                    )
                self._sleep(delay)  # back-pressure: the cluster asked us to slow down
                delay = min(delay * 2, 5.0)
        if taken and settle_taken:
            self._settle(taken, result)
            return []
        return taken

    # -- reads -------------------------------------------------------------------------------

    def _refresh(self) -> None:
        if self._dirty:
            self._call(lambda: self.client.indices.refresh(index=self.index))
            self._dirty = False

    def _field_type(self, name: str) -> str | None:
        if name not in self._types:
            response = self._call(
                lambda: self.client.options(ignore_status=404).indices.get_field_mapping(
                    index=self.index, fields=name
                )
            )
            body: dict[str, Any] = dict(response.body) if hasattr(response, "body") else {}
            mapping: dict[str, Any] = body.get(self.index, {}).get("mappings", {}).get(name, {})
            leaf: dict[str, Any] = next(iter(mapping.get("mapping", {}).values()), {})
            kind = leaf.get("type")
            if kind is None:
                return None  # not cached: the field may appear later
            self._types[name] = kind
        return self._types[name]

    def _clause(self, name: str, wanted: FilterValue) -> dict[str, Any]:
        kind = self._field_type(name)
        alternatives: list[dict[str, Any]] = []
        for value in as_list(wanted):
            if kind == "keyword":
                text = ("true" if value else "false") if isinstance(value, bool) else str(value)
                text = text.lower()
                if "*" in text:
                    pattern = text.replace("\\", "\\\\").replace("?", "\\?")
                    alternatives.append({"wildcard": {f"{name}.lower": {"value": pattern}}})
                else:
                    alternatives.append({"term": {f"{name}.lower": text}})
            elif kind is not None and not (isinstance(value, str) and "*" in value):
                alternatives.append({"term": {name: value}})
        if not alternatives:
            return {"match_none": {}}
        return {"bool": {"should": alternatives, "minimum_should_match": 1}}

    def dsl(self, query: Query) -> dict[str, Any]:
        """The Elasticsearch query for a :class:`Query`."""
        self.ensure_index()
        self._refresh()
        clauses: list[dict[str, Any]] = []
        if query.start is not None or query.end is not None:
            bounds: dict[str, str] = {}
            if query.start is not None:
                bounds["gte"] = format_timestamp(query.start)
            if query.end is not None:
                bounds["lt"] = format_timestamp(query.end)
            clauses.append({"range": {"@timestamp": bounds}})
        clauses.extend(self._clause(name, wanted) for name, wanted in query.filters.items())
        return {"bool": {"filter": clauses}} if clauses else {"match_all": {}}

    def search(self, query: Query) -> list[Event]:
        return self.search_dsl(self.dsl(query), size=query.limit)

    def search_dsl(self, dsl: dict[str, Any], size: int = 100) -> list[Event]:
        """Events matching an Elasticsearch query (DSL), oldest first; for the rules engine."""
        self.ensure_index()
        self._refresh()
        response = self._call(
            lambda: self.client.search(
                index=self.index,
                query=dsl,
                size=min(size, 10000),
                sort=[{"@timestamp": "asc"}, {"event.id": "asc"}],
            )
        )
        return [hit["_source"] for hit in response["hits"]["hits"]]

    def search_lucene(self, lucene: str, size: int = 100) -> list[Event]:
        """Events matching a Lucene query string (what pySigma's Lucene backend emits)."""
        return self.search_dsl({"query_string": {"query": lucene}}, size=size)

    def count(self, query: Query | None = None) -> int:
        dsl = self.dsl(query or Query())
        response = self._call(lambda: self.client.count(index=self.index, query=dsl))
        return int(response["count"])

    def close(self) -> None:
        self.client.close()
