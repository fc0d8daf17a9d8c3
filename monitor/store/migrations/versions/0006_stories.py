"""Stories: the story table, each article's story, the grouping state row, the
corrections by hand the grouper keeps to, and topics' spikes of new stories.

Only new tables: no existing table is rebuilt or altered. Written out, not imported
from monitor/store/models.py: a migration must not change when the live code does.
tests/test_migrations.py checks that the result equals what a fresh ``Store`` creates.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _str(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "story",
        _str("id"),
        _str("headline"),
        sa.Column("first_seen", sa.DateTime(), nullable=True),
        sa.Column("last_seen", sa.DateTime(), nullable=True),
        sa.Column("n_articles", sa.Integer(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=True),
        sa.Column("languages", sa.JSON(), nullable=True),
        sa.Column("topics", sa.JSON(), nullable=True),
        _str("merged_into", nullable=True),
        sa.Column("state", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index("ix_story_active", "story", ["merged_into", "last_seen"], unique=False,
                    if_not_exists=True)
    op.create_index("ix_story_first_seen", "story", ["first_seen"], unique=False,
                    if_not_exists=True)
    op.create_table(
        "storyarticle",
        sa.Column("article_id", sa.Integer(), nullable=False),
        _str("story_id"),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("joined_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["article_id"], ["article.id"]),
        sa.PrimaryKeyConstraint("article_id"),
        if_not_exists=True,
    )
    op.create_index("ix_storyarticle_story_id", "storyarticle", ["story_id"], unique=False,
                    if_not_exists=True)
    op.create_table(
        "storystate",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("clock", sa.DateTime(), nullable=True),
        sa.Column("n_docs", sa.Integer(), nullable=False),
        sa.Column("df", sa.JSON(), nullable=True),
        sa.Column("df_saved_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_table(
        "storyrule",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("kind"),
        sa.Column("a", sa.Integer(), nullable=False),
        sa.Column("b", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "a", "b"),
        if_not_exists=True,
    )


    op.create_table(
        "topicspike",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("topic"),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("stories", sa.Integer(), nullable=False),
        sa.Column("usual", sa.Float(), nullable=False),
        _str("status"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _str("last_error", nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("topic", "started_at"),
        if_not_exists=True,
    )
    op.create_index("ix_topicspike_topic", "topicspike", ["topic"], unique=False,
                    if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_topicspike_topic", table_name="topicspike", if_exists=True)
    op.drop_table("topicspike")
    op.drop_table("storyrule")
    op.drop_table("storystate")
    op.drop_index("ix_storyarticle_story_id", table_name="storyarticle", if_exists=True)
    op.drop_table("storyarticle")
    op.drop_index("ix_story_first_seen", table_name="story", if_exists=True)
    op.drop_index("ix_story_active", table_name="story", if_exists=True)
    op.drop_table("story")
