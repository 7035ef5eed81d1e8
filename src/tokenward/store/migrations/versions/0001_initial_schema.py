"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 02:23:02.956374
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "accounts",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("timezone", sa.String(length=100), nullable=True),
        sa.Column("created_utc", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_accounts")),
        sa.UniqueConstraint("id", name=op.f("uq_accounts_id")),
    )
    op.create_table(
        "api_clients",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_utc", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_api_clients")),
    )
    op.create_table(
        "application_connectors",
        sa.Column("connector_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("client_id", sa.Text(), nullable=True),
        sa.Column("client_secret_sealed", sa.Text(), nullable=True),
        sa.Column("scopes", sa.Text(), nullable=True),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_utc", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("connector_id", name=op.f("pk_application_connectors")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=True),
        sa.Column("account_connector_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_at_utc", ["at_utc"], unique=False)

    op.create_table(
        "custom_connectors",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("created_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_utc", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_connectors")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_sealed", sa.Text(), nullable=True),
        sa.Column("created_utc", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "meta",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_meta")),
    )
    op.create_table(
        "partner_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("allowed_target_origins", sa.Text(), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_secret_sealed", sa.Text(), nullable=True),
        sa.Column("api_token_lifetime_seconds", sa.Integer(), nullable=True),
        sa.Column("signin_token_lifetime_seconds", sa.Integer(), nullable=True),
        sa.Column("reveal_partner_auth_value", sa.Boolean(), nullable=False),
        sa.Column("updated_utc", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_settings")),
    )
    op.create_table(
        "account_connectors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("authentication_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_partner_integration", sa.Boolean(), nullable=False),
        sa.Column("created_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_utc", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_pk"],
            ["accounts.pk"],
            name=op.f("fk_account_connectors_account_pk_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_connectors")),
        sa.UniqueConstraint("account_pk", "name", name="uq_account_connectors_account_name"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=True),
        sa.Column("username", sa.String(length=200), nullable=True),
        sa.Column("refresh_token_hash", sa.String(length=64), nullable=True),
        sa.Column("issued_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_utc", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["api_clients.client_id"],
            name=op.f("fk_api_tokens_client_id_api_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("refresh_token_hash", name=op.f("uq_api_tokens_refresh_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_api_tokens_expires_utc", ["expires_utc"], unique=False)

    op.create_table(
        "signin_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("created_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_utc", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_pk"],
            ["accounts.pk"],
            name=op.f("fk_signin_tokens_account_pk_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_signin_tokens")),
    )
    with op.batch_alter_table("signin_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_signin_tokens_expires_utc", ["expires_utc"], unique=False)

    op.create_table(
        "users",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=True),
        sa.Column("created_utc", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_pk"],
            ["accounts.pk"],
            name=op.f("fk_users_account_pk_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_users")),
        sa.UniqueConstraint("account_pk", "username", name="uq_users_account_username"),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_username", ["username"], unique=False)

    op.create_table(
        "credentials",
        sa.Column("account_connector_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=True),
        sa.Column("masked", sa.Text(), nullable=True),
        sa.Column("expires_utc", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refresh_expires_utc", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_refreshed_utc", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("updated_utc", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_connector_id"],
            ["account_connectors.id"],
            name=op.f("fk_credentials_account_connector_id_account_connectors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_connector_id", name=op.f("pk_credentials")),
    )
    op.create_table(
        "properties",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_connector_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("value_sealed", sa.Text(), nullable=True),
        sa.Column("is_sensitive", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_connector_id"],
            ["account_connectors.id"],
            name=op.f("fk_properties_account_connector_id_account_connectors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_properties")),
        sa.UniqueConstraint("account_connector_id", "name", name="uq_properties_connector_name"),
    )


def downgrade() -> None:

    op.drop_table("properties")
    op.drop_table("credentials")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_username")

    op.drop_table("users")
    with op.batch_alter_table("signin_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_signin_tokens_expires_utc")

    op.drop_table("signin_tokens")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_api_tokens_expires_utc")

    op.drop_table("api_tokens")
    op.drop_table("account_connectors")
    op.drop_table("partner_settings")
    op.drop_table("meta")
    op.drop_table("idempotency_keys")
    op.drop_table("custom_connectors")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_at_utc")

    op.drop_table("audit_log")
    op.drop_table("application_connectors")
    op.drop_table("api_clients")
    op.drop_table("accounts")
