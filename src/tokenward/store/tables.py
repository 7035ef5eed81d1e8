"""The schema, in SQLAlchemy Core. Alembic migrations in ``migrations/versions`` create it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

__all__ = ["UTCDateTime", "metadata"]


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime written to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


naming = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=naming)


def _ts(name: str, *, nullable: bool = True) -> Column[object]:
    return Column(name, UTCDateTime(), nullable=nullable)


meta = Table(
    "meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

api_clients = Table(
    "api_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    _ts("created_utc", nullable=False),
    _ts("revoked_utc"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "client_id",
        String(64),
        ForeignKey("api_clients.client_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("account_id", String(200)),
    Column("username", String(200)),
    Column("refresh_token_hash", String(64), unique=True),
    _ts("issued_utc", nullable=False),
    _ts("expires_utc", nullable=False),
    Index("ix_api_tokens_expires_utc", "expires_utc"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(200), nullable=False, unique=True),
    Column("name", String(500), nullable=False),
    Column("description", Text),
    Column("timezone", String(100)),
    _ts("created_utc", nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("account_pk", Integer, ForeignKey("accounts.pk", ondelete="CASCADE"), nullable=False),
    Column("username", String(200), nullable=False),
    Column("password_hash", String(300)),
    _ts("created_utc", nullable=False),
    UniqueConstraint("account_pk", "username", name="uq_users_account_username"),
    Index("ix_users_username", "username"),
)

signin_tokens = Table(
    "signin_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_pk", Integer, ForeignKey("accounts.pk", ondelete="CASCADE"), nullable=False),
    Column("username", String(200), nullable=False),
    _ts("created_utc", nullable=False),
    _ts("expires_utc", nullable=False),
    _ts("used_utc"),
    Index("ix_signin_tokens_expires_utc", "expires_utc"),
)

partner_settings = Table(
    "partner_settings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("allowed_target_origins", Text, nullable=False, default="[]"),
    Column("webhook_url", Text),
    Column("webhook_secret_sealed", Text),
    Column("api_token_lifetime_seconds", Integer),
    Column("signin_token_lifetime_seconds", Integer),
    Column("reveal_partner_auth_value", Boolean, nullable=False, default=False),
    _ts("updated_utc", nullable=False),
)

application_connectors = Table(
    "application_connectors",
    metadata,
    Column("connector_id", Integer, primary_key=True, autoincrement=False),
    Column("client_id", Text),
    Column("client_secret_sealed", Text),
    Column("scopes", Text),  # JSON list, or NULL for the connector's defaults
    Column("settings", Text, nullable=False, default="{}"),  # JSON object
    Column("enabled", Boolean, nullable=False, default=True),
    _ts("updated_utc", nullable=False),
)

custom_connectors = Table(
    "custom_connectors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("definition", Text, nullable=False),  # JSON
    _ts("created_utc", nullable=False),
    _ts("updated_utc", nullable=False),
)

account_connectors = Table(
    "account_connectors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_pk", Integer, ForeignKey("accounts.pk", ondelete="CASCADE"), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("authentication_id", String(64)),
    Column("name", String(500), nullable=False),
    Column("description", Text),
    Column("is_partner_integration", Boolean, nullable=False, default=False),
    _ts("created_utc", nullable=False),
    _ts("updated_utc", nullable=False),
    UniqueConstraint("account_pk", "name", name="uq_account_connectors_account_name"),
)

credentials = Table(
    "credentials",
    metadata,
    Column(
        "account_connector_id",
        Integer,
        ForeignKey("account_connectors.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("state", String(32), nullable=False),
    Column("version", BigInteger, nullable=False, default=0),
    Column("secret_sealed", Text),
    Column("masked", Text),
    _ts("expires_utc"),
    _ts("refresh_expires_utc"),
    _ts("last_refreshed_utc"),
    Column("error_code", String(64)),
    Column("error_message", Text),
    _ts("updated_utc", nullable=False),
    # The lifecycle of DESIGN.md §8 / SECURITY.md §3.2 (migration 0002):
    Column("scope", Text),  # the scope the provider granted (T-04)
    Column("lease_owner", String(64)),  # who may refresh now (single flight across processes)
    _ts("lease_until"),
    Column("attempt_id", String(64)),  # written before a refresh is sent; cleared at its end
    _ts("attempt_started_utc"),
    Column("failures", Integer, nullable=False, default=0),  # consecutive transient failures
    _ts("first_failure_utc"),
    _ts("retry_after_utc"),  # no automatic attempt before this (backoff, Retry-After)
    _ts("next_refresh_utc"),  # when the background refresher looks at it next (jittered)
    Index("ix_credentials_next_refresh_utc", "next_refresh_utc"),
)

properties = Table(
    "properties",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "account_connector_id",
        Integer,
        ForeignKey("account_connectors.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(200), nullable=False),
    Column("value", Text),
    Column("value_sealed", Text),
    Column("is_sensitive", Boolean, nullable=False, default=False),
    UniqueConstraint("account_connector_id", "name", name="uq_properties_connector_name"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(200), primary_key=True),  # client id + method + path
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer),
    Column("response_sealed", Text),  # responses may hold secrets (ClientSecret, sign-in token)
    _ts("created_utc", nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _ts("at_utc", nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("account_id", String(200)),
    Column("account_connector_id", Integer),
    Column("detail", Text),
    Index("ix_audit_log_at_utc", "at_utc"),
)

auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("state_hash", String(64), primary_key=True),  # SHA-256 of the state (F-01, F-03)
    Column(
        "account_connector_id",
        Integer,
        ForeignKey("account_connectors.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("account_pk", Integer, nullable=False),
    Column("username", String(200)),
    Column("binding_hash", String(64), nullable=False),  # SHA-256 of the binding cookie (F-02)
    Column("sealed", Text, nullable=False),  # verifier, endpoints, issuer, redirect URI (F-03)
    Column("completion", Text, nullable=False),  # JSON: mode, target, messages (not secret)
    _ts("created_utc", nullable=False),
    _ts("expires_utc", nullable=False),
    _ts("consumed_utc"),
    Column("outcome", String(32)),
    Index("ix_auth_sessions_expires_utc", "expires_utc"),
)

events = Table(
    "events",
    metadata,
    Column("id", String(36), primary_key=True),  # stable event id, kept on redelivery
    Column("type", String(64), nullable=False),
    _ts("created_utc", nullable=False),
    Column("account_id", String(200)),
    Column("account_connector_id", Integer),
    Column("data", Text, nullable=False),  # JSON, never a secret
    Column("attempts", Integer, nullable=False, default=0),
    _ts("next_attempt_utc"),  # NULL once delivered or given up
    _ts("delivered_utc"),
    _ts("failed_utc"),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("lease_owner", String(64)),
    _ts("lease_until"),
    _ts("redelivered_utc"),  # a redelivery starts a new 24-hour retry window
    Index("ix_events_next_attempt_utc", "next_attempt_utc"),
    Index("ix_events_created_utc", "created_utc"),
)

revocations = Table(
    "revocations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account_connector_id", Integer),  # informational: the row may be gone
    Column("connector_id", Integer, nullable=False),
    Column("sealed", Text),  # endpoint, client authentication, tokens; NULL once finished
    Column("attempts", Integer, nullable=False, default=0),
    _ts("created_utc", nullable=False),
    _ts("next_attempt_utc"),  # NULL once finished
    _ts("finished_utc"),
    Column("outcome", String(32)),  # revoked | unsupported | given_up
    Column("last_error", Text),
    Column("lease_owner", String(64)),
    _ts("lease_until"),
    Index("ix_revocations_next_attempt_utc", "next_attempt_utc"),
)

# The partner console (migration 0003): its users and their sign-in sessions.
console_users = Table(
    "console_users",
    metadata,
    Column("username", String(200), primary_key=True),
    Column("password_hash", String(300), nullable=False),  # scrypt (services.passwords)
    _ts("created_utc", nullable=False),
    _ts("last_login_utc"),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # SHA-256 of the session cookie
    Column(
        "username",
        String(200),
        ForeignKey("console_users.username", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("csrf_token", String(64), nullable=False),  # the synchronizer token of its forms
    _ts("created_utc", nullable=False),
    _ts("expires_utc", nullable=False),
    Index("ix_console_sessions_expires_utc", "expires_utc"),
)
