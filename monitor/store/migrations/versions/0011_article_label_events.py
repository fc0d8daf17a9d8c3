"""The audit of labels on non-hits (``articlelabelevent``): who changed an article's
label for a topic it is no hit for, when, from what to what; and on the hit audit
(``labelevent.origin``) the mark of a label that moved from the non-hit onto its hit.

A new table and a nullable column: nothing existing is rebuilt. Written out, not
imported from monitor/store: a migration must not change when the live code does.
tests/test_migrations.py checks that the result equals what a fresh ``Store`` creates.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "articlelabelevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("user_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("previous_label", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("previous_note", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["article_id"], ["article.id"]),
        if_not_exists=True,
    )
    op.create_index(
        "ix_articlelabelevent_article",
        "articlelabelevent",
        ["article_id", "topic_id", "id"],
        unique=False,
        if_not_exists=True,
    )
    # A database created by a newer Store but stamped older (as the upgrade tests do,
    # and as a restored backup may be) has the column already: skip it, as the tables.
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("labelevent")}
    if "origin" not in columns:
        with op.batch_alter_table("labelevent") as batch:
            batch.add_column(sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("labelevent") as batch:
        batch.drop_column("origin")
    op.drop_table("articlelabelevent")
