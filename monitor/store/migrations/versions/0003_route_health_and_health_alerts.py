"""Route health and health alerts: a health row per alert target, and the outbox
of "alerting is broken" / "recovered" messages.

Two new tables and an index on delivery (route, target, status) for the per-target
counts; no existing table is rebuilt (the delivery outbox keeps hit_id NOT NULL).
Written out, not imported from monitor/store/facade.py: a migration must not change when the
live code does. tests/test_migrations.py checks that the result equals what a fresh
``Store`` creates.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _str(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "routehealth",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("route"),
        _str("target"),
        _str("target_display"),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(), nullable=True),
        sa.Column("failing_since", sa.DateTime(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        _str("last_error", nullable=True),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("route", "target"),
        if_not_exists=True,
    )
    op.create_table(
        "healthalert",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("about_route"),
        _str("about_target"),
        _str("about_display"),
        sa.Column("episode", sa.Integer(), nullable=False),
        _str("kind"),
        _str("route"),
        _str("target"),
        _str("target_display"),
        _str("title"),
        _str("body"),
        _str("status"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _str("last_error", nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("about_route", "about_target", "episode", "kind", "route",
                            "target"),
        if_not_exists=True,
    )
    op.create_index("ix_healthalert_status_next", "healthalert", ["status", "next_attempt_at"],
                    unique=False, if_not_exists=True)
    op.create_index("ix_delivery_route_target_status", "delivery", ["route", "target", "status"],
                    unique=False, if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_delivery_route_target_status", table_name="delivery", if_exists=True)
    op.drop_index("ix_healthalert_status_next", table_name="healthalert", if_exists=True)
    op.drop_table("healthalert")
    op.drop_table("routehealth")
