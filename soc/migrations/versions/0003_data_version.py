"""data version: a counter bumped by triggers on every change to alerts, tags and users

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from soc import data_version

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "soc_data_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    data_version.install(op.get_bind())


def downgrade() -> None:
    data_version.uninstall(op.get_bind())
    op.drop_table("soc_data_version")
