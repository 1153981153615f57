"""What the installer writes, checked without root: the config it generates passes the
production rules, the templates leave no placeholder, Caddy's sites follow the topology."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from portal.cli.install_files import (
    Choices,
    Layout,
    config_sections,
    fill,
    render_caddyfile,
    render_config,
    unit_values,
)
from portal.config import load_settings
from tests.install.harness import ROOT, doc_command, unit_commands

DARAJA = {
    "environment": "production",
    "consumer_key": "Ci7consumerKeyFromSafaricom0001",
    "consumer_secret": "Ci7consumerSecret01",
    "shortcode": "4123987",
    "passkey": "5e1f0c2a9d8b7e6f5a4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e",
}


def test_the_generated_config_passes_the_production_rules(tmp_path):
    layout = Layout(root=tmp_path)
    choices = Choices(domain="wifi.mamanjeri.co.ke", lan_address="10.5.50.2", router_host="10.5.50.1")
    path = tmp_path / "config.toml"
    path.write_text(render_config(config_sections(layout, choices, DARAJA, "")))
    settings = load_settings(path, environ={})
    assert settings.production and settings.portal.public_url == "http://10.5.50.2"
    assert settings.mpesa.callback_url == "https://wifi.mamanjeri.co.ke/hooks/stk"
    assert settings.portal.trusted_proxies == 1 and settings.redis.url == "redis://127.0.0.1:6379/0"
    again = render_config(config_sections(layout, choices, DARAJA, ""))
    assert again != path.read_text()  # fresh secrets every time a config is made


def test_no_domain_means_query_only(tmp_path):
    sections = config_sections(Layout(root=tmp_path), Choices(lan_address="10.5.50.2"), DARAJA, "")
    assert sections["mpesa"]["callback_url"] == ""


def test_set_overrides_any_key_with_numbers_as_numbers(tmp_path):
    choices = Choices(lan_address="10.5.50.2", settings={"routers.0.port": "8729", "limits.phone_daily_cap": "5"})
    sections = config_sections(Layout(root=tmp_path), choices, DARAJA, "")
    assert sections["routers"][0]["port"] == 8729 and sections["limits"]["phone_daily_cap"] == 5
    with pytest.raises(ValueError, match=r"section\.key=value"):
        config_sections(Layout(root=tmp_path), Choices(lan_address="x", settings={"nodots": "1"}), DARAJA, "")


def test_unit_templates_fill_completely_and_run_migrate_first(tmp_path):
    layout = Layout(root=Path("/"))
    values = unit_values(layout, Choices(web_ports=(8081, 8082), workers=2))
    for unit in sorted((ROOT / "systemd").iterdir()):
        (tmp_path / unit.name).write_text(fill(unit.read_text(), values))
    web = unit_commands(tmp_path / "pay2connect-web@.service", "8081")
    assert web.user == "pay2connect" and web.env["PAY2CONNECT_PORTAL__LISTEN"] == "127.0.0.1:8081"
    assert web.pre == [["/opt/pay2connect/venv/bin/pay2connect", "migrate"]]
    assert web.start == ["/opt/pay2connect/venv/bin/pay2connect", "serve"]
    worker = unit_commands(tmp_path / "pay2connect-worker@.service", "2")
    assert worker.pre[0][-1] == "migrate" and worker.start[-1] == "worker"
    assert "pay2connect-worker@2.service" in (tmp_path / "pay2connect.target").read_text()
    with pytest.raises(KeyError, match="NOPE"):
        fill("x=@NOPE@", values)


@pytest.mark.parametrize(
    ("choices", "sites"),
    [
        (
            Choices(domain="wifi.mamanjeri.co.ke", lan_address="10.5.50.2"),
            ["http://10.5.50.2", "https://wifi.mamanjeri.co.ke"],
        ),
        (Choices(domain="pay.example-isp.co.ke"), ["https://pay.example-isp.co.ke"]),  # many venues: no LAN site
        (Choices(lan_address="10.5.50.2"), ["http://10.5.50.2", "https://10.5.50.2"]),  # behind NAT
    ],
)
def test_caddy_sites_follow_the_topology(tmp_path, choices, sites):
    text = render_caddyfile((ROOT / "deploy" / "Caddyfile").read_text(), Layout(root=Path("/")), choices)
    found = [line.split()[0] for line in text.splitlines() if line.startswith(("http://", "https://"))]
    assert found == sites
    assert ("tls internal" in text) == (not choices.domain)
    assert "rewrite @stk /api/portal/mpesa/callback/{http.request.uri.path.2}" in text
    if shutil.which("caddy"):
        path = tmp_path / "Caddyfile"
        path.write_text(text)
        adapted = subprocess.run(["caddy", "adapt", "--config", str(path)], capture_output=True, text=True, check=False)
        assert adapted.returncode == 0, adapted.stderr


def test_the_doc_gives_the_install_command_the_ci_runs():
    words = doc_command(ROOT / "docs" / "deploy.md", "install")
    assert words[0] == "scripts/install" and "--postgres" in words and "--domain" in words
