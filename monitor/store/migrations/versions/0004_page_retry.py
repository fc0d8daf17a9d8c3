"""Page retries: one row per article stored without its page, asked for again later.

Written out, not imported from monitor/store/models.py: a migration must not change when
the live code does. tests/test_migrations.py checks that the result equals what a fresh
``Store`` creates.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pageretry",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("next_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["article_id"], ["article.id"]),
        sa.PrimaryKeyConstraint("article_id"),
        if_not_exists=True,
    )
    op.create_index("ix_pageretry_next_at", "pageretry", ["next_at"], unique=False,
                    if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_pageretry_next_at", table_name="pageretry", if_exists=True)
    op.drop_table("pageretry")
