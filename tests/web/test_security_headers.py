"""Headers every page sends, over a real socket: no framing anywhere, HSTS only over HTTPS."""

from __future__ import annotations

from typing import Any

import pytest
import requests

HSTS = "Strict-Transport-Security"
HTTPS_PROTO = {"X-Forwarded-Proto": "https"}


def get(base_url: str, path: str = "/", headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(base_url + path, headers=headers or {}, timeout=10, allow_redirects=False)


@pytest.mark.parametrize("path", ["/", "/reconnect", "/pay/unknown", "/api/portal/status/unknown", "/nowhere"])
def test_no_page_may_be_framed(base_url: str, path: str) -> None:
    answer = get(base_url, path)

    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert HSTS not in answer.headers  # a plain-http install (the test's public_url is http)


def test_the_admin_keeps_its_stricter_policy(base_url: str) -> None:
    answer = get(base_url, "/admin/login")

    assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Frame-Options"] == "DENY"


def test_a_visitor_cannot_claim_https_without_a_trusted_proxy(base_url: str) -> None:
    assert HSTS not in get(base_url, headers=HTTPS_PROTO).headers


@pytest.mark.parametrize("settings_overrides", [{"portal": {"trusted_proxies": 1}}])
def test_hsts_when_a_trusted_proxy_says_https(base_url: str) -> None:
    assert get(base_url, headers=HTTPS_PROTO).headers[HSTS] == "max-age=31536000"
    assert HSTS not in get(base_url, headers={"X-Forwarded-Proto": "http"}).headers


@pytest.mark.parametrize("settings_overrides", [{"portal": {"public_url": "https://wifi.example.co.ke"}}])
@pytest.mark.parametrize("path", ["/", "/admin/login", "/api/health"])
def test_hsts_when_the_site_is_served_over_https(base_url: str, path: str, app: Any) -> None:
    assert get(base_url, path).headers[HSTS] == "max-age=31536000"
