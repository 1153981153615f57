"""``pay2connect admin create USER [--role owner|cashier]``: password from stdin, roles kept,
the last owner protected, a reset ends the admin's sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.cli.main import main


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[portal]\ndata_dir = "{tmp_path / "data"}"\n[database]\nurl = "sqlite:///{tmp_path / "ledger.db"}"\n'
    )
    return path


def run(config_file: Path, *args: str, stdin: str | None = None):
    result = CliRunner().invoke(main, ["--config", str(config_file), "admin", "create", *args], input=stdin, obj={})
    assert "Traceback" not in (result.output or ""), result.output
    return result


def roles() -> dict[str, str]:
    from portal.ledger.models import AdminUser

    return {u.username: u.role for u in AdminUser.select()}


def test_roles_from_the_command_line(config_file: Path) -> None:
    first = run(config_file, "boss", stdin="a-long-password\n")
    assert first.exit_code == 0 and "admin boss (owner) is ready" in first.output
    cashier = run(config_file, "till1", "--role", "cashier", stdin="till-password-1\n")
    assert cashier.exit_code == 0 and "admin till1 (cashier) is ready" in cashier.output
    reset = run(config_file, "till1", stdin="another-password\n")  # a reset keeps the role
    assert reset.exit_code == 0 and "(cashier)" in reset.output
    assert roles() == {"boss": "owner", "till1": "cashier"}
    last = run(config_file, "boss", "--role", "cashier", stdin="a-long-password\n")
    assert last.exit_code == 1 and "boss is the only owner" in last.output
    assert roles()["boss"] == "owner"
    assert run(config_file, "till1", "--role", "owner", stdin="another-password\n").exit_code == 0
    assert run(config_file, "boss", "--role", "cashier", stdin="a-long-password\n").exit_code == 0
    assert roles() == {"boss": "cashier", "till1": "owner"}
    assert run(config_file, "x", "--role", "king", stdin="a-long-password\n").exit_code == 2


def test_a_reset_from_the_command_line_ends_the_admins_sessions(config_file: Path) -> None:
    assert run(config_file, "boss", stdin="a-long-password\n").exit_code == 0
    from portal.domain import admin_sessions
    from portal.ledger.models import AdminSession, AdminUser

    user = AdminUser.get(AdminUser.username == "boss")
    token = admin_sessions.start(user.id, "127.0.0.1", "test", datetime.now(UTC))
    assert admin_sessions.current(token, datetime.now(UTC)) is not None
    assert run(config_file, "boss", stdin="the-new-password\n").exit_code == 0
    assert admin_sessions.current(token, datetime.now(UTC)) is None
    assert AdminSession.select().count() == 0
