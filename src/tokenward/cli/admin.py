"""``tokenward admin``: console users (create, set a password, list).

The password is read from a hidden prompt (asked twice), or from standard input with
``--password-stdin`` (for scripts); it is never an argument, so it never lands in shell history
or the process list. Exit codes: 0 done, 2 refused or unusable configuration.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from tokenward.errors import ConfigurationError, TokenwardError
from tokenward.settings import load_settings

if TYPE_CHECKING:
    from tokenward.runtime import Runtime

__all__ = ["admin_app"]

admin_app = typer.Typer(
    help="Console users: create, password, list (the partner console at /console).",
    no_args_is_help=True,
)

UsernameOption = Annotated[str, typer.Option("--username", "-u", help="the console user name")]
StdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from standard input")
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _open() -> Runtime:
    from tokenward.runtime import open_runtime

    try:
        settings = load_settings()
        return open_runtime(settings, migrate=False, create_keys=settings.uses_embedded_default)
    except ConfigurationError as exc:
        raise _fail("\n  ".join(exc.problems)) from None
    except TokenwardError as exc:
        raise _fail(str(exc)) from None


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@admin_app.command("create")
def create(username: UsernameOption, password_stdin: StdinOption = False) -> None:
    """Create a console user (the password: at least 12 characters)."""
    from tokenward.services import console_auth

    password = _password(password_stdin)
    runtime = _open()
    try:
        user = console_auth.create_console_user(runtime.ctx, username, password)
    except TokenwardError as exc:
        raise _fail(str(exc)) from None
    finally:
        runtime.close()
    typer.echo(
        f"console user {user.username} created; sign in at {runtime.settings.service_url}/console"
    )


@admin_app.command("password")
def password(username: UsernameOption, password_stdin: StdinOption = False) -> None:
    """Set a console user's password (signs that user out everywhere)."""
    from tokenward.services import console_auth

    value = _password(password_stdin)
    runtime = _open()
    try:
        console_auth.set_console_password(runtime.ctx, username, value)
    except TokenwardError as exc:
        raise _fail(str(exc)) from None
    finally:
        runtime.close()
    typer.echo(f"password of console user {username.strip()} changed")


@admin_app.command("list")
def list_users() -> None:
    """List console users and when each last signed in."""
    from tokenward.services import console_auth

    runtime = _open()
    try:
        users = console_auth.list_console_users(runtime.ctx)
    finally:
        runtime.close()
    for user in users:
        last = user.last_login_utc.isoformat() if user.last_login_utc else "never"
        typer.echo(f"{user.username}  last sign-in: {last}")
