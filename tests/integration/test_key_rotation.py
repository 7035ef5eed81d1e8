"""Key rotation (SECURITY.md S-02): ``tokenward keys rotate|retire|list`` and the re-seal job,
on SQLite and PostgreSQL, beside a live service."""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sealed_data import open_all, seed_sealed_values, stored_values
from sqlalchemy import select, update
from typer.testing import CliRunner

from tokenward import runtime as runtime_module
from tokenward.cli.main import app as cli
from tokenward.clock import FakeClock
from tokenward.crypto.aead import Sealer, key_id_of
from tokenward.crypto.fields import credential_aad
from tokenward.crypto.keyring import Keyring, KeySource, read_key_file, write_key_file
from tokenward.runtime import Runtime, open_runtime
from tokenward.services import api_clients
from tokenward.settings import Settings, load_settings
from tokenward.store import rotation
from tokenward.store.engine import transaction
from tokenward.store.rotation import key_usage, reseal_all
from tokenward.store.tables import credentials, idempotency_keys
from tokenward.web.app import create_app

K1 = secrets.token_bytes(32)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    write_key_file(path, Keyring(primary="k1", keys={"k1": K1}))
    return path


@pytest.fixture
def file_settings(database_url: str, key_file: Path, tmp_path: Path) -> Settings:
    return load_settings(database_url=database_url, key_file=key_file, data_dir=tmp_path / "data")


@pytest.fixture
def rt(file_settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    opened = open_runtime(file_settings, clock=clock)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, database_url: str, key_file: Path, tmp_path: Path
) -> None:
    """The CLI's environment: this test's database and key file, nothing else."""
    for name in list(os.environ):
        if name.startswith("TOKENWARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TOKENWARD_DATABASE_URL", database_url)
    monkeypatch.setenv("TOKENWARD_KEY_FILE", str(key_file))
    monkeypatch.chdir(tmp_path)


def tokenward(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_s02_rotate_reseals_every_value_under_a_new_key(
    rt: Runtime, key_file: Path, cli_env: None
) -> None:
    """After `keys rotate` every secret opens and names the new key; the old key retires."""
    plain = seed_sealed_values(rt.ctx, connectors=7)
    code, out, err = tokenward("keys", "rotate", "--batch-size", "3")
    assert code == 0, err
    ring = read_key_file(key_file)
    assert ring.primary != "k1"
    assert ring.keys["k1"] == K1  # kept, decrypt-only
    assert f"re-sealed {len(plain) + 1} values under key {ring.primary}" in out
    assert {key_id_of(v.sealed) for v in stored_values(rt.engine)} == {ring.primary}
    code, out, err = tokenward("keys", "retire", "k1")
    assert code == 0, err
    assert set(read_key_file(key_file).keys) == {ring.primary}
    only_new = Sealer(KeySource(read_key_file(key_file)))
    assert open_all(rt.engine, only_new) == plain


def test_s02_rows_under_the_old_key_open_before_the_job(rt: Runtime, key_file: Path) -> None:
    """With a new primary key in place and no re-seal yet, old values open and new ones seal
    under the new key; the job then moves every value over."""
    plain = seed_sealed_values(rt.ctx)
    ring = Keyring(primary="k1", keys={"k1": K1}).with_new_primary()
    write_key_file(key_file, ring)
    sealer = Sealer(KeySource(read_key_file(key_file), key_file))
    assert open_all(rt.engine, sealer) == plain
    assert key_id_of(sealer.seal("x", b"aad")) == ring.primary
    report = reseal_all(rt.engine, sealer, batch_size=2)
    assert report.ok
    assert report.failures == []
    assert key_usage(rt.engine, ["k1"])["k1"] == {}
    assert open_all(rt.engine, sealer) == plain


def test_s02_retire_refuses_while_a_value_names_the_key(
    rt: Runtime, key_file: Path, cli_env: None
) -> None:
    """`keys retire` refuses a key still in use (naming how many values) and changes nothing."""
    seed_sealed_values(rt.ctx)
    write_key_file(key_file, Keyring(primary="k1", keys={"k1": K1}).with_new_primary())
    before = key_file.read_bytes()
    code, _out, err = tokenward("keys", "retire", "k1")
    assert code == 1
    assert "key k1 still seals" in err
    assert "credentials.secret_sealed: 3" in err
    assert key_file.read_bytes() == before
    code, _out, err = tokenward("keys", "retire", read_key_file(key_file).primary)
    assert code == 1
    assert "primary" in err
    assert key_file.read_bytes() == before


def test_keys_list_counts_values_per_key_without_key_material(
    rt: Runtime, key_file: Path, cli_env: None
) -> None:
    """`keys list` shows ids, the primary and counts, and never a key."""
    plain = seed_sealed_values(rt.ctx)
    write_key_file(key_file, Keyring(primary="k1", keys={"k1": K1}).with_new_primary())
    code, out, err = tokenward("keys", "list", "--json")
    assert code == 0, err
    listed = {k["KeyId"]: k for k in json.loads(out)["Keys"]}
    new = read_key_file(key_file).primary
    assert listed["k1"] == {"KeyId": "k1", "Primary": False, "SealedValues": len(plain) + 1}
    assert listed[new] == {"KeyId": new, "Primary": True, "SealedValues": 0}
    code, text, _ = tokenward("keys", "list")
    assert code == 0
    assert "k1  decrypt-only" in text
    for key in read_key_file(key_file).keys.values():
        for shown in (out, text):
            assert base64.b64encode(key).decode() not in shown
            assert key.hex() not in shown


def test_rotate_with_encryption_keys_reseals_to_the_configured_primary(
    database_url: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With TOKENWARD_ENCRYPTION_KEYS no key is generated: the command explains how to add one
    and re-seals everything under the configured primary."""
    k1 = "k1:" + base64.b64encode(K1).decode()
    k2 = "k2:" + base64.b64encode(secrets.token_bytes(32)).decode()
    old = open_runtime(load_settings(database_url=database_url, encryption_keys=k1), clock=clock)
    plain = seed_sealed_values(old.ctx)
    old.close()
    for name in list(os.environ):
        if name.startswith("TOKENWARD_"):
            monkeypatch.delenv(name)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("TOKENWARD_DATABASE_URL", database_url)
    monkeypatch.setenv("TOKENWARD_ENCRYPTION_KEYS", f"{k2},{k1}")
    code, out, err = tokenward("keys", "rotate")
    assert code == 0, err
    assert "no key is generated" in err
    assert "tokenward keys generate" in err
    assert list(workdir.iterdir()) == []  # no key file or data folder appeared
    new = open_runtime(load_settings(database_url=database_url, encryption_keys=k2), clock=clock)
    try:
        assert {key_id_of(v.sealed) for v in stored_values(new.engine)} == {"k2"}
        assert open_all(new.engine, new.ctx.sealer) == plain
    finally:
        new.close()
    code, out, err = tokenward("keys", "retire", "k1")
    assert code == 0, err
    assert "remove it from TOKENWARD_ENCRYPTION_KEYS" in out


def test_rotation_reports_values_that_do_not_open_and_leaves_them(
    rt: Runtime, key_file: Path, cli_env: None
) -> None:
    """A value that does not open is reported by table and row id, never its contents, left
    untouched, and the command exits non-zero; every other value is re-sealed."""
    plain = seed_sealed_values(rt.ctx)
    ids = sorted(int(k.rsplit("/", 1)[1]) for k in plain if k.startswith("credentials."))
    with transaction(rt.engine, write=True) as conn:
        moved = conn.execute(
            select(credentials.c.secret_sealed).where(credentials.c.account_connector_id == ids[0])
        ).scalar_one()
        conn.execute(
            update(credentials)
            .where(credentials.c.account_connector_id == ids[1])
            .values(secret_sealed=moved)
        )
    code, out, err = tokenward("keys", "rotate")
    assert code == 1
    assert f"credentials.secret_sealed row {ids[1]}" in err
    assert "1 sealed values do not open" in err
    assert all("canary" not in text for text in (out, err))
    with transaction(rt.engine, write=False) as conn:
        still = conn.execute(
            select(credentials.c.secret_sealed).where(credentials.c.account_connector_id == ids[1])
        ).scalar_one()
    assert still == moved
    primary = read_key_file(key_file).primary
    values = stored_values(rt.engine)
    assert sum(key_id_of(v.sealed) != primary for v in values) == 1


class RacingSealer(Sealer):
    """Opens a value while a live service (another connection) replaces that very value."""

    def __init__(self, keys: KeySource, race: Callable[[], None]) -> None:
        super().__init__(keys)
        self._race: Callable[[], None] | None = race

    def open(self, sealed: str, aad: bytes) -> str:
        plaintext = super().open(sealed, aad)
        if self._race is not None:
            race, self._race = self._race, None
            race()
        return plaintext


def test_rotation_never_overwrites_a_concurrent_write(rt: Runtime, key_file: Path) -> None:
    """Compare-and-swap: a value the service rewrites while the job holds it is kept, and
    re-sealed on the next pass if it still names the old key."""
    seed_sealed_values(rt.ctx, connectors=1)
    with rt.ctx.db.read() as tx:
        ac = tx.accounts.get("sealed")
        assert ac is not None
        connector = tx.account_connectors.list(ac.pk)[0]

    def service_writes() -> None:  # the live service still holds only the old key
        fresh = rt.ctx.sealer.seal("written-meanwhile", credential_aad(connector.id))
        with transaction(rt.engine, write=True) as conn:
            conn.execute(
                update(credentials)
                .where(credentials.c.account_connector_id == connector.id)
                .values(secret_sealed=fresh)
            )

    ring = Keyring(primary="k1", keys={"k1": K1}).with_new_primary()
    report = reseal_all(rt.engine, RacingSealer(KeySource(ring), service_writes))
    assert report.conflicts == 1
    assert report.ok
    values = {v.column: v for v in stored_values(rt.engine)}
    cred = values["credentials.secret_sealed"]
    assert key_id_of(cred.sealed) == ring.primary
    assert Sealer(KeySource(ring)).open(cred.sealed, cred.aad) == "written-meanwhile"


def test_live_service_opens_values_sealed_after_the_key_file_changed(
    rt: Runtime, file_settings: Settings, key_file: Path, cli_env: None
) -> None:
    """A running app keeps answering through `keys rotate`: it opens values sealed under the new
    key (re-reading the key file) and then seals under it."""
    created = api_clients.create_client(rt.ctx, "live")
    client_id, secret = created[0].client_id, created[1]
    with TestClient(create_app(file_settings, runtime=rt)) as http:
        token = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "live-1"}
        first = http.post("/v1.0/accounts", json={"Id": "live", "Name": "L"}, headers=headers)
        assert first.status_code == 200
        code, _out, err = tokenward("keys", "rotate")
        assert code == 0, err
        new = read_key_file(key_file).primary
        with transaction(rt.engine, write=False) as conn:
            stored = conn.execute(select(idempotency_keys.c.response_sealed)).scalar_one()
        assert key_id_of(stored) == new
        again = http.post("/v1.0/accounts", json={"Id": "live", "Name": "L"}, headers=headers)
        assert again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        other = {**headers, "Idempotency-Key": "live-2"}
        assert http.post("/v1.0/accounts", json={"Name": "M"}, headers=other).status_code == 200
    with transaction(rt.engine, write=False) as conn:
        sealed = conn.execute(select(idempotency_keys.c.response_sealed)).scalars().all()
    assert {key_id_of(s) for s in sealed} == {new}


def test_keysource_rereads_the_key_file_when_it_changes(key_file: Path) -> None:
    """A KeySource picks up a rewritten key file within about a second, keeps its keys when the
    file disappears, and re-reads at once on demand."""
    source = KeySource(read_key_file(key_file), key_file)
    assert source.current().primary == "k1"
    ring = source.current().with_new_primary()
    write_key_file(key_file, ring)
    time.sleep(1.1)
    assert source.current().primary == ring.primary
    third = ring.with_new_primary()
    write_key_file(key_file, third)
    assert source.reload().primary == third.primary
    key_file.unlink()
    time.sleep(1.1)
    assert source.current().primary == third.primary


def test_rotation_knows_every_sealed_column() -> None:
    """Every `*_sealed` column of the schema is re-sealed by the job (and the key check too)."""
    from tokenward.store.tables import metadata

    sealed = {
        f"{table.name}.{column.name}"
        for table in metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("_sealed")
    }
    known = {spec.name for spec in rotation.SEALED_COLUMNS}
    assert sealed <= known
    assert "meta.value" in known
    assert rotation.KEY_CHECK == runtime_module.KEY_CHECK
