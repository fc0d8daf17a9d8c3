"""The desk's own state: what each reader has read, saved views, the indexes that
sort the hit list by score and rank a hit in its topic; the desk's people: user
accounts with roles, server-side login sessions, and the audit of label changes.

Written out, not imported from monitor/store: a migration must not change when the
live code does. tests/test_migrations.py checks that the result equals what a fresh
``Store`` creates.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _str(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "hitread",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hit_id", sa.Integer(), nullable=False),
        _str("reader"),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hit_id", "reader"),
        sa.ForeignKeyConstraint(["hit_id"], ["hit.id"]),
        if_not_exists=True,
    )
    op.create_table(
        "savedview",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("owner"),
        _str("name"),
        _str("query"),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "name"),
        if_not_exists=True,
    )
    op.create_table(
        "deskuser",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("name"),
        _str("role"),
        _str("password_hash"),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        if_not_exists=True,
    )
    op.create_table(
        "desksession",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("token_hash"),
        _str("user_name"),
        _str("role"),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
        if_not_exists=True,
    )
    op.create_table(
        "labelevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hit_id", sa.Integer(), nullable=False),
        _str("user_name"),
        _str("label", nullable=True),
        _str("note", nullable=True),
        _str("previous_label", nullable=True),
        _str("previous_note", nullable=True),
        sa.Column("at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["hit_id"], ["hit.id"]),
        if_not_exists=True,
    )
    op.create_index("ix_labelevent_hit", "labelevent", ["hit_id", "id"], unique=False,
                    if_not_exists=True)
    op.create_index("ix_hit_topic_score", "hit", ["topic_id", "score", "id"], unique=False,
                    if_not_exists=True)
    op.create_index("ix_hit_score", "hit", ["score", "id"], unique=False, if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_hit_score", table_name="hit", if_exists=True)
    op.drop_index("ix_hit_topic_score", table_name="hit", if_exists=True)
    op.drop_index("ix_labelevent_hit", table_name="labelevent", if_exists=True)
    op.drop_table("labelevent")
    op.drop_table("desksession")
    op.drop_table("deskuser")
    op.drop_table("savedview")
    op.drop_table("hitread")
