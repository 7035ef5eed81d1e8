"""credential lifecycle: auth sessions, refresh leases, the event outbox, the revocation queue

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 05:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _ts(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "auth_sessions",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("account_connector_id", sa.Integer(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=True),
        sa.Column("binding_hash", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("completion", sa.Text(), nullable=False),
        _ts("created_utc", nullable=False),
        _ts("expires_utc", nullable=False),
        _ts("consumed_utc"),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_connector_id"],
            ["account_connectors.id"],
            name=op.f("fk_auth_sessions_account_connector_id_account_connectors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_auth_sessions")),
    )
    op.create_index("ix_auth_sessions_expires_utc", "auth_sessions", ["expires_utc"])
    op.create_table(
        "events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        _ts("created_utc", nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=True),
        sa.Column("account_connector_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        _ts("next_attempt_utc"),
        _ts("delivered_utc"),
        _ts("failed_utc"),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        _ts("lease_until"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_created_utc", "events", ["created_utc"])
    op.create_index("ix_events_next_attempt_utc", "events", ["next_attempt_utc"])
    op.create_table(
        "revocations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_connector_id", sa.Integer(), nullable=True),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        _ts("created_utc", nullable=False),
        _ts("next_attempt_utc"),
        _ts("finished_utc"),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        _ts("lease_until"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocations")),
    )
    op.create_index("ix_revocations_next_attempt_utc", "revocations", ["next_attempt_utc"])
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(_ts("lease_until"))
        batch_op.add_column(sa.Column("attempt_id", sa.String(length=64), nullable=True))
        batch_op.add_column(_ts("attempt_started_utc"))
        batch_op.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(_ts("first_failure_utc"))
        batch_op.add_column(_ts("retry_after_utc"))
        batch_op.add_column(_ts("next_refresh_utc"))
        batch_op.create_index("ix_credentials_next_refresh_utc", ["next_refresh_utc"])


def downgrade() -> None:
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_index("ix_credentials_next_refresh_utc")
        for name in (
            "next_refresh_utc",
            "retry_after_utc",
            "first_failure_utc",
            "failures",
            "attempt_started_utc",
            "attempt_id",
            "lease_until",
            "lease_owner",
            "scope",
        ):
            batch_op.drop_column(name)
    op.drop_index("ix_revocations_next_attempt_utc", table_name="revocations")
    op.drop_table("revocations")
    op.drop_index("ix_events_next_attempt_utc", table_name="events")
    op.drop_index("ix_events_created_utc", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_auth_sessions_expires_utc", table_name="auth_sessions")
    op.drop_table("auth_sessions")
