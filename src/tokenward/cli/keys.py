"""``tokenward keys``: rotate, retire, list and generate encryption keys.

Key material is never printed, except by ``keys generate``, whose whole purpose is to print a new
key for a ``TOKENWARD_ENCRYPTION_KEYS`` deployment. Exit codes: 0 done, 1 refused or incomplete
(values that do not open, a key still in use), 2 unusable configuration.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tokenward.crypto.keyring import KEY_BYTES, generate_key_id, read_key_file, write_key_file
from tokenward.errors import ConfigurationError, TokenwardError
from tokenward.settings import Settings, load_settings

if TYPE_CHECKING:  # the store is imported by the commands that use it: `--help` stays fast
    from tokenward.runtime import Runtime
    from tokenward.store.rotation import RotationReport

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="Encryption keys: rotate, retire, list, generate.", no_args_is_help=True
)

ENV_HINT = (
    "TOKENWARD_ENCRYPTION_KEYS is set, so no key is generated here. To rotate to a new key:\n"
    "  1. `tokenward keys generate` prints a new 'kid:base64' entry;\n"
    "  2. append it to TOKENWARD_ENCRYPTION_KEYS on every host and restart them (it can open);\n"
    "  3. move it to the front on every host and restart them (it now seals);\n"
    "  4. run `tokenward keys rotate` again to re-seal every value under it;\n"
    "  5. `tokenward keys retire OLD_KID`, then remove the old entry everywhere.\n"
    "Re-sealing every value under the configured primary key {primary!r} now."
)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


def _open() -> tuple[Settings, Runtime]:
    from tokenward.runtime import open_runtime

    try:
        settings = load_settings()
        return settings, open_runtime(settings, migrate=False, create_keys=False)
    except ConfigurationError as exc:
        raise _fail("\n  ".join(exc.problems)) from None
    except TokenwardError as exc:
        raise _fail(str(exc)) from None


def _key_file(runtime: Runtime) -> Path:
    path = runtime.keys.path
    assert path is not None  # keys come from a file whenever ENCRYPTION_KEYS is not set
    return path


@keys_app.command("rotate")
def rotate(
    batch_size: Annotated[int, typer.Option(help="values per write transaction", min=1)] = 200,
) -> None:
    """Make a new primary key (key file) and re-seal every sealed value under the primary."""
    from tokenward.store.rotation import reseal_all

    settings, runtime = _open()
    try:
        if settings.encryption_keys is not None:
            typer.echo(ENV_HINT.format(primary=runtime.keys.current().primary), err=True)
        else:
            _new_primary(_key_file(runtime))
            runtime.keys.reload()
        report = reseal_all(runtime.engine, runtime.ctx.sealer, batch_size=batch_size)
    finally:
        runtime.close()
    _print_report(report)
    if not report.ok:
        raise typer.Exit(code=1)


def _new_primary(path: Path) -> None:
    ring = read_key_file(path).with_new_primary()
    write_key_file(path, ring)
    old = ", ".join(sorted(k for k in ring.keys if k != ring.primary))
    typer.echo(
        f"new primary key {ring.primary} written to {path} (kept for decrypting only: {old})",
        err=True,
    )


def _print_report(report: RotationReport) -> None:
    detail = ", ".join(f"{name}: {n}" for name, n in sorted(report.resealed.items()) if n)
    typer.echo(
        f"re-sealed {report.total} values under key {report.primary}"
        + (f" ({detail})" if detail else "")
    )
    if report.conflicts:
        typer.echo(f"{report.conflicts} values changed while re-sealing were left to the service")
    if report.failures:
        typer.echo(
            f"error: {len(report.failures)} sealed values do not open and were left untouched:",
            err=True,
        )
        for column, row in report.failures:
            typer.echo(f"  {column} row {row}", err=True)
    others = report.remaining - len(report.failures)
    if others > 0:
        typer.echo(
            f"error: {others} values still name another key (written meanwhile); run "
            "`tokenward keys rotate` again",
            err=True,
        )
    if report.ok:
        typer.echo(
            "every sealed value names the primary key; once every host has this key set, "
            "retire old keys with `tokenward keys retire KID`"
        )


@keys_app.command("retire")
def retire(kid: Annotated[str, typer.Argument(help="the key id to remove")]) -> None:
    """Remove a key that no sealed value names any longer."""
    from tokenward.store.rotation import key_usage

    settings, runtime = _open()
    try:
        ring = runtime.keys.current()
        if kid == ring.primary:
            raise _fail(f"key {kid} is the primary key; rotate to a new key first", 1)
        if kid not in ring.keys:
            raise _fail(f"no key with id {kid!r} is configured", 1)
        usage = key_usage(runtime.engine, [kid])[kid]
    finally:
        runtime.close()
    if usage:
        where = ", ".join(f"{name}: {n}" for name, n in sorted(usage.items()))
        raise _fail(
            f"key {kid} still seals {sum(usage.values())} values ({where}); run "
            "`tokenward keys rotate` first",
            1,
        )
    if settings.encryption_keys is not None:
        typer.echo(f"no sealed value names key {kid}; remove it from TOKENWARD_ENCRYPTION_KEYS")
        return
    path = _key_file(runtime)
    write_key_file(path, read_key_file(path).without(kid))
    typer.echo(f"retired key {kid} (removed from {path})")


@keys_app.command("list")
def list_keys(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Key ids, the primary, and how many sealed values name each (never key material)."""
    from tokenward.store.rotation import OTHER_KEYS, key_usage

    _settings, runtime = _open()
    try:
        ring = runtime.keys.current()
        usage = key_usage(runtime.engine, sorted(ring.keys))
    finally:
        runtime.close()
    rows = [
        {"KeyId": kid, "Primary": kid == ring.primary, "SealedValues": sum(usage[kid].values())}
        for kid in sorted(ring.keys)
    ]
    unknown = sum(usage[OTHER_KEYS].values())
    if as_json:
        typer.echo(json.dumps({"Keys": rows, "UnknownKeyValues": unknown}))
        return
    for row in rows:
        mark = "primary" if row["Primary"] else "decrypt-only"
        typer.echo(f"{row['KeyId']}  {mark:<12}  {row['SealedValues']} sealed values")
    if unknown:
        typer.echo(f"warning: {unknown} sealed values name keys that are not configured", err=True)


@keys_app.command("generate")
def generate() -> None:
    """Print a new 'kid:base64' entry for TOKENWARD_ENCRYPTION_KEYS (keep it secret)."""
    key = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()
    typer.echo(f"{generate_key_id()}:{key}")
