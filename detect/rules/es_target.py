"""Run compiled Query DSL on an Elasticsearch event index (or index pattern / data stream).

Needs only an ``elasticsearch.Elasticsearch`` client and the index name. Fields are resolved
from the index's mapping (``_field_caps``) so a rule addresses a ``keyword`` field directly and
a ``text`` field through its ``keyword`` subfield; matches are paged with ``search_after``
sorted on (``@timestamp``, ``event.id``) so every hit is read once, whatever the count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError
from sigma.processing.pipeline import ProcessingPipeline

from detect.rules.correlation import Match
from detect.rules.es_backend import EsDslBackend
from detect.rules.es_prefilter import partition_query, possible_items
from tulou.errors import InputError, UnavailableError
from tulou.events import format_timestamp, parse_timestamp

PAGE = 2000
#: Matches per later page (Elasticsearch's default ``max_result_window``).
LATER_PAGE = 10_000
#: What a page of matches is read for.
_HIT_PARTS = ["hits.hits._id", "hits.hits._source", "hits.hits.sort"]
#: Searches per ``_msearch`` request (one round trip, run concurrently by the cluster).
MSEARCH = 50
_NUMERIC = ("long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float")


class EsRuleTarget:
    """Base-rule matching on an Elasticsearch index (see :class:`RuleTarget`)."""

    name = "elasticsearch"
    #: A batch is shared ``_msearch`` round trips: rules with no log-source condition join too.
    batch_without_source = True

    def __init__(
        self,
        client: Elasticsearch,
        index: str,
        pipeline: ProcessingPipeline,
        *,
        literal_prefilter: bool = True,
    ) -> None:
        self.client = client
        self.index = index
        self.pipeline = pipeline
        #: Skip the rules whose necessary literals no value of the log source holds
        #: (:mod:`detect.rules.es_prefilter`).
        self.literal_prefilter = literal_prefilter
        self._types: dict[str, set[str]] | None = None

    def backend(self) -> EsDslBackend:
        return EsDslBackend(self.pipeline, resolve=self.resolve)

    @classmethod
    def for_store(cls, store: Any, pipeline: ProcessingPipeline) -> EsRuleTarget:
        """On a ``detect.stores.elasticsearch.ElasticsearchStore`` (its client and index)."""
        return cls(store.client, store.index, pipeline)

    def prepare(self, fields: Sequence[str]) -> None:
        """See every write that returned (refresh), and re-read the mapping."""
        try:
            self.client.indices.refresh(index=self.index, ignore_unavailable=True)
        except TransportError as exc:
            raise UnavailableError(f"Elasticsearch refresh: {exc}") from exc
        except ApiError as exc:
            raise InputError(f"Elasticsearch refresh: {exc}") from exc
        self._types = None

    def _mapping(self) -> dict[str, set[str]]:
        if self._types is None:
            try:
                caps = self.client.field_caps(
                    index=self.index, fields="*", ignore_unavailable=True, allow_no_indices=True
                )
            except (ApiError, TransportError) as exc:
                raise UnavailableError(f"Elasticsearch field caps: {exc}") from exc
            self._types = {name: set(kinds) for name, kinds in caps.get("fields", {}).items()}
        return self._types

    def resolve(self, name: str) -> tuple[str, str]:
        """(the path to query, its type) for a field name."""
        kinds = self._mapping().get(name, set())
        for kind in ("keyword", "constant_keyword", "wildcard", "ip", "boolean", *_NUMERIC):
            if kind in kinds:
                return name, "keyword" if kind in ("constant_keyword", "wildcard") else kind
        if "text" in kinds or "match_only_text" in kinds:
            for sub in (f"{name}.keyword", f"{name}.raw"):
                if "keyword" in self._mapping().get(sub, set()):
                    return sub, "keyword"
            return name, "text"
        return name, "keyword"

    def _search(self, body: dict[str, Any], filter_path: list[str] | None = None) -> dict[str, Any]:
        try:
            return dict(self.client.search(index=self.index, filter_path=filter_path, **body))
        except TransportError as exc:
            raise UnavailableError(f"Elasticsearch search: {exc}") from exc
        except ApiError as exc:
            raise InputError(f"Elasticsearch refused the query: {exc}") from exc

    def _range(self, start: datetime, end: datetime) -> dict[str, Any]:
        return {
            "range": {"@timestamp": {"gte": format_timestamp(start), "lt": format_timestamp(end)}}
        }

    def _body(self, query: Any, start: datetime, end: datetime, wanted: list[str]) -> Any:
        return {
            "query": {"bool": {"filter": [query, self._range(start, end)]}},
            "sort": [{"@timestamp": "asc"}, {"event.id": "asc"}],
            "source": ["event.id", "@timestamp", *wanted],
            "size": PAGE,
            "track_total_hits": False,
        }

    def matches(
        self, rule_id: str, query: Any, start: datetime, end: datetime, fields: Sequence[str]
    ) -> list[Match]:
        wanted = list(dict.fromkeys(fields))
        body = self._body(query, start, end, wanted)
        hits = self._search(body)["hits"]["hits"]
        return self._read(rule_id, body, hits, wanted)

    def _read(
        self, rule_id: str, body: dict[str, Any], hits: list[Any], wanted: list[str]
    ) -> list[Match]:
        """The matches of a first page ``hits`` of ``body``, and of the pages after it.

        A rule with more than a first page of matches reads the rest in pages of
        :data:`LATER_PAGE`, trimmed to the parts read here (``filter_path``).
        """
        out: list[Match] = []
        while True:
            for hit in hits:
                source = hit.get("_source", {})
                if any(type(value) is dict for value in source.values()):
                    source = _flat(source)
                stamp = str(source["@timestamp"])
                out.append(
                    Match(
                        rule_id=rule_id,
                        event_id=str(source.get("event.id", hit.get("_id"))),
                        # ``Z`` stamps (what the stores write) parse directly, to the same UTC.
                        timestamp=datetime.fromisoformat(stamp)
                        if stamp.endswith("Z")
                        else parse_timestamp(stamp),
                        values={name: source.get(name) for name in wanted},
                    )
                )
            if len(hits) < body["size"]:
                return out
            body["search_after"] = hits[-1]["sort"]
            body["size"] = LATER_PAGE
            page = self._search(body, filter_path=_HIT_PARTS)
            hits = page.get("hits", {}).get("hits", [])

    def matches_batch(
        self,
        items: Sequence[tuple[str, Any]],
        requires: Mapping[str, frozenset[str]],
        start: datetime,
        end: datetime,
        fields: Sequence[str],
        *,
        literals: Sequence[Any] | None = None,
        errors: dict[str, str] | None = None,
    ) -> dict[str, list[Match]]:
        """Many rules' queries, their first pages in shared ``_msearch`` requests.

        Same result per rule as :meth:`matches` (a rule with more than a page of matches
        pages on alone). With the literal pre-filter on and ``literals[i]`` the necessary
        literals of item i, one search first reads the distinct values of the literal fields
        over the rows of the log source (``requires``) and the items that cannot match any of
        them are not sent (:mod:`detect.rules.es_prefilter`). A query Elasticsearch refuses
        fails only its rule: its reason goes to ``errors[rule id]`` and the rule has no matches
        (without ``errors``, the whole batch raises :class:`InputError`).
        """
        wanted = list(dict.fromkeys(fields))
        found: dict[str, dict[str, Match]] = {rule_id: {} for rule_id, _ in items}
        failed: dict[str, str] = {}
        if self.literal_prefilter and literals is not None:
            filters = [*partition_query(requires, self.resolve), self._range(start, end)]
            keep = possible_items(
                literals,
                lambda path: self._mapping().get(path, set()),
                self.resolve,
                self._searches,
                filters,
            )
            items = [item for position, item in enumerate(items) if position in keep]
        for offset in range(0, len(items), MSEARCH):
            chunk = items[offset : offset + MSEARCH]
            bodies = [self._body(query, start, end, wanted) for _, query in chunk]
            searches: list[dict[str, Any]] = []
            for body in bodies:
                # The client's ``source`` argument is ``_source`` in a request body.
                json_body = {("_source" if k == "source" else k): v for k, v in body.items()}
                searches.extend(({}, json_body))
            responses = self._msearch(searches)
            for (rule_id, _), body, response in zip(chunk, bodies, responses, strict=True):
                if rule_id in failed:
                    continue
                if "error" in response:
                    failed[rule_id] = f"Elasticsearch refused the query: {_reason(response)}"
                    continue
                try:
                    page = self._read(rule_id, body, response["hits"]["hits"], wanted)
                except InputError as exc:
                    failed[rule_id] = str(exc)
                    continue
                for match in page:
                    found[rule_id].setdefault(match.event_id, match)
        if failed and errors is None:
            raise InputError(f"rule batch: {next(iter(failed.values()))}")
        if errors is not None:
            errors.update(failed)
        return {
            rule_id: []
            if rule_id in failed
            else sorted(matches.values(), key=lambda m: (m.timestamp, m.event_id))
            for rule_id, matches in found.items()
        }

    def _searches(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        """Search bodies in one ``_msearch``; a body Elasticsearch refused answers None."""
        answers = self._msearch([part for body in bodies for part in ({}, body)])
        return [None if "error" in answer else answer for answer in answers]

    def _msearch(self, searches: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            answer = self.client.msearch(index=self.index, searches=searches)
        except TransportError as exc:
            raise UnavailableError(f"Elasticsearch msearch: {exc}") from exc
        except ApiError as exc:
            raise InputError(f"Elasticsearch refused the searches: {exc}") from exc
        return [dict(r) for r in answer["responses"]]

    def distinct(self, field: str, start: datetime, end: datetime) -> set[str]:
        path, _ = self.resolve(field)
        body: dict[str, Any] = {
            "query": {"bool": {"filter": [self._range(start, end)]}},
            "size": 0,
            "aggs": {"values": {"terms": {"field": path, "size": 10000}}},
        }
        try:
            buckets = self._search(body)["aggregations"]["values"]["buckets"]
        except InputError:
            return {"*"}  # the field cannot be aggregated: never skip rules on it
        return {str(b.get("key_as_string", b["key"])).lower() for b in buckets}


def _reason(response: dict[str, Any]) -> str:
    """The first root cause of a failed search in an ``_msearch`` answer."""
    error = response.get("error")
    if isinstance(error, dict):
        causes = error.get("root_cause") or [error]
        first = causes[0] if isinstance(causes[0], dict) else error
        return f"{first.get('type', 'error')}: {first.get('reason', error)}"
    return str(error)


def _flat(source: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``_source`` may hold dotted keys or nested objects: read both as dotted keys."""
    out: dict[str, Any] = {}
    for key, value in source.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, name + "."))
        else:
            out[name] = value
    return out
