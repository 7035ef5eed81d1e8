"""Test helper: one sealed value in every sealed column, and a way to read them all back."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from tokenward.crypto.aead import Sealer
from tokenward.crypto.fields import (
    client_secret_aad,
    credential_aad,
    idempotency_aad,
    property_aad,
    webhook_secret_aad,
)
from tokenward.domain.models import ApplicationConnector, AuthState, Credential, PartnerSettings
from tokenward.services.context import ServiceContext
from tokenward.store.engine import transaction
from tokenward.store.rotation import SEALED_COLUMNS

__all__ = ["StoredValue", "open_all", "seed_sealed_values", "stored_values"]


@dataclass(frozen=True)
class StoredValue:
    column: str
    row_id: str
    aad: bytes
    sealed: str


def seed_sealed_values(ctx: ServiceContext, connectors: int = 3) -> dict[str, str]:
    """Seal one value per row in every sealed column; returns ``{column/row: plaintext}``."""
    now, seal = ctx.clock.now(), ctx.sealer.seal
    plain: dict[str, str] = {}
    with ctx.db.write() as tx:
        account = tx.accounts.add("sealed", "Sealed", None, None, now)
        for n in range(connectors):
            ac = tx.account_connectors.add(account.pk, 7, None, f"C{n}", None, False, now)
            secret = f"cred-canary-{n}"
            tx.account_connectors.put_credential(
                Credential(ac, AuthState.ACTIVE, secret_sealed=seal(secret, credential_aad(ac))),
                now,
            )
            plain[f"credentials.secret_sealed/{ac}"] = secret
            prop = tx.properties.add(
                ac, "Password", None, True, seal(f"prop-canary-{n}", property_aad(ac, "Password"))
            )
            plain[f"properties.value_sealed/{prop.id}"] = f"prop-canary-{n}"
        app = ApplicationConnector(7, "cid", seal("app-canary", client_secret_aad(7)))
        tx.application_connectors.put(app, now)
        plain["application_connectors.client_secret_sealed/7"] = "app-canary"
        hook = PartnerSettings(webhook_secret_sealed=seal("hook-canary", webhook_secret_aad()))
        tx.partner.put(hook, now)
        plain["partner_settings.webhook_secret_sealed/1"] = "hook-canary"
        tx.idempotency.reserve("client|", "idem-1", "0" * 64, now)
        tx.idempotency.complete(
            "client|", "idem-1", 200, seal("idem-canary", idempotency_aad("client|", "idem-1"))
        )
        plain["idempotency_keys.response_sealed/client|/idem-1"] = "idem-canary"
    return plain


def stored_values(engine: Engine) -> list[StoredValue]:
    """Every sealed value in the database, with the associated data of its row."""
    found = []
    with transaction(engine, write=False) as conn:
        for spec in SEALED_COLUMNS:
            for row in conn.execute(spec.filtered(select(spec.table))):
                found.append(
                    StoredValue(
                        spec.name, spec.row_id(row), spec.aad(row), getattr(row, spec.column)
                    )
                )
    return found


def open_all(engine: Engine, sealer: Sealer) -> dict[str, str]:
    """``{column/row: plaintext}`` of every sealed value except the key check."""
    return {
        f"{v.column}/{v.row_id}": sealer.open(v.sealed, v.aad)
        for v in stored_values(engine)
        if v.column != "meta.value"
    }
