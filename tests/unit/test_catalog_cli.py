"""``tokenward catalog validate``: no database, no key, every problem printed, exit codes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tokenward.catalog.loader import load_catalog
from tokenward.cli.main import app

VALID = {
    "Id": 7001,
    "Name": "Extra",
    "Version": "1",
    "BaseUrl": "https://api.extra.example",
    "Authentication": [
        {"Id": "5a3c1f0e-8d1b-4b6a-9f57-0c3c8f5d7e01", "AuthName": "Key", "AuthType": "ApiKey"}
    ],
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No TOKENWARD_* settings and an empty working folder (no .env, no data folder)."""
    for name in list(os.environ):
        if name.startswith("TOKENWARD_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def folder_with(tmp_path: Path, **files: object) -> Path:
    folder = tmp_path / "connectors"
    folder.mkdir()
    for name, data in files.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return folder


def test_builtin_catalog_is_valid(tmp_path: Path) -> None:
    """Without arguments the built-in catalog is checked; exit 0 with a count; nothing created."""
    result = CliRunner().invoke(app, ["catalog", "validate"])
    assert result.exit_code == 0, result.output
    assert f"catalog is valid: {len(load_catalog())} connector(s)" in result.stdout
    assert list(tmp_path.iterdir()) == []  # no database, no key file


def test_extra_folder_is_added_to_the_builtin(tmp_path: Path) -> None:
    """DIR is validated together with the built-in catalog."""
    folder = folder_with(tmp_path, extra=VALID)
    result = CliRunner().invoke(app, ["catalog", "validate", str(folder)])
    assert result.exit_code == 0, result.output
    assert f"{len(load_catalog()) + 1} connector(s)" in result.stdout


def test_only_checks_the_folder_alone(tmp_path: Path) -> None:
    """--only leaves the built-in catalog out; without a DIR it is a usage error."""
    folder = folder_with(tmp_path, extra=VALID)
    result = CliRunner().invoke(app, ["catalog", "validate", "--only", str(folder)])
    assert result.exit_code == 0, result.output
    assert "1 connector(s)" in result.stdout
    assert CliRunner().invoke(app, ["catalog", "validate", "--only"]).exit_code == 2


def test_every_problem_is_printed_and_exit_is_1(tmp_path: Path) -> None:
    """A broken folder prints one line per problem, across files, and exits 1."""
    folder = folder_with(
        tmp_path,
        a=dict(VALID, BaseUrl="http://api.extra.example"),
        b=dict(VALID, Id=1010, Name="Second"),
    )
    (folder / "c.yaml").write_text("Id: [\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["catalog", "validate", str(folder)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert any(line.endswith("a.yaml: BaseUrl: must be an absolute https URL") for line in lines)
    assert any("b.yaml: Id: connector Id 1010 is already used in" in line for line in lines)
    assert any("b.yaml: Authentication[0].Id: GUID" in line for line in lines)
    assert any("c.yaml: line 2" in line for line in lines)
    assert f"{len(lines)} problem(s)" in result.stderr


def test_catalog_dirs_setting_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without DIR, TOKENWARD_CATALOG_DIRS is checked, as `serve` would load it."""
    folder = folder_with(tmp_path, extra=dict(VALID, BaseUrl="ftp://x.example"))
    monkeypatch.setenv("TOKENWARD_CATALOG_DIRS", str(folder))
    result = CliRunner().invoke(app, ["catalog", "validate"])
    assert result.exit_code == 1
    assert "extra.yaml: BaseUrl: must be an absolute https URL" in result.stdout


def test_serve_refuses_a_bad_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A start with a bad catalog stops before creating anything, naming every problem."""
    folder = folder_with(tmp_path, a=dict(VALID, BaseUrl="http://x.example", Id=200_000))
    monkeypatch.setenv("TOKENWARD_CATALOG_DIRS", str(folder))
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 2
    assert "invalid connector catalog:" in result.stderr
    assert "a.yaml: Id: a catalog connector Id must be below 100000" in result.stderr
    assert "a.yaml: BaseUrl: must be an absolute https URL" in result.stderr
    assert not (tmp_path / "tokenward-data").exists()
