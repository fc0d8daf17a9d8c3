"""The hit list by story size (the index that walks stories from the largest down) and
each desk user's preferences, kept on the server (``deskpreference``).

Only a new index and a new table: nothing existing is rebuilt or altered. Written out,
not imported from monitor/store: a migration must not change when the live code does.
tests/test_migrations.py checks that the result equals what a fresh ``Store`` creates.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_story_size", "story", ["n_articles", "id"], unique=False, if_not_exists=True
    )
    op.create_table(
        "deskpreference",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("prefs", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_name"),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("deskpreference")
    op.drop_index("ix_story_size", table_name="story", if_exists=True)
