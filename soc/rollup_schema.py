"""Incremental metric roll-ups: the tables' triggers and their backfill, for SQLite and PostgreSQL.

Three roll-up tables summarise ``alerts`` (and ``alert_tags``) so the metrics read a few
thousand summary rows instead of every alert of the window (docs/soc.md, "Metric roll-ups"):

``metric_rollup_severity`` (hour of ``created_at``, severity)
    alerts, status = resolved, acknowledged (``acknowledged_at`` set), the sum of the
    acknowledge delays in whole milliseconds, how many of those exceed the severity's
    acknowledge target, and the same three for ``resolved_at``.
``metric_rollup_rule`` (day of ``created_at``, rule id)
    alerts, occurrences (sum of ``count``), status = resolved, resolved as false positive, and
    the greatest title (what ``max(title)`` over the rule's alerts of that day gives).
``metric_rollup_technique`` (day of the alert's ``created_at``, ATT&CK tag ``attack.t…``)
    alerts carrying the tag.

Keys are coarse on purpose: at a million alerts over 90 days with 300 rules, a key of
(hour, severity, status, rule) would hold about one alert per row and save nothing.

Invariant (checked by the tests against :func:`rebuild` and against the row-by-row metrics):
after every committed transaction, each roll-up row equals the aggregate of the alerts it
covers. It is kept by database triggers, so every write path -- ingest, grouping, transitions,
bulk actions, cases, a direct SQL ``UPDATE`` -- maintains it in the writer's own transaction;
nothing in Python has to remember to. Rows whose counts drop to zero are kept (they add 0).

The acknowledge/resolve *late* counts depend on the SLA targets, so the targets the triggers
use live in the ``metric_sla`` table; :mod:`soc.metrics` uses the roll-ups only when the
caller's targets equal that table, and :func:`set_targets` changes it and rebuilds.

This module is the SQL of roll-up schema version 1, used by migration 0002: a change to these
statements is a new migration with its own SQL, never an edit here that old databases miss.
"""

# ruff: noqa: S608 - every statement here is built from fixed identifiers, never from input

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import Connection, text

#: The tables in dependency-free order (none references another).
TABLES = ("metric_rollup_severity", "metric_rollup_rule", "metric_rollup_technique")

_SEV_KEY = ("hour", "severity")
_SEV_VALUES = (
    "alerts",
    "resolved",
    "acknowledged",
    "ack_ms",
    "ack_late",
    "with_resolved_at",
    "resolve_ms",
    "resolve_late",
)
_RULE_KEY = ("day", "rule_id")
_RULE_VALUES = ("alerts", "occurrences", "resolved", "false_positives")

# --- per-dialect expressions over one alert row (``p`` is NEW, OLD or a table alias) ---------


def _sqlite_exprs(p: str) -> dict[str, str]:
    def secs(col: str) -> str:
        return f"((julianday({p}.{col}) - julianday({p}.created_at)) * 86400.0)"

    def late(col: str, target: str) -> str:
        return (
            f"coalesce({secs(col)} > (SELECT {target} FROM metric_sla "
            f"WHERE severity = {p}.severity), 0)"
        )

    return {
        "hour": f"strftime('%Y-%m-%d %H:00:00.000000', {p}.created_at)",
        "day": f"strftime('%Y-%m-%d 00:00:00.000000', {p}.created_at)",
        "resolved": f"({p}.status = 'resolved')",
        "acknowledged": f"({p}.acknowledged_at IS NOT NULL)",
        "ack_ms": f"coalesce(CAST(round({secs('acknowledged_at')} * 1000) AS INTEGER), 0)",
        "ack_late": late("acknowledged_at", "acknowledge_seconds"),
        "with_resolved_at": f"({p}.resolved_at IS NOT NULL)",
        "resolve_ms": f"coalesce(CAST(round({secs('resolved_at')} * 1000) AS INTEGER), 0)",
        "resolve_late": late("resolved_at", "resolve_seconds"),
        "false_positive": f"({p}.status = 'resolved' AND "
        f"coalesce({p}.closing_reason, '') = 'false_positive')",
    }


def _pg_exprs(p: str) -> dict[str, str]:
    def secs(col: str) -> str:
        return f"CAST(extract(epoch FROM {p}.{col} - {p}.created_at) AS double precision)"

    def late(col: str, target: str) -> str:
        return (
            f"coalesce(CAST({secs(col)} > (SELECT {target} FROM metric_sla "
            f"WHERE severity = {p}.severity) AS integer), 0)"
        )

    return {
        "hour": f"date_trunc('hour', {p}.created_at)",
        "day": f"date_trunc('day', {p}.created_at)",
        "resolved": f"CAST({p}.status = 'resolved' AS integer)",
        "acknowledged": f"CAST({p}.acknowledged_at IS NOT NULL AS integer)",
        "ack_ms": f"coalesce(CAST(round({secs('acknowledged_at')} * 1000) AS bigint), 0)",
        "ack_late": late("acknowledged_at", "acknowledge_seconds"),
        "with_resolved_at": f"CAST({p}.resolved_at IS NOT NULL AS integer)",
        "resolve_ms": f"coalesce(CAST(round({secs('resolved_at')} * 1000) AS bigint), 0)",
        "resolve_late": late("resolved_at", "resolve_seconds"),
        "false_positive": f"CAST({p}.status = 'resolved' AND "
        f"coalesce({p}.closing_reason, '') = 'false_positive' AS integer)",
    }


_EXPRS: dict[str, Callable[[str], dict[str, str]]] = {
    "sqlite": _sqlite_exprs,
    "postgresql": _pg_exprs,
}


def _sev_row(e: Mapping[str, str], p: str) -> list[str]:
    return [e["hour"], f"{p}.severity", "1", *(e[v] for v in _SEV_VALUES[1:])]


def _rule_row(e: Mapping[str, str], p: str) -> list[str]:
    return [e["day"], f"{p}.rule_id", "1", f"{p}.count", e["resolved"], e["false_positive"]]


def _add(table: str, key: tuple[str, ...], values: tuple[str, ...], row: list[str]) -> str:
    cols = ", ".join((*key, *values))
    sets = ", ".join(f"{v} = {table}.{v} + excluded.{v}" for v in values)
    return (
        f"INSERT INTO {table} ({cols}) VALUES ({', '.join(row)}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
    )


def _sub(table: str, key: tuple[str, ...], values: tuple[str, ...], row: list[str]) -> str:
    sets = ", ".join(f"{v} = {v} - {x}" for v, x in zip(values, row[len(key) :], strict=True))
    where = " AND ".join(f"{k} = {x}" for k, x in zip(key, row[: len(key)], strict=True))
    return f"UPDATE {table} SET {sets} WHERE {where}"


def _rule_add(dialect: str) -> str:
    """Add NEW to its (day, rule) row; the row's title becomes the greater of the two."""
    e = _EXPRS[dialect]("NEW")
    greatest = "max" if dialect == "sqlite" else "greatest"
    stmt = _add(
        "metric_rollup_rule",
        _RULE_KEY,
        (*_RULE_VALUES, "title"),
        [*_rule_row(e, "NEW"), "NEW.title"],
    )
    old = "title = metric_rollup_rule.title + excluded.title"
    return stmt.replace(old, f"title = {greatest}(metric_rollup_rule.title, excluded.title)")


def _rule_title(dialect: str) -> str:
    """Recompute the greatest title of OLD's (day, rule) from ``alerts`` (rare writes only: a
    deleted alert, or a changed title, rule or creation time)."""
    day = _EXPRS[dialect]("OLD")["day"]
    if dialect == "sqlite":
        # alerts.created_at is stored as 'YYYY-MM-DD HH:MM:SS.ffffff': compare like with like.
        next_day = f"strftime('%Y-%m-%d 00:00:00.000000', datetime({day}, '+1 day'))"
    else:
        next_day = f"({day} + interval '1 day')"
    return (
        "UPDATE metric_rollup_rule SET title = coalesce((SELECT max(a.title) FROM alerts a "
        f"WHERE a.rule_id = OLD.rule_id AND a.created_at >= {day} "
        f"AND a.created_at < {next_day}), '') "
        f"WHERE day = {day} AND rule_id = OLD.rule_id"
    )


def _tags_move(dialect: str, p: str, sign: str) -> str:
    """Add (sign "") or remove (sign "-") the technique tags of alert ``p`` on its day."""
    e = _EXPRS[dialect](p)
    where = "WHERE" if dialect == "postgresql" else "WHERE true AND"
    return (
        f"INSERT INTO metric_rollup_technique (day, tag, alerts) "
        f"SELECT {e['day']}, t.tag, {sign}1 FROM alert_tags t {where} t.alert_id = {p}.id "
        f"AND {_tag_filter('t')} "
        "ON CONFLICT (day, tag) DO UPDATE SET alerts = metric_rollup_technique.alerts "
        "+ excluded.alerts"
    )


def _tag_change(dialect: str, p: str, sign: str) -> str:
    """Add or remove one alert_tags row ``p`` (its day is its alert's)."""
    e = _EXPRS[dialect]("a")
    where = "WHERE" if dialect == "postgresql" else "WHERE true AND"
    return (
        f"INSERT INTO metric_rollup_technique (day, tag, alerts) "
        f"SELECT {e['day']}, {p}.tag, {sign}1 FROM alerts a {where} a.id = {p}.alert_id "
        "ON CONFLICT (day, tag) DO UPDATE SET alerts = metric_rollup_technique.alerts "
        "+ excluded.alerts"
    )


def _tag_filter(p: str) -> str:
    # substr, not LIKE: no '%' for psycopg to take as a placeholder (tags are lower case).
    return f"substr({p}.tag, 1, 8) = 'attack.t'"


_SEV_COLS = "created_at, severity, status, acknowledged_at, resolved_at"
_RULE_COLS = "rule_id, count, closing_reason, title"  # created_at, status: in _SEV_COLS
#: When an alert moves to another (day, rule) or changes title: titles and tags follow.
_MOVED = (
    "OLD.created_at IS DISTINCT FROM NEW.created_at OR OLD.rule_id IS DISTINCT FROM NEW.rule_id "
    "OR OLD.title IS DISTINCT FROM NEW.title"
)


def _counts(dialect: str, op: str) -> list[str]:
    """The statements keeping the severity and rule counts for one alert ``op``."""
    new, old = _EXPRS[dialect]("NEW"), _EXPRS[dialect]("OLD")
    out: list[str] = []
    if op in ("UPDATE", "DELETE"):
        out.append(_sub("metric_rollup_severity", _SEV_KEY, _SEV_VALUES, _sev_row(old, "OLD")))
        out.append(_sub("metric_rollup_rule", _RULE_KEY, _RULE_VALUES, _rule_row(old, "OLD")))
    if op in ("INSERT", "UPDATE"):
        out.append(_add("metric_rollup_severity", _SEV_KEY, _SEV_VALUES, _sev_row(new, "NEW")))
        out.append(_rule_add(dialect))
    return out


def _moved(dialect: str) -> list[str]:
    return [_rule_title(dialect), _tags_move(dialect, "OLD", "-"), _tags_move(dialect, "NEW", "")]


def _sqlite_ddl() -> list[str]:
    moved = _MOVED.replace("IS DISTINCT FROM", "IS NOT")
    triggers = [
        ("alert_insert", "AFTER INSERT ON alerts", _counts("sqlite", "INSERT")),
        (
            "alert_update",
            f"AFTER UPDATE OF {_SEV_COLS}, {_RULE_COLS} ON alerts",
            _counts("sqlite", "UPDATE"),
        ),
        ("alert_moved", f"AFTER UPDATE ON alerts WHEN {moved}", _moved("sqlite")),
        (
            "alert_delete",
            "AFTER DELETE ON alerts",
            [*_counts("sqlite", "DELETE"), _rule_title("sqlite")],
        ),
        (
            "tag_insert",
            f"AFTER INSERT ON alert_tags WHEN {_tag_filter('NEW')}",
            [_tag_change("sqlite", "NEW", "")],
        ),
        (
            "tag_delete",
            f"AFTER DELETE ON alert_tags WHEN {_tag_filter('OLD')}",
            [_tag_change("sqlite", "OLD", "-")],
        ),
    ]
    return [
        f"CREATE TRIGGER metric_rollup_{name} {when} BEGIN {'; '.join(body)}; END"
        for name, when, body in triggers
    ]


def _pg_ddl() -> list[str]:
    def block(stmts: list[str]) -> str:
        return "; ".join(stmts) + ";"

    alert_fn = (
        "CREATE FUNCTION metric_rollup_alert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP = 'INSERT' THEN {block(_counts('postgresql', 'INSERT'))} "
        f"ELSIF TG_OP = 'UPDATE' THEN {block(_counts('postgresql', 'UPDATE'))} "
        f"IF {_MOVED} THEN {block(_moved('postgresql'))} END IF; "
        f"ELSE {block([*_counts('postgresql', 'DELETE'), _rule_title('postgresql')])} "
        "END IF; RETURN NULL; END $$"
    )
    tag_fn = (
        "CREATE FUNCTION metric_rollup_tag() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP = 'INSERT' THEN {_tag_change('postgresql', 'NEW', '')}; "
        f"ELSE {_tag_change('postgresql', 'OLD', '-')}; END IF; RETURN NULL; END $$"
    )
    return [
        alert_fn,
        "CREATE TRIGGER metric_rollup_alert AFTER INSERT OR DELETE OR UPDATE OF "
        f"{_SEV_COLS}, {_RULE_COLS} ON alerts "
        "FOR EACH ROW EXECUTE FUNCTION metric_rollup_alert()",
        tag_fn,
        "CREATE TRIGGER metric_rollup_tag_insert AFTER INSERT ON alert_tags FOR EACH ROW "
        f"WHEN ({_tag_filter('NEW')}) EXECUTE FUNCTION metric_rollup_tag()",
        "CREATE TRIGGER metric_rollup_tag_delete AFTER DELETE ON alert_tags FOR EACH ROW "
        f"WHEN ({_tag_filter('OLD')}) EXECUTE FUNCTION metric_rollup_tag()",
    ]


def _backfill(dialect: str) -> list[str]:
    e = _EXPRS[dialect]("a")
    sev = _sev_row(e, "a")
    sev_sums = ", ".join(f"sum({x})" for x in sev[2:])
    rule = _rule_row(e, "a")
    rule_sums = ", ".join(f"sum({x})" for x in rule[2:])
    return [
        f"INSERT INTO metric_rollup_severity ({', '.join((*_SEV_KEY, *_SEV_VALUES))}) "
        f"SELECT {sev[0]}, a.severity, {sev_sums} FROM alerts a GROUP BY {sev[0]}, a.severity",
        f"INSERT INTO metric_rollup_rule ({', '.join((*_RULE_KEY, *_RULE_VALUES))}, title) "
        f"SELECT {rule[0]}, a.rule_id, {rule_sums}, max(a.title) FROM alerts a "
        f"GROUP BY {rule[0]}, a.rule_id",
        f"INSERT INTO metric_rollup_technique (day, tag, alerts) "
        f"SELECT {e['day']}, t.tag, count(*) FROM alert_tags t JOIN alerts a ON a.id = t.alert_id "
        f"WHERE {_tag_filter('t')} GROUP BY {e['day']}, t.tag",
    ]


_SQLITE_TRIGGERS = (
    "alert_insert",
    "alert_update",
    "alert_moved",
    "alert_delete",
    "tag_insert",
    "tag_delete",
)


def install(connection: Connection) -> None:
    """Create the triggers (the tables exist already)."""
    dialect = connection.dialect.name
    for statement in _sqlite_ddl() if dialect == "sqlite" else _pg_ddl():
        connection.exec_driver_sql(statement)


def uninstall(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        for name in _SQLITE_TRIGGERS:
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS metric_rollup_{name}")
        return
    connection.exec_driver_sql("DROP TRIGGER IF EXISTS metric_rollup_alert ON alerts")
    connection.exec_driver_sql("DROP TRIGGER IF EXISTS metric_rollup_tag_insert ON alert_tags")
    connection.exec_driver_sql("DROP TRIGGER IF EXISTS metric_rollup_tag_delete ON alert_tags")
    connection.exec_driver_sql("DROP FUNCTION IF EXISTS metric_rollup_alert()")
    connection.exec_driver_sql("DROP FUNCTION IF EXISTS metric_rollup_tag()")


def rebuild(connection: Connection) -> None:
    """Recompute every roll-up row from ``alerts`` (in the caller's transaction)."""
    for table in TABLES:
        connection.exec_driver_sql(f"DELETE FROM {table}")
    for statement in _backfill(connection.dialect.name):
        connection.exec_driver_sql(statement)


def set_targets(connection: Connection, targets: Mapping[str, tuple[int, int]]) -> None:
    """Replace the SLA targets (severity -> acknowledge, resolve seconds) and rebuild."""
    connection.exec_driver_sql("DELETE FROM metric_sla")
    for severity, (ack, res) in targets.items():
        connection.execute(
            text(
                "INSERT INTO metric_sla (severity, acknowledge_seconds, resolve_seconds) "
                "VALUES (:s, :a, :r)"
            ),
            {"s": severity, "a": ack, "r": res},
        )
    rebuild(connection)
