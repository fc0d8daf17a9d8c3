"""Near misses and labels on non-hits (``nearmiss``): per (article, topic) that is not a
hit, the score, threshold and evidence of one worth a look, and an analyst's label
(who, when, note) on any article for any topic.

Only a new table: nothing existing is rebuilt or altered. Written out, not imported
from monitor/store: a migration must not change when the live code does.
tests/test_migrations.py checks that the result equals what a fresh ``Store`` creates.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nearmiss",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("topic_version", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("label_note", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("labeled_at", sa.DateTime(), nullable=True),
        sa.Column("labeled_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("article_id", "topic_id"),
        sa.ForeignKeyConstraint(["article_id"], ["article.id"]),
        if_not_exists=True,
    )
    op.create_index(
        "ix_nearmiss_article_id", "nearmiss", ["article_id"], unique=False, if_not_exists=True
    )
    op.create_index(
        "ix_nearmiss_inbox",
        "nearmiss",
        ["topic_id", "priority", "id"],
        unique=False,
        if_not_exists=True,
    )
    op.create_index(
        "ix_nearmiss_labelled",
        "nearmiss",
        ["topic_id", "label", "labeled_at"],
        unique=False,
        sqlite_where=sa.text("label IS NOT NULL"),
        postgresql_where=sa.text("label IS NOT NULL"),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("nearmiss")
