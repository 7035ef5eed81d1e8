"""``tokenward catalog validate [DIR]…``: check connector definitions before deploying them.

It loads exactly what ``serve`` would (the built-in catalog plus ``TOKENWARD_CATALOG_DIRS``, or
the folders given), needs no database and no key, and prints every problem at once. Exit codes:
0 valid, 1 problems found, 2 unusable invocation or settings.

``tokenward catalog docs [--output FILE] [--check]`` writes the generated connector list
(``docs/connectors-list.md``) from the built-in catalog, or with ``--check`` exits 1 when the file
differs from what the catalog generates (the CI gate that keeps the docs current).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tokenward.catalog.docs import connector_list_markdown
from tokenward.catalog.loader import load_catalog
from tokenward.errors import CatalogInvalid, ConfigurationError
from tokenward.settings import load_settings

__all__ = ["catalog_app"]

catalog_app = typer.Typer(help="The connector catalog.", no_args_is_help=True)


def _folders(dirs: list[Path] | None) -> tuple[list[Path], bool]:
    """The extra folders to load and whether http on loopback is allowed (from settings)."""
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        typer.echo("error: invalid settings:\n  " + "\n  ".join(exc.problems), err=True)
        raise typer.Exit(code=2) from None
    return (list(dirs) if dirs else list(settings.catalog_dirs)), settings.allow_insecure_http


@catalog_app.command("validate")
def validate(
    dirs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="folders of *.yaml definitions (default: TOKENWARD_CATALOG_DIRS)",
            show_default=False,
        ),
    ] = None,
    only: Annotated[
        bool, typer.Option("--only", help="check only DIR, without the built-in catalog")
    ] = False,
) -> None:
    """Validate the built-in catalog plus DIR; print every problem, exit 1 if there is any."""
    if only and not dirs:
        typer.echo("error: --only needs at least one DIR", err=True)
        raise typer.Exit(code=2)
    folders, insecure = _folders(dirs)
    try:
        catalog = load_catalog(folders, builtin=not only, allow_insecure_http=insecure)
    except CatalogInvalid as exc:
        for problem in exc.problems:
            typer.echo(problem)
        typer.echo(f"error: {len(exc.problems)} problem(s) in the catalog", err=True)
        raise typer.Exit(code=1) from None
    methods = sum(len(c.Methods) for c in catalog.all())
    sources = ([] if only else ["built-in"]) + [str(folder) for folder in folders]
    typer.echo(
        f"catalog is valid: {len(catalog)} connector(s), {methods} method(s) ({', '.join(sources)})"
    )


@catalog_app.command("docs")
def docs(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="the Markdown file to write or check")
    ] = Path("docs/connectors-list.md"),
    check: Annotated[
        bool, typer.Option("--check", help="only compare; exit 1 when the file is out of date")
    ] = False,
) -> None:
    """Write the connector list page generated from the built-in catalog (or --check it)."""
    try:
        text = connector_list_markdown(load_catalog())
    except CatalogInvalid as exc:
        for problem in exc.problems:
            typer.echo(problem)
        typer.echo("error: the built-in catalog is invalid", err=True)
        raise typer.Exit(code=1) from None
    current = output.read_text(encoding="utf-8") if output.is_file() else None
    if check:
        if current != text:
            typer.echo(f"{output} is out of date: run `tokenward catalog docs`", err=True)
            raise typer.Exit(code=1)
        typer.echo(f"{output} is up to date")
        return
    if current != text:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}" if current != text else f"{output} is up to date")
