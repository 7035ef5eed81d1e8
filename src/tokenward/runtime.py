"""Composition: settings → keys → database → service context. Used by the app factory and CLI.

This is the only place (with the CLI) that imports ``tokenward.store``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, inspect

from tokenward.catalog.loader import load_catalog
from tokenward.clock import Clock, SystemClock
from tokenward.crypto.aead import Sealer
from tokenward.crypto.fields import key_check_aad
from tokenward.crypto.keyring import Keyring, KeySource, new_keyring, read_key_file, write_key_file
from tokenward.errors import ConfigurationError, CredentialCorrupted
from tokenward.outbound.transport import Transport
from tokenward.services.audit import AuditTrail
from tokenward.services.context import LifecyclePolicy, ServiceContext
from tokenward.settings import Settings
from tokenward.store.database import SqlDatabase
from tokenward.store.engine import make_engine
from tokenward.store.migrate import is_current, upgrade

__all__ = ["KEY_CHECK", "Runtime", "open_runtime", "resolve_keys"]

log = logging.getLogger("tokenward")
KEY_CHECK = "key_check"
_KEY_CHECK_PLAINTEXT = "tokenward key check"


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    db: SqlDatabase
    keys: KeySource
    ctx: ServiceContext

    def readiness(self) -> list[str]:
        """Why this process cannot serve requests now; empty when it can."""
        try:
            if not is_current(self.engine):
                return ["the database schema is not current (run tokenward migrate)"]
        except Exception as exc:
            return [f"the database is unreachable ({type(exc).__name__})"]
        return []

    def close(self) -> None:
        self.ctx.writes.close()
        self.ctx.audit.flush()
        self.db.dispose()


def _embedded_key_file(settings: Settings) -> Path:
    return settings.data_dir / "tokenward.key"


def resolve_keys(settings: Settings, *, create: bool) -> tuple[KeySource, bool]:
    """The keyring, and whether it was generated now (only for a new, empty data folder)."""
    if settings.encryption_keys is not None:
        ring = Keyring.from_env_value(settings.encryption_keys.get_secret_value())
        return KeySource(ring), False
    path = settings.key_file or (
        _embedded_key_file(settings) if settings.database_url is None else None
    )
    if path is None:
        raise ConfigurationError(
            "no encryption key: set TOKENWARD_ENCRYPTION_KEYS or TOKENWARD_KEY_FILE "
            "(tokenward never stores secrets unencrypted)"
        )
    if path.exists():
        return KeySource(read_key_file(path), path), False
    database = settings.data_dir / "tokenward.db"
    new_folder = (
        settings.database_url is None
        and settings.key_file is None
        and (not settings.data_dir.exists() or not any(settings.data_dir.iterdir()))
    )
    if not (create and new_folder):
        if settings.database_url is None and database.exists():
            raise ConfigurationError(
                f"the database {database} exists but its key file {path} is missing; restore "
                "the key file from your backup (a new key cannot open existing secrets)"
            )
        raise ConfigurationError(f"key file {path} does not exist")
    # The folder holds the database and the key: nobody else may even list it.
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    ring = new_keyring()
    write_key_file(path, ring)
    return KeySource(ring, path), True


def check_key(db: SqlDatabase, sealer: Sealer) -> None:
    """Refuse a database whose secrets were sealed with keys we do not hold (S-05)."""
    with db.write() as tx:
        sealed = tx.meta.get(KEY_CHECK)
        if sealed is None:
            tx.meta.put(KEY_CHECK, sealer.seal(_KEY_CHECK_PLAINTEXT, key_check_aad()))
            return
    try:
        ok = sealer.open(sealed, key_check_aad()) == _KEY_CHECK_PLAINTEXT
    except CredentialCorrupted:
        ok = False
    if not ok:
        raise ConfigurationError(
            "the encryption key does not match this database (its secrets were sealed with "
            "another key); configure the key this database was created with"
        )


def open_runtime(
    settings: Settings,
    *,
    migrate: bool = False,
    create_keys: bool = False,
    clock: Clock | None = None,
    ephemeral: bool = False,
) -> Runtime:
    """Everything a process needs; raises ConfigurationError instead of starting half-right.
    ``ephemeral``: the data folder is thrown away at exit (``tokenward demo``), so a key
    generated in it is not announced as something to back up."""
    # The catalog first: a bad one (CatalogInvalid, every problem listed) stops the start
    # before anything is created.
    catalog = load_catalog(settings.catalog_dirs, allow_insecure_http=settings.allow_insecure_http)
    keys, generated = resolve_keys(settings, create=create_keys)
    engine = make_engine(
        settings.resolved_database_url(), busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    try:
        _prepare_schema(engine, migrate=migrate or generated or _is_empty(engine))
        db = SqlDatabase(engine)
        sealer = Sealer(keys)
        check_key(db, sealer)
    except Exception:
        engine.dispose()
        raise
    if generated and ephemeral:
        log.warning("created data folder %s for this run only (removed at exit)", settings.data_dir)
    elif generated:
        log.warning(
            "created data folder %s with a new database and key file %s (mode 0600); back up both",
            settings.data_dir.resolve(),
            keys.path,
        )
    ctx = ServiceContext(
        db=db,
        sealer=sealer,
        catalog=catalog,
        clock=clock or SystemClock(),
        audit=AuditTrail(db),
        api_token_lifetime_seconds=settings.api_token_lifetime_seconds,
        signin_token_lifetime_seconds=settings.signin_token_lifetime_seconds,
        allowed_target_origins=tuple(settings.allowed_target_origins),
        allow_insecure_http=settings.allow_insecure_http,
        service_url=settings.service_url,
        lifecycle=LifecyclePolicy(
            provider_timeout=settings.provider_timeout_seconds,
            attempts=settings.refresh_attempts,
            keepalive=(
                timedelta(hours=settings.refresh_keepalive_hours)
                if settings.refresh_keepalive_hours > 0
                else None
            ),
            exhausted_after=timedelta(hours=settings.refresh_exhausted_after_hours),
            refresh_window=timedelta(seconds=settings.refresh_window_seconds),
        ),
        transport=Transport(allow_insecure_http=settings.allow_insecure_http),
    )
    return Runtime(settings=settings, engine=engine, db=db, keys=keys, ctx=ctx)


def _is_empty(engine: Engine) -> bool:
    return not inspect(engine).get_table_names()


def _prepare_schema(engine: Engine, *, migrate: bool) -> None:
    if migrate:
        upgrade(engine)
    elif not is_current(engine):
        raise ConfigurationError(
            "the database schema is not current; run `tokenward migrate` (or serve --migrate)"
        )
