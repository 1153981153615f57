"""``pay2connect vouchers create|list|revoke`` against a real SQLite ledger."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.cli.main import main
from portal.domain.vouchers_codes import ALPHABET, derive_key
from portal.ledger.models import Voucher, VoucherBatch

SECRET = "cli-test-secret-0123456789"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[portal]\ndata_dir = "{tmp_path / "data"}"\nsecret_key = "{SECRET}"\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "ledger.db"}"\n'
    )
    return path


def run(config_file: Path, *args: str):
    result = CliRunner().invoke(main, ["--config", str(config_file), *args], obj={})
    assert "Traceback" not in (result.output or ""), result.output
    return result


@pytest.fixture
def package_id(config_file: Path) -> str:
    added = run(config_file, "packages", "add", "--name", "1 hour", "--price", "20", "--duration", "1h")
    assert added.exit_code == 0, added.output
    return added.stdout.strip()


def test_create_prints_only_the_codes_one_per_line(config_file: Path, package_id: str) -> None:
    made = run(config_file, "vouchers", "create", "--package", package_id, "--count", "5", "--label", "Mama Mboga")

    assert made.exit_code == 0, made.output
    codes = made.stdout.splitlines()
    pattern = f"[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}"
    assert len(codes) == 5 and all(re.fullmatch(pattern, c) for c in codes), made.stdout
    assert len(set(codes)) == 5
    assert "cannot be shown again" in made.stderr and "cannot be shown again" not in made.stdout
    batch = VoucherBatch.get()
    assert (batch.count, batch.price, batch.label, batch.created_by) == (5, 20, "Mama Mboga", "cli")
    key = derive_key(SECRET)
    assert {v.code_hash for v in Voucher.select()} == {key.hash(c.replace("-", "")) for c in codes}


def test_list_shows_each_batch_by_state_and_revoke_stops_it(config_file: Path, package_id: str) -> None:
    run(config_file, "vouchers", "create", "--package", package_id, "--count", "3")
    listed = run(config_file, "vouchers", "list")
    assert listed.exit_code == 0
    line = next(row for row in listed.stdout.splitlines() if row.lstrip().startswith("1 "))
    assert "1 hour" in line and re.search(r"\b3\s+3\s+0\s+0\s+0\s+0\b", line), listed.stdout

    revoked = run(config_file, "vouchers", "revoke", "1")
    assert revoked.exit_code == 0 and "3 unused vouchers stopped, 0 live sessions ended" in revoked.stdout
    assert "already revoked" in run(config_file, "vouchers", "revoke", "1").stdout
    line = next(
        row for row in run(config_file, "vouchers", "list").stdout.splitlines() if row.lstrip().startswith("1 ")
    )
    assert re.search(r"\b3\s+0\s+0\s+0\s+0\s+3\b", line)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--count", "0"], "count must be a whole number from 1 to 1000"),
        (["--count", "1001"], "count must be a whole number from 1 to 1000"),
        (["--count", "many"], "count must be a whole number from 1 to 1000"),
        (["--count", "2", "--use-by", "yesterday"], "use-by date must be a date like 2026-12-31"),
        (["--count", "2", "--use-by", "2001-01-01"], "use-by date is in the past"),
        (["--count", "2", "--label", "x" * 61], "label must be at most 60 characters"),
    ],
)
def test_bad_input_is_one_line_and_no_batch(config_file: Path, package_id: str, args: list[str], problem: str) -> None:
    result = run(config_file, "vouchers", "create", "--package", package_id, *args)
    assert result.exit_code != 0 and f"error: {problem}" in result.stderr and result.stdout == ""
    assert VoucherBatch.select().count() == 0


def test_an_unknown_package_or_batch_is_a_clear_error(config_file: Path, package_id: str) -> None:
    unknown = run(config_file, "vouchers", "create", "--package", "999", "--count", "1")
    assert unknown.exit_code != 0 and "choose a package that exists" in unknown.stderr
    assert "there is no voucher batch '42'" in run(config_file, "vouchers", "revoke", "42").stderr


def test_without_a_secret_key_no_codes_are_made(tmp_path: Path) -> None:
    path = tmp_path / "nosecret.toml"
    path.write_text(f'[portal]\ndata_dir = "{tmp_path / "d"}"\n[database]\nurl = "sqlite:///{tmp_path / "l.db"}"\n')
    package = run(path, "packages", "add", "--name", "1h", "--price", "10", "--duration", "1h").stdout.strip()
    result = run(path, "vouchers", "create", "--package", package, "--count", "2")
    assert result.exit_code != 0 and "set [portal] secret_key" in result.stderr and result.stdout == ""
