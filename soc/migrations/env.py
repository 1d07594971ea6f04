"""Alembic environment: migrations run on the connection :meth:`soc.db.Database.upgrade` passes."""

from __future__ import annotations

from alembic import context

from soc.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through soc.db
    raise RuntimeError("run migrations through soc.db.Database.upgrade()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
