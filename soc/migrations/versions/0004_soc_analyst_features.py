"""analyst features: user language and lockout, token issuer, alert entities, case owner and
closing, observable lookup, saved searches, sent notifications

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ENTITY_COLUMNS = ("destination_ip", "user_name", "process_name", "url_domain")


def _add_user_reference(table: str, column: str) -> None:
    """A nullable column referencing users.id. SQLite adds the REFERENCES clause in ALTER TABLE
    ADD COLUMN itself; Alembic would rebuild the whole table (and drop its triggers)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER REFERENCES users (id)")
    else:
        op.add_column(
            table, sa.Column(column, sa.Integer(), sa.ForeignKey("users.id"), nullable=True)
        )


def upgrade() -> None:
    op.add_column("users", sa.Column("locale", sa.String(8), nullable=True))
    op.add_column(
        "users", sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("users", sa.Column("locked_until", sa.DateTime(), nullable=True))
    op.add_column("users", sa.Column("e_mail", sa.String(255), nullable=True))
    _add_user_reference("api_tokens", "issued_by")
    op.add_column("alerts", sa.Column("destination_ip", sa.String(64), nullable=True))
    for name in ENTITY_COLUMNS[1:]:
        op.add_column("alerts", sa.Column(name, sa.String(255), nullable=True))
    for name in ENTITY_COLUMNS:
        op.create_index(f"ix_alerts_{name}_last_seen", "alerts", [name, "last_seen", "id"])
    _add_user_reference("cases", "owner_id")
    op.add_column("cases", sa.Column("closing_reason", sa.String(32), nullable=True))
    op.add_column("cases", sa.Column("closed_at", sa.DateTime(), nullable=True))
    op.create_index("ix_observables_kind_value", "observables", ["kind", "value"])
    op.create_table(
        "saved_searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "scope", "name"),
    )
    op.create_index("ix_saved_searches_user_id", "saved_searches", ["user_id"])
    op.create_table(
        "notifications_sent",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
    )


def downgrade() -> None:
    op.drop_table("notifications_sent")
    op.drop_index("ix_saved_searches_user_id", "saved_searches")
    op.drop_table("saved_searches")
    op.drop_index("ix_observables_kind_value", "observables")
    for name in ("closed_at", "closing_reason", "owner_id"):
        op.drop_column("cases", name)
    for name in ENTITY_COLUMNS:
        op.drop_index(f"ix_alerts_{name}_last_seen", "alerts")
        op.drop_column("alerts", name)
    op.drop_column("api_tokens", "issued_by")
    for name in ("e_mail", "locked_until", "failed_logins", "locale"):
        op.drop_column("users", name)
