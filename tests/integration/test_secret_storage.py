"""Secret storage (SECURITY.md S-03 … S-08): sealed values are bound to their row, tamper-evident,
keyed, never printed; tokens and client secrets are stored only as hashes."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sealed_data import seed_sealed_values, stored_values
from sqlalchemy import select, text
from typer.testing import CliRunner

from tokenward.cli.main import app as cli
from tokenward.crypto.aead import Sealer, key_id_of
from tokenward.crypto.fields import (
    client_secret_aad,
    credential_aad,
    idempotency_aad,
    property_aad,
    webhook_secret_aad,
)
from tokenward.crypto.hashing import hash_token
from tokenward.crypto.keyring import Keyring, KeySource, read_key_file, write_key_file
from tokenward.errors import ConfigurationError, CredentialCorrupted
from tokenward.runtime import Runtime, open_runtime
from tokenward.settings import load_settings
from tokenward.store.engine import transaction
from tokenward.store.rotation import reseal_all
from tokenward.store.tables import application_connectors, metadata

KEY = secrets.token_bytes(32)


def sealer(kid: str = "k1", key: bytes = KEY) -> Sealer:
    return Sealer(KeySource(Keyring(primary=kid, keys={kid: key})))


@pytest.mark.parametrize(
    ("sealed_for", "opened_as"),
    [
        (credential_aad(1), credential_aad(2)),
        (credential_aad(1), property_aad(1, "Password")),
        (property_aad(1, "Password"), property_aad(1, "ApiKey")),
        (property_aad(1, "Password"), property_aad(2, "Password")),
        (client_secret_aad(7), client_secret_aad(8)),
        (client_secret_aad(7), webhook_secret_aad()),
        (idempotency_aad("a|", "k"), idempotency_aad("b|", "k")),
    ],
)
def test_s03_a_ciphertext_moved_to_another_row_or_field_does_not_open(
    sealed_for: bytes, opened_as: bytes
) -> None:
    """Associated data binds a ciphertext to its row and field: elsewhere it is corrupted."""
    box = sealer()
    sealed = box.seal("secret", sealed_for)
    assert box.open(sealed, sealed_for) == "secret"
    with pytest.raises(CredentialCorrupted):
        box.open(sealed, opened_as)


def test_s03_a_credential_copied_to_another_account_connector_is_corrupted(
    runtime: Runtime,
) -> None:
    """Copying one account connector's stored credential onto another's row in the database
    leaves a value that does not open there (CredentialCorrupted), while the original still does."""
    seed_sealed_values(runtime.ctx, connectors=2)
    creds = [v for v in stored_values(runtime.engine) if v.column == "credentials.secret_sealed"]
    source, target = creds
    with transaction(runtime.engine, write=True) as conn:
        conn.execute(
            text("UPDATE credentials SET secret_sealed = :v WHERE account_connector_id = :id"),
            {"v": source.sealed, "id": int(target.row_id)},
        )
    moved = next(v for v in stored_values(runtime.engine) if v.row_id == target.row_id)
    assert moved.sealed == source.sealed
    with pytest.raises(CredentialCorrupted):
        runtime.ctx.sealer.open(moved.sealed, moved.aad)
    assert runtime.ctx.sealer.open(source.sealed, source.aad).startswith("cred-canary")


def _flip(sealed: str, index: int, mask: int) -> str:
    prefix, kid, body = sealed.split(".")
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[index] ^= mask
    return f"{prefix}.{kid}.{base64.urlsafe_b64encode(bytes(raw)).decode()}"


def test_s04_one_flipped_byte_anywhere_fails_never_garbage() -> None:
    """Flipping any bit pattern of any byte of nonce, ciphertext or tag raises, never opens."""
    box, aad = sealer(), credential_aad(1)
    sealed = box.seal("a secret worth stealing", aad)
    size = len(base64.urlsafe_b64decode(sealed.split(".")[2]))
    assert size == 12 + len("a secret worth stealing") + 16  # nonce, ciphertext, tag
    for index in range(size):
        for mask in (0x01, 0x80, 0xFF):
            with pytest.raises(CredentialCorrupted):
                box.open(_flip(sealed, index, mask), aad)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:-4],  # truncated tag
        lambda s: s.replace("tw1.", "tw2.", 1),  # unknown format
        lambda s: s.replace(".k1.", ".k9.", 1),  # names a key we do not hold
        lambda s: s.rsplit(".", 1)[0] + ".!!!not-base64",
        lambda s: "tw1.k1.",
        lambda s: "plaintext",
    ],
)
def test_s04_malformed_values_are_corrupted(mangle: object) -> None:
    """Malformed, truncated or unknown-key values raise CredentialCorrupted, nothing else."""
    assert callable(mangle)
    box, aad = sealer(), credential_aad(1)
    with pytest.raises(CredentialCorrupted):
        box.open(mangle(box.seal("secret", aad)), aad)


def test_s04_a_value_under_another_key_of_the_same_id_does_not_open() -> None:
    """A key id alone proves nothing: the same id with other key bytes fails authentication."""
    sealed = sealer(key=secrets.token_bytes(32)).seal("secret", credential_aad(1))
    with pytest.raises(CredentialCorrupted):
        sealer().open(sealed, credential_aad(1))


def test_s05_a_database_whose_key_file_is_missing_refuses_to_start(tmp_path: Path) -> None:
    """The embedded default with a database but no key file fails closed and creates no key."""
    data = tmp_path / "tokenward-data"
    settings = load_settings(data_dir=data)
    open_runtime(settings, create_keys=True).close()
    (data / "tokenward.key").unlink()
    with pytest.raises(ConfigurationError) as failure:
        open_runtime(settings, create_keys=True)
    assert "key file" in str(failure.value)
    assert "missing" in str(failure.value)
    assert not (data / "tokenward.key").exists()  # no new key was generated
    assert (data / "tokenward.db").exists()


def test_s05_a_wrong_key_refuses_to_start(runtime: Runtime, database_url: str) -> None:
    """A database opened with a key that did not seal it fails closed with a clear message."""
    other = "k1:" + base64.b64encode(secrets.token_bytes(32)).decode()
    with pytest.raises(ConfigurationError) as failure:
        open_runtime(load_settings(database_url=database_url, encryption_keys=other))
    assert "encryption key does not match this database" in str(failure.value)


def test_s05_no_key_at_all_refuses_and_creates_nothing(tmp_path: Path) -> None:
    """A database URL without any key configured never runs in a plaintext mode."""
    db = tmp_path / "x.db"
    with pytest.raises(ConfigurationError) as failure:
        open_runtime(load_settings(database_url=f"sqlite:///{db}", data_dir=tmp_path / "d"))
    assert "no encryption key" in str(failure.value)
    assert not db.exists()
    assert not (tmp_path / "d").exists()


def test_s05_cli_exits_non_zero_with_the_message(
    runtime: Runtime, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tokenward migrate` with a wrong key exits non-zero and says why."""
    for name in list(os.environ):
        if name.startswith("TOKENWARD_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOKENWARD_DATABASE_URL", database_url)
    monkeypatch.setenv(
        "TOKENWARD_ENCRYPTION_KEYS", "k1:" + base64.b64encode(secrets.token_bytes(32)).decode()
    )
    result = CliRunner().invoke(cli, ["migrate"])
    assert result.exit_code != 0
    assert "encryption key does not match" in result.stderr


def test_s06_reprs_and_errors_never_show_key_material(tmp_path: Path) -> None:
    """Keyring, KeySource, Sealer, settings and key errors print ids, never keys."""
    key = secrets.token_bytes(32)
    ring = Keyring(primary="k1", keys={"k1": key})
    path = tmp_path / "keys.json"
    write_key_file(path, ring)
    encoded = base64.b64encode(key).decode()
    settings = load_settings(encryption_keys=f"k1:{encoded}", data_dir=tmp_path)
    shown = [
        repr(ring),
        str(ring),
        repr(KeySource(ring, path)),
        repr(Sealer(KeySource(ring))),
        repr(settings),
        str(settings),
        repr(read_key_file(path)),
    ]
    for bad in (f"k1:{encoded[:-8]}", f"k1:{encoded}!"):
        with pytest.raises(ConfigurationError) as failure:
            Keyring.from_env_value(bad)
        shown.append(str(failure.value))
    for text_ in shown:
        assert encoded not in text_
        assert encoded[:16] not in text_
        assert key.hex() not in text_
        assert repr(key) not in text_
    assert "k1" in repr(ring)


def _all_rows_as_text(runtime: Runtime) -> str:
    parts = []
    with transaction(runtime.engine, write=False) as conn:
        for table in metadata.sorted_tables:
            parts.extend(repr(tuple(row)) for row in conn.execute(select(table)))
    return "\n".join(parts)


def _raw_database_bytes(database_url: str) -> bytes:
    if not database_url.startswith("sqlite"):
        return b""
    path = Path(database_url.removeprefix("sqlite:///"))
    files = [path, path.with_name(path.name + "-wal")]
    return b"".join(p.read_bytes() for p in files if p.exists())


def test_s07_tokens_and_client_secrets_are_stored_only_as_hashes(
    client: TestClient,
    runtime: Runtime,
    api_client: tuple[str, str],
    acct: dict[str, str],
    database_url: str,
) -> None:
    """Client secrets, bearer and refresh tokens and sign-in tokens are stored as SHA-256
    hashes; the plaintext appears nowhere in the database (rows, SQLite file and WAL)."""
    signin = client.post("/v1.0/accounts/acme/signintoken", json={"Username": "u"}, headers=acct)
    client.put("/v1.0/accounts/acme/users", json={"UserName": "p", "Password": "pw"}, headers=acct)
    grant = client.post(
        "/oauth/token",
        data={"grant_type": "password", "client_id": api_client[0], "username": "p"}
        | {"password": "pw"},
    ).json()
    bearer = acct["Authorization"].removeprefix("Bearer ")
    plaintexts = [
        api_client[1],
        bearer,
        signin.json()["Token"],
        grant["access_token"],
        grant["refresh_token"],
    ]
    rows = _all_rows_as_text(runtime)
    raw = _raw_database_bytes(database_url)
    for plaintext in plaintexts:
        assert plaintext not in rows
        assert plaintext.encode() not in raw
        assert hash_token(plaintext) in rows


def test_s08_application_connector_client_secrets_are_sealed(
    client: TestClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """A client secret saved with PUT /v1.0/applicationconnectors/{id} is stored sealed with the
    same scheme (key id, bound to its connector), never in plaintext, and rotation re-seals it."""
    url = "/v1.0/applicationconnectors/1010"
    saved = client.put(url, json={"ClientId": "cid", "ClientSecret": "app-canary"}, headers=auth)
    assert saved.status_code == 200, saved.text
    assert "app-canary" not in _all_rows_as_text(runtime)
    with transaction(runtime.engine, write=False) as conn:
        stored = conn.execute(select(application_connectors.c.client_secret_sealed)).scalar_one()
    box = runtime.ctx.sealer
    assert key_id_of(stored) == box.primary_key_id()
    assert box.open(stored, client_secret_aad(1010)) == "app-canary"
    with pytest.raises(CredentialCorrupted):
        box.open(stored, client_secret_aad(1011))
    ring = runtime.keys.current().with_new_primary()
    assert reseal_all(runtime.engine, Sealer(KeySource(ring))).ok
    with transaction(runtime.engine, write=False) as conn:
        resealed = conn.execute(select(application_connectors.c.client_secret_sealed)).scalar_one()
    assert key_id_of(resealed) == ring.primary
    assert Sealer(KeySource(ring)).open(resealed, client_secret_aad(1010)) == "app-canary"


def test_s02_every_sealed_value_names_its_key(runtime: Runtime) -> None:
    """Every stored ciphertext carries the id of the key that sealed it."""
    seed_sealed_values(runtime.ctx)
    values = stored_values(runtime.engine)
    assert len({v.column for v in values}) == 6
    assert {key_id_of(v.sealed) for v in values} == {"k1"}
