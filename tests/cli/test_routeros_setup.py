"""`pay2connect routeros-setup`: addresses, not names, where RouterOS needs them (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.cli.main import main
from portal.config import RouterSettings, load_settings
from portal.domain.router_setup import SetupError, plan_setup


def config(tmp_path: Path, public_url: str, host: str = "192.168.88.1", password: str = "Rt7-kq2P") -> Path:
    path = tmp_path / "c.toml"
    path.write_text(
        f'[portal]\npublic_url = "{public_url}"\ndata_dir = "{tmp_path}"\n'
        f"[[routers]]\nname = 'cafe'\nhost = '{host}'\npassword = '{password}'\n"
    )
    return path


def setup(path: Path, *args: str):
    result = CliRunner().invoke(main, ["--config", str(path), "routeros-setup", *args], obj={})
    assert "Traceback" not in result.output
    return result


def test_a_host_name_is_written_as_the_address_given(tmp_path):
    result = setup(
        config(tmp_path, "https://wifi.mamanjeri.co.ke"), "--portal-ip", "41.90.1.20", "--server-ip", "10.8.0.1"
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "walled-garden ip add action=accept dst-address=41.90.1.20 protocol=tcp dst-port=443" in out
    assert "dst-host=wifi.mamanjeri.co.ke" in out  # the HTTP-level row may name the host
    assert "address=10.8.0.1/32" in out and "/ip service set api disabled=no address=10.8.0.1/32" in out
    assert "wifi.mamanjeri.co.ke/32" not in out and "dst-address=wifi" not in out


def test_a_host_name_is_resolved(tmp_path):
    result = setup(config(tmp_path, "http://localhost:8080"), "--server-ip", "10.5.50.2")
    assert "dst-address=127.0.0.1 protocol=tcp dst-port=8080" in result.output
    assert "warning: the portal address 127.0.0.1 is this machine's loopback" in result.output


def test_a_name_that_does_not_resolve_asks_for_the_portal_ip(tmp_path):
    settings = load_settings(config(tmp_path, "https://wifi.mamanjeri.co.ke"), environ={})

    def no_dns(host: str) -> str:
        raise SetupError(f"cannot resolve {host!r} (no such name); give the portal's address with --portal-ip")

    with pytest.raises(SetupError, match="--portal-ip"):
        plan_setup(settings, settings.routers[0], resolve=no_dns, server_ip="10.5.50.2")


def test_the_server_address_is_the_one_that_reaches_the_router(tmp_path):
    settings = load_settings(config(tmp_path, "http://10.5.50.2", host="127.0.0.1"), environ={})
    plan = plan_setup(settings, settings.routers[0])
    assert plan.server_ip == "127.0.0.1"  # real routing: this machine reaches 127.0.0.1 from 127.0.0.1
    assert plan.portal_ip == "10.5.50.2" and plan.warnings == []


@pytest.mark.parametrize(
    ("public_url", "router_host", "extra"),
    [
        ("http://10.5.50.1:8080", "192.168.88.1", []),  # MikroTik's default hotspot address
        ("http://192.168.88.1", "192.168.88.1", []),  # the router's management address
        ("http://172.16.0.1", "192.168.88.1", ["--hotspot-address", "172.16.0.1"]),
    ],
)
def test_a_portal_on_the_hotspot_address_is_warned_about(tmp_path, public_url, router_host, extra):
    result = setup(config(tmp_path, public_url, host=router_host), "--server-ip", "10.5.50.2", *extra)
    assert result.exit_code == 0
    assert "warning: the portal address" in result.output and "hotspot router's own address" in result.output
    assert "# WARNING: the portal address" in result.output  # in the script too


def test_the_script_stops_on_the_router_if_the_portal_address_is_its_own(tmp_path):
    result = setup(config(tmp_path, "http://10.5.50.2"), "--server-ip", "10.5.50.3")
    assert ':if ([:len [/ip address find where address~"^10.5.50.2/"]] > 0) do={ :error' in result.output


def test_the_password_is_written_only_when_asked(tmp_path):
    path = config(tmp_path, "http://10.5.50.2", password='p"w$1')
    assert 'password="PASTE-THE-PASSWORD-FROM-config.toml"' in setup(path, "--server-ip", "10.5.50.3").output
    assert 'password="p\\"w\\$1"' in setup(path, "--server-ip", "10.5.50.3", "--include-password").output


def test_running_it_twice_replaces_earlier_rows(tmp_path):
    out = setup(config(tmp_path, "http://10.5.50.2"), "--server-ip", "10.5.50.3").output
    assert out.index('walled-garden ip remove [find where comment~"^pay2connect"]') < out.index("walled-garden ip add")
    assert out.index('/user remove [find where name="pay2connect"]') < out.index("/user add")


def test_bad_addresses_are_one_line(tmp_path):
    result = setup(config(tmp_path, "http://10.5.50.2"), "--portal-ip", "wifi.local")
    assert (
        result.exit_code == 1
        and result.output.strip() == "error: --portal-ip: expected an IP address, got 'wifi.local'"
    )


def test_api_ssl_is_restricted_when_tls_is_on(tmp_path):
    settings = load_settings(config(tmp_path, "http://10.5.50.2"), environ={})
    router = RouterSettings(name="cafe", host="192.168.88.1", tls=True, port=8729)
    from portal.domain.router_setup import render_setup

    plan = plan_setup(settings, router, server_ip="10.5.50.3")
    assert "/ip service set api-ssl disabled=no address=10.5.50.3/32" in render_setup(settings, router, plan)


def test_the_login_page_is_written_by_the_script_itself(tmp_path):
    """`/import` reads every line: the page goes into a RouterOS string that decodes back to it."""
    import re

    from portal.domain.router_setup import LOGIN_HTML

    out = setup(config(tmp_path, "http://10.5.50.2"), "--server-ip", "10.5.50.3").output
    match = re.search(r'^/file set \[find where name="hotspot/login.html"\] contents="(.*)"$', out, re.M)
    assert match, out
    decoded = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), match.group(1))
    assert decoded == LOGIN_HTML.format(portal="http://10.5.50.2", router="cafe")
    assert all(line.startswith(("#", "/", ":")) or not line for line in out.splitlines())  # nothing else to run
