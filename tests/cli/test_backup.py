"""`pay2connect backup` / `restore` on a real ledger: SQLite while it is open, and PostgreSQL
(``pg_dump``/``pg_restore``) when the PostgreSQL pass gives a test database."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.cli.main import main
from tests import backends


@pytest.fixture
def config_file(tmp_path: Path, ledger_url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[portal]\ndata_dir = "{tmp_path / "data"}"\n[database]\nurl = "{ledger_url}"\n')
    return path


def run(config_file: Path, *args: str):
    result = CliRunner().invoke(main, ["--config", str(config_file), *args], obj={})
    assert "Traceback" not in result.output, result.output
    return result


def names(config_file: Path) -> list[str]:
    listed = run(config_file, "packages", "list", "--all").output.splitlines()[1:]
    return [line.split()[1] for line in listed]


def add(config_file: Path, name: str) -> None:
    assert run(config_file, "packages", "add", "--name", name, "--price", "10", "--duration", "1h").exit_code == 0


def test_backup_then_restore_brings_the_rows_back(config_file, tmp_path, ledger_url):
    if ledger_url.startswith("postgresql") and shutil.which("pg_dump") is None:
        pytest.skip("pg_dump not installed (Debian's postgresql-client)")
    add(config_file, "Hour")
    held = None
    if ledger_url.startswith("sqlite"):  # a writer holds the file open: the copy is still consistent
        held = sqlite3.connect(ledger_url[len("sqlite:///") :])
        held.execute("BEGIN IMMEDIATE")
        held.execute("UPDATE package SET price = price")
    saved = tmp_path / "ledger.backup"
    result = run(config_file, "backup", str(saved))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"backup written: {saved}")
    assert saved.stat().st_mode & 0o777 == 0o600
    if held is not None:
        held.rollback()
        held.close()
    add(config_file, "Day")
    assert names(config_file) == ["Hour", "Day"]
    refused = run(config_file, "restore", str(saved))
    assert refused.exit_code == 1 and "add --yes" in refused.output
    restored = run(config_file, "restore", "--yes", str(saved))
    assert restored.exit_code == 0, restored.output
    assert names(config_file) == ["Hour"]
    assert run(config_file, "migrate").exit_code == 0


def test_restore_refuses_a_file_that_is_not_a_ledger_backup(config_file, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a backup at all")
    result = run(config_file, "restore", "--yes", str(junk))
    assert result.exit_code == 1
    assert "not a" in result.output and "backup of the ledger" in result.output


@pytest.mark.skipif(bool(backends.DATABASE_URL), reason="SQLite-only: an SQLite file that is not a ledger")
def test_restore_refuses_an_sqlite_file_without_the_ledger_tables(config_file, tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE x (y)")
    result = run(config_file, "restore", "--yes", str(other))
    assert result.exit_code == 1 and "not a pay2connect ledger" in result.output


def test_backup_into_a_missing_folder_is_one_line(config_file, tmp_path):
    add(config_file, "Hour")
    result = run(config_file, "backup", str(tmp_path / "nope" / "x.backup"))
    assert result.exit_code == 1 and result.output.strip() == f"error: {tmp_path / 'nope'}: no such folder"
