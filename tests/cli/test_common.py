"""Shared command-line helpers: a port asked for is claimed before anything else can take it."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from portal.cli.common import claim_port
from portal.cli.main import main


def can_bind(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_a_claimed_port_cannot_be_handed_to_anyone_else_until_released(closed_port):
    claimed = claim_port("127.0.0.1", closed_port)
    try:
        assert claimed.getsockname() == ("127.0.0.1", closed_port)
        assert not can_bind(closed_port)
    finally:
        claimed.close()
    assert can_bind(closed_port)


def test_claiming_a_taken_port_exits_with_one_line(closed_port):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", closed_port))
        taken.listen()
        with pytest.raises(SystemExit) as exit_info:
            claim_port("127.0.0.1", closed_port)
    assert exit_info.value.code == 1


def test_the_demo_refuses_a_taken_port_before_starting_anything(closed_port, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", closed_port))
        taken.listen()
        result = CliRunner().invoke(
            main, ["demo", "--port", str(closed_port), "--data-dir", str(tmp_path / "demo")], obj={}
        )
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{closed_port}" in result.output
    assert "Traceback" not in result.output
    # refused before the stack was built: no ledger, no embedded Redis, only the settings file
    assert [path.name for path in (tmp_path / "demo").iterdir()] == ["demo-config.toml"]
