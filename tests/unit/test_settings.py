"""Settings: every problem named at once; insecure or malformed values refused."""

from __future__ import annotations

import pytest

from tokenward.errors import ConfigurationError
from tokenward.settings import load_settings


def test_defaults_are_the_embedded_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing set, the service uses the data folder's SQLite database and key file."""
    for name in ("TOKENWARD_DATABASE_URL", "TOKENWARD_ENCRYPTION_KEYS", "TOKENWARD_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.uses_embedded_default
    assert settings.resolved_database_url().endswith("tokenward-data/tokenward.db")
    assert settings.service_url == "http://127.0.0.1:8000"


def test_every_invalid_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several bad values produce one error naming each of them."""
    monkeypatch.setenv("TOKENWARD_SERVICE_URL", "ftp://x")
    monkeypatch.setenv("TOKENWARD_ALLOWED_TARGET_ORIGINS", "https://ok.example,not-an-origin")
    monkeypatch.setenv("TOKENWARD_DATABASE_URL", "mysql://nope")
    monkeypatch.setenv("TOKENWARD_TRUSTED_PROXIES", "10.0.0.0/8,banana")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    text = "\n".join(caught.value.problems)
    for name in ("SERVICE_URL", "ALLOWED_TARGET_ORIGINS", "DATABASE_URL", "TRUSTED_PROXIES"):
        assert f"TOKENWARD_{name}" in text
    assert "not-an-origin" in text


@pytest.mark.parametrize(
    "origin",
    ["https://a.example/path", "https://user@a.example", "javascript:alert(1)", "*", "null"],
)
def test_origins_must_be_bare_origins(origin: str) -> None:
    """Allowed target origins are scheme://host[:port] only (W-01)."""
    with pytest.raises(ConfigurationError):
        load_settings(allowed_target_origins=origin)


def test_postgresql_scheme_is_normalised_to_psycopg() -> None:
    """postgresql:// URLs use the psycopg 3 driver."""
    settings = load_settings(database_url="postgresql://u@127.0.0.1/db")
    assert settings.resolved_database_url() == "postgresql+psycopg://u@127.0.0.1/db"


def test_encryption_keys_never_appear_in_repr() -> None:
    """Key material is a SecretStr: it does not show in repr or errors (S-06)."""
    settings = load_settings(encryption_keys="k1:c2VjcmV0LWtleS1tYXRlcmlhbA==")
    assert "c2VjcmV0" not in repr(settings)
