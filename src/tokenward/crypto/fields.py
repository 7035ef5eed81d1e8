"""The associated data of every sealed field, in one place.

Services seal and open with these; ``tokenward keys rotate`` re-seals with the same ones. A
ciphertext moved to another row or field no longer matches its associated data and does not open.
"""

from __future__ import annotations

from tokenward.crypto.aead import associated_data

__all__ = [
    "auth_session_aad",
    "client_secret_aad",
    "credential_aad",
    "idempotency_aad",
    "key_check_aad",
    "property_aad",
    "revocation_aad",
    "webhook_secret_aad",
]


def credential_aad(account_connector_id: int) -> bytes:
    return associated_data("credentials", account_connector_id, "secret")


def property_aad(account_connector_id: int, name: str) -> bytes:
    return associated_data("properties", f"{account_connector_id}/{name.lower()}", "value")


def client_secret_aad(connector_id: int) -> bytes:
    return associated_data("application_connectors", connector_id, "client_secret")


def webhook_secret_aad() -> bytes:
    return associated_data("partner_settings", 1, "webhook_secret")


def idempotency_aad(scope: str, key: str) -> bytes:
    return associated_data("idempotency_keys", f"{scope}/{key}", "response")


def key_check_aad() -> bytes:
    return associated_data("meta", "key_check", "value")


def auth_session_aad(state_hash: str) -> bytes:
    return associated_data("auth_sessions", state_hash, "sealed")


def revocation_aad(revocation_id: str) -> bytes:
    return associated_data("revocations", revocation_id, "sealed")
