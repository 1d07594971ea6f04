"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from soc.db import Database
from soc.models import Base


def test_migrated_schema_matches_the_models(soc_url):
    db = Database(soc_url)
    db.upgrade()
    db.upgrade()  # idempotent
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        indexes = {i["name"] for i in inspect(conn).get_indexes("alerts")}
        assert {"ix_alerts_status_last_seen", "ix_alerts_last_seen"} <= indexes
    db.dispose()
