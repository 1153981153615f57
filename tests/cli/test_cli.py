"""The command line: bad input is one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[portal]\ndata_dir = "{tmp_path / "data"}"\n[database]\nurl = "sqlite:///{tmp_path / "ledger.db"}"\n'
    )
    return path


def run(config_file: Path, *args: str, stdin: str | None = None):
    result = CliRunner().invoke(main, ["--config", str(config_file), *args], input=stdin, obj={})
    assert "Traceback" not in (result.output or ""), result.output
    return result


def test_init_db_twice_is_harmless(config_file):
    first = run(config_file, "init-db")
    second = run(config_file, "init-db")
    assert first.exit_code == 0 and second.exit_code == 0
    assert "database ready" in second.output


def test_packages_add_list_update_disable(config_file):
    added = run(
        config_file,
        "packages",
        "add",
        "--name",
        "1 hour",
        "--price",
        "10",
        "--duration",
        "1h",
        "--data-cap",
        "500MB",
        "--rate-limit",
        "2M/2M",
        "--devices",
        "2",
    )
    assert added.exit_code == 0, added.output
    package_id = added.output.strip()
    assert package_id.isdigit()
    listed = run(config_file, "packages", "list")
    assert "1 hour" in listed.output and "KSh 10" in listed.output and "500MB" in listed.output
    assert run(config_file, "packages", "update", package_id, "--price", "15").exit_code == 0
    assert "KSh 15" in run(config_file, "packages", "list").output
    assert run(config_file, "packages", "disable", package_id).exit_code == 0
    assert "no packages yet" in run(config_file, "packages", "list").output
    assert "disabled" in run(config_file, "packages", "list", "--all").output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--name", "x", "--price", "ten", "--duration", "1h"], "price 'ten' must be a whole number"),
        (["--name", "x", "--price", "0", "--duration", "1h"], "price must be between 1 and"),
        (["--name", "x", "--price", "10", "--duration", "5y"], "duration '5y' not understood"),
        (["--name", "x", "--price", "10", "--duration", "1h", "--data-cap", "lots"], "data cap 'lots' not understood"),
        (["--name", "x", "--price", "10", "--duration", "1h", "--rate-limit", "fast"], "speed limit 'fast'"),
        (["--name", "x", "--price", "10", "--duration", "1h", "--devices", "0"], "devices must be"),
        (["--price", "10"], "name is required"),
    ],
)
def test_bad_package_values_give_one_line_each(config_file, args, expected):
    result = run(config_file, "packages", "add", *args)
    assert result.exit_code == 1
    assert expected in result.output


def test_update_of_a_missing_package(config_file):
    result = run(config_file, "packages", "update", "999", "--price", "5")
    assert result.exit_code == 1 and "no package with id '999'" in result.output


def test_admin_create_reads_the_password_from_stdin(config_file):
    assert run(config_file, "admin", "create", "owner", stdin="a-long-password\n").exit_code == 0
    short = run(config_file, "admin", "create", "owner2", stdin="short\n")
    assert short.exit_code == 1 and "at least 10 characters" in short.output


def test_bad_config_refuses_to_start_with_one_line_per_problem(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[portal]\nlisten = "nowhere"\n[mpesa]\nenvironment = "prod"\n')
    result = CliRunner().invoke(main, ["--config", str(bad), "init-db"], obj={})
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 2 and "portal.listen" in lines[0] + lines[1]


def test_unknown_command_and_bad_option_are_usage_errors(config_file):
    assert run(config_file, "fly").exit_code == 2
    assert run(config_file, "packages", "add", "--colour", "red").exit_code == 2
    assert run(config_file, "emulate-router", "--port", "70000").exit_code == 2


def test_console_script_prints_no_traceback_for_a_missing_config(tmp_path):
    script = Path(sys.executable).parent / "pay2connect"
    result = subprocess.run(
        [str(script), "--config", str(tmp_path / "nope.toml"), "check"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.toml'}: config file not found"


def test_routeros_setup_prints_a_script(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[portal]\npublic_url = "http://10.5.50.2:8080"\n[[routers]]\nname = "cafe"\nhost = "10.5.50.1"\n')
    result = CliRunner().invoke(main, ["--config", str(path), "routeros-setup"], obj={})
    assert result.exit_code == 0
    assert "walled-garden ip add action=accept dst-address=10.5.50.2" in result.output
    assert "router=cafe" in result.output and "$(link-orig-esc)" in result.output
    assert "policy=api,read,write" in result.output


def test_check_reports_one_line_per_part(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        f'[portal]\ndata_dir = "{tmp_path / "data"}"\n'
        '[mpesa]\nenvironment = "simulator"\n'
        '[[routers]]\nname = "main"\nbackend = "emulator"\nhost = "127.0.0.1"\nport = 0\npassword = "pw"\n'
    )
    result = CliRunner().invoke(main, ["--config", str(path), "check"], obj={})
    lines = result.output.splitlines()
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0].split(None, 1)[1] for line in lines] == [
        "config",
        "database",
        "redis",
        "router main",
        "daraja (simulator)",
    ]
    assert all(line.startswith("ok") for line in lines)


def test_check_fails_for_an_unreachable_router(tmp_path, closed_port):
    path = tmp_path / "c.toml"
    path.write_text(
        f'[portal]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[[routers]]\nname = "gate"\nhost = "127.0.0.1"\nport = {closed_port}\ntimeout = 0.5\n'
    )
    result = CliRunner().invoke(main, ["--config", str(path), "check"], obj={})
    assert result.exit_code == 1
    assert any(line.startswith("FAIL  router gate") for line in result.output.splitlines()), result.output


def test_payments_pause_resume_status(config_file):
    assert "payments are on" in run(config_file, "payments", "status").output
    paused = run(config_file, "payments", "pause", "--reason", "Safaricom outage")
    assert paused.exit_code == 0 and "paused" in paused.output
    assert "Safaricom outage" in run(config_file, "payments", "status").output
    assert "already paused" in run(config_file, "payments", "pause").output
    assert "on again" in run(config_file, "payments", "resume").output


def test_statement_import_prints_four_counts_and_refuses_bad_files(config_file):
    files = ROOT / "tests" / "mpesa" / "statements"
    first = run(config_file, "statement", "import", str(files / "org_portal_2025.csv"))
    assert first.exit_code == 0, first.output
    for words in ("matched: 0", "statement only (money received, no access given): 3", "ledger only", "mismatched"):
        assert words in first.output
    again = run(config_file, "statement", "import", str(files / "org_portal_2025.csv"))
    assert again.exit_code == 0 and "nothing changed" in again.output
    for name, words in (("missing_paid_in.csv", "'Paid In'"), ("not_a_statement.csv", "no header row")):
        refused = run(config_file, "statement", "import", str(files / name))
        assert refused.exit_code == 1 and words in refused.output
    missing = run(config_file, "statement", "import", str(files / "no-such-file.csv"))
    assert missing.exit_code != 0 and "cannot read it" in missing.output
