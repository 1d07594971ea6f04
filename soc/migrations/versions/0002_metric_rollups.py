"""metric roll-ups: summary tables kept by triggers, backfilled from the alerts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from soc import rollup_schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The SLA targets in force when this migration was written (soc.metrics.DEFAULT_SLA), in
# seconds: (acknowledge, resolve). Frozen here on purpose; later changes go through
# soc.rollup_schema.set_targets.
_TARGETS = {
    "critical": (15 * 60, 4 * 3600),
    "high": (30 * 60, 8 * 3600),
    "medium": (4 * 3600, 3 * 86400),
    "low": (86400, 7 * 86400),
    "informational": (3 * 86400, 30 * 86400),
}


def upgrade() -> None:
    op.create_table(
        "metric_sla",
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("acknowledge_seconds", sa.Integer(), nullable=False),
        sa.Column("resolve_seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("severity"),
    )
    op.create_table(
        "metric_rollup_severity",
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("acknowledged", sa.Integer(), nullable=False),
        sa.Column("ack_ms", sa.BigInteger(), nullable=False),
        sa.Column("ack_late", sa.Integer(), nullable=False),
        sa.Column("with_resolved_at", sa.Integer(), nullable=False),
        sa.Column("resolve_ms", sa.BigInteger(), nullable=False),
        sa.Column("resolve_late", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "severity"),
    )
    op.create_table(
        "metric_rollup_rule",
        sa.Column("day", sa.DateTime(), nullable=False),
        sa.Column("rule_id", sa.String(length=128), nullable=False),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.Column("occurrences", sa.BigInteger(), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("false_positives", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=512), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("day", "rule_id"),
    )
    op.create_table(
        "metric_rollup_technique",
        sa.Column("day", sa.DateTime(), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "tag"),
    )
    connection = op.get_bind()
    rollup_schema.set_targets(connection, _TARGETS)  # also backfills from existing alerts
    rollup_schema.install(connection)


def downgrade() -> None:
    rollup_schema.uninstall(op.get_bind())
    for table in (*reversed(rollup_schema.TABLES), "metric_sla"):
        op.drop_table(table)
