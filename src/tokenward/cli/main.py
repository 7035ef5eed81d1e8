"""``tokenward``: serve, migrate, apiclient, keys, catalog, demo.

Every command loads settings once, reports configuration problems as one message naming each,
and exits non-zero on failure without changing anything.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tokenward.cli.admin import admin_app
from tokenward.cli.catalog import catalog_app
from tokenward.cli.keys import keys_app
from tokenward.errors import CatalogInvalid, ConfigurationError, TokenwardError
from tokenward.logging import configure_logging
from tokenward.settings import Settings, load_settings

if TYPE_CHECKING:
    from tokenward.runtime import Runtime

__all__ = ["app", "main"]

app = typer.Typer(
    help="tokenward: connector authentication for embedded integrations.",
    no_args_is_help=True,
    add_completion=False,
)
apiclient_app = typer.Typer(
    help="Partner API clients (ClientId/ClientSecret).", no_args_is_help=True
)
app.add_typer(apiclient_app, name="apiclient")
app.add_typer(keys_app, name="keys")
app.add_typer(catalog_app, name="catalog")
app.add_typer(admin_app, name="admin")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as exc:
        raise _fail("invalid settings:\n  " + "\n  ".join(exc.problems)) from None


def _runtime(settings: Settings, *, migrate: bool = False, create_keys: bool = False) -> Runtime:
    from tokenward.runtime import (
        open_runtime,
    )  # imported here: heavy, and not every command needs it

    try:
        return open_runtime(settings, migrate=migrate, create_keys=create_keys)
    except CatalogInvalid as exc:  # one line per problem
        raise _fail("invalid connector catalog:\n  " + "\n  ".join(exc.problems)) from None
    except TokenwardError as exc:
        raise _fail(str(exc)) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on", min=0, max=65535)] = 8000,
    migrate: Annotated[bool, typer.Option(help="run migrations first")] = False,
) -> None:
    """Start the service (API, webflow, background workers) in one process."""
    import uvicorn

    from tokenward.web.app import create_app
    from tokenward.web.http_protocol import CoalescingHttpToolsProtocol

    settings = _settings()
    configure_logging(settings.log_level)
    runtime = _runtime(settings, migrate=migrate, create_keys=settings.uses_embedded_default)
    if settings.uses_embedded_default:
        typer.echo(
            f"tokenward: data folder {settings.data_dir.resolve()} (SQLite database and "
            "key file; back up both)",
            err=True,
        )
    application = create_app(settings, runtime=runtime, housekeeping=True)
    typer.echo(
        f"tokenward: serving on http://{host}:{port} (service URL {settings.service_url})", err=True
    )
    try:
        uvicorn.run(
            application,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            proxy_headers=False,  # the app applies TOKENWARD_TRUSTED_PROXIES itself
            http=CoalescingHttpToolsProtocol,  # a response's head and body in one write
        )
    finally:
        runtime.close()


@app.command()
def demo(
    port: Annotated[
        int, typer.Option(help="the service's port (0: any free one)", min=0, max=65535)
    ] = 8000,
    host_port: Annotated[
        int, typer.Option(help="the example host page's port (0: any free one)", min=0, max=65535)
    ] = 8001,
    data_dir: Annotated[
        Path | None, typer.Option(help="keep the demo's data here (default: a temporary folder)")
    ] = None,
) -> None:
    """Try the whole connect flow locally: the service, a sandbox provider and an example host
    page on 127.0.0.1, set up and ready; prints the URL to open (docs/demo.md)."""
    from tokenward.demo import DemoOptions, run_demo

    configure_logging("WARNING")
    options = DemoOptions(port=port, host_port=host_port, data_dir=data_dir)

    def announce(url: str) -> None:
        typer.echo(f"tokenward demo: open {url} in your browser (Ctrl-C stops the demo)")

    try:
        run_demo(options, announce)
    except (OSError, TokenwardError) as exc:
        raise _fail(str(exc)) from None
    typer.echo("tokenward demo: stopped", err=True)


@app.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date (safe to run from several hosts at once)."""
    settings = _settings()
    runtime = _runtime(settings, migrate=True, create_keys=settings.uses_embedded_default)
    runtime.close()
    typer.echo("database schema is current")


@apiclient_app.command("create")
def apiclient_create(
    name: Annotated[str, typer.Option("--name", help="a label for the client")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Create an API client; its secret is shown this once."""
    from tokenward.services import api_clients

    runtime = _runtime(_settings(), create_keys=False)
    try:
        client, secret = api_clients.create_client(runtime.ctx, name)
    except TokenwardError as exc:
        raise _fail(str(exc)) from None
    finally:
        runtime.close()
    if as_json:
        typer.echo(json.dumps({"ClientId": client.client_id, "ClientSecret": secret}))
    else:
        typer.echo(
            f"ClientId:     {client.client_id}\nClientSecret: {secret}\n"
            "(the secret is not shown again)"
        )


@apiclient_app.command("list")
def apiclient_list(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List API clients (never their secrets)."""
    from tokenward.services import api_clients

    runtime = _runtime(_settings())
    try:
        clients = api_clients.list_clients(runtime.ctx)
    finally:
        runtime.close()
    rows = [
        {
            "ClientId": c.client_id,
            "Name": c.name,
            "CreatedUtc": c.created_utc.isoformat(),
            "Revoked": c.revoked_utc is not None,
        }
        for c in clients
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        typer.echo(f"{row['ClientId']}  {row['Name']}  {'revoked' if row['Revoked'] else ''}")


@apiclient_app.command("revoke")
def apiclient_revoke(client_id: Annotated[str, typer.Argument(help="the ClientId")]) -> None:
    """Revoke an API client and every bearer token issued to it."""
    from tokenward.services import api_clients

    runtime = _runtime(_settings())
    try:
        api_clients.revoke_client(runtime.ctx, client_id)
    except TokenwardError as exc:
        raise _fail(str(exc)) from None
    finally:
        runtime.close()
    typer.echo(f"revoked {client_id}")


def main() -> None:
    try:
        app()
    except TokenwardError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
