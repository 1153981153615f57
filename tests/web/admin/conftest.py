"""Helpers for the admin tests that talk to the app over real sockets."""

from __future__ import annotations

import re
from typing import Any

import requests
from requests.adapters import HTTPAdapter

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class _FromAddress(HTTPAdapter):
    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


class Browser:
    """A person at one address, signing in to /admin over HTTP."""

    def __init__(self, base_url: str, address: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        self.http.mount("http://", _FromAddress(address))

    def sign_in(self, username: str = "owner", password: str = PASSWORD, code: str = "") -> requests.Response:
        page = self.http.get(f"{self.base_url}/admin/login", timeout=10)
        match = TOKEN.search(page.text)
        assert match, page.text[:300]
        form = {"username": username, "password": password, "csrf_token": match.group(1)}
        if code:
            form["code"] = code
        return self.http.post(f"{self.base_url}/admin/login", data=form, allow_redirects=False, timeout=10)

    def dashboard(self) -> int:
        return self.http.get(f"{self.base_url}/admin/", allow_redirects=False, timeout=10).status_code

    def sign_out(self) -> int:
        page = self.http.get(f"{self.base_url}/admin/", timeout=10)
        token = TOKEN.search(page.text)
        assert token
        return self.http.post(
            f"{self.base_url}/admin/logout", data={"csrf_token": token.group(1)}, allow_redirects=False, timeout=10
        ).status_code

    def get(self, path: str) -> requests.Response:
        return self.http.get(f"{self.base_url}{path}", allow_redirects=False, timeout=10)

    def post(self, path: str, data: dict[str, str] | None = None, token_page: str = "/admin/account") -> Any:
        page = self.http.get(f"{self.base_url}{token_page}", timeout=10)
        token = TOKEN.search(page.text)
        assert token, f"no CSRF token on {token_page}"
        form = {**(data or {}), "csrf_token": token.group(1)}
        return self.http.post(f"{self.base_url}{path}", data=form, allow_redirects=False, timeout=10)
