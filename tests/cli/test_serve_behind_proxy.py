"""`pay2connect serve` (real waitress, real socket) behind a trusted proxy: whose address the
app sees, who may read /metrics and the detailed health, and the admin cookie's Secure flag.

The test plays the proxy: it connects from 127.0.0.1 (the configured ``proxy_address``) and
says which client it forwards for. tests/install drives the same through the real Caddy.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port

TOKEN = "monitoring-token-0123456789abcdef"
SAFARICOM = "196.201.214.200"


def _serve(tmp_path: Path, name: str, portal: str) -> Iterator[str]:
    port = free_port()
    config = tmp_path / f"{name}.toml"
    config.write_text(
        f'[portal]\nlisten = "127.0.0.1:{port}"\ndata_dir = "{tmp_path / name}"\n{portal}\n'
        '[mpesa]\nenvironment = "simulator"\ncallback_allow_ips = ["196.201.214.0/24"]\n'
    )
    script = Path(sys.executable).parent / "pay2connect"
    log = (tmp_path / f"{name}.log").open("wb")
    process = subprocess.Popen([str(script), "--config", str(config), "serve"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while b"serving on" not in (tmp_path / f"{name}.log").read_bytes():
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / f"{name}.log").read_text()
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    portal = (
        'public_url = "https://wifi.mamanjeri.co.ke"\ntrusted_proxies = 1\nproxy_address = "127.0.0.1"\n'
        f'monitoring_networks = ["10.8.0.0/24"]\nmonitoring_token = "{TOKEN}"'
    )
    yield from _serve(tmp_path_factory.mktemp("proxied"), "proxied", portal)


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve(tmp_path_factory.mktemp("direct"), "direct", 'public_url = "http://10.5.50.2"')


def get(url: str, client: str | None = None, **headers: str) -> requests.Response:
    if client:
        headers["X-Forwarded-For"] = client
    return requests.get(url, headers=headers, timeout=10)


def callback(base: str, forwarded_for: str) -> int:
    answer = requests.post(
        f"{base}/api/portal/mpesa/callback", json={"Body": {}}, headers={"X-Forwarded-For": forwarded_for}, timeout=10
    )
    return answer.status_code


def test_the_callback_allow_list_sees_the_forwarded_client(behind_proxy):
    assert callback(behind_proxy, SAFARICOM) == 200
    assert callback(behind_proxy, "10.5.50.11") == 403
    assert callback(behind_proxy, f"{SAFARICOM}, 10.5.50.11") == 403  # only the proxy's own hop counts


def test_without_trusted_proxies_forwarded_headers_are_ignored(direct):
    assert callback(direct, SAFARICOM) == 403  # the peer is 127.0.0.1, whatever the header says


def test_metrics_only_for_monitoring(behind_proxy):
    assert get(f"{behind_proxy}/metrics").status_code == 200  # loopback
    assert get(f"{behind_proxy}/metrics", "203.0.113.7").status_code == 404
    assert get(f"{behind_proxy}/metrics", "10.8.0.9").status_code == 200  # monitoring_networks
    assert get(f"{behind_proxy}/metrics", "203.0.113.7", Authorization=f"Bearer {TOKEN}").status_code == 200
    assert get(f"{behind_proxy}/metrics", "203.0.113.7", Authorization="Bearer wrong-token-0000000").status_code == 404


def test_public_health_says_up_or_down_and_nothing_more(behind_proxy):
    public = get(f"{behind_proxy}/api/health", "203.0.113.7")
    assert public.status_code == 200 and public.json() == {"status": "up"}
    detailed = get(f"{behind_proxy}/api/health", "10.8.0.9").json()
    assert detailed["ok"] is True and {"database", "redis", "routers", "daraja"} <= set(detailed["checks"])


def test_admin_cookie_is_secure_when_the_public_url_is_https(behind_proxy, direct):
    secure = get(f"{behind_proxy}/admin/login", "203.0.113.7", **{"X-Forwarded-Proto": "https"})
    plain = get(f"{direct}/admin/login")
    assert "Secure" in secure.headers.get("Set-Cookie", "")
    assert "session=" in plain.headers.get("Set-Cookie", "") and "Secure" not in plain.headers["Set-Cookie"]
