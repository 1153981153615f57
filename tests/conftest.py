"""Shared fixtures: real Redis (embedded), a real SQLite file, the Daraja simulator over
HTTP, the RouterOS emulator over TCP, and the app served on a real loopback socket; the
customer (``portal``) and the venue owner (``admin``) acting on it; loopback ports.

Time is a ManualClock shared by everything; tests move it, they never sleep.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from portal import create_app
from portal.clock import ManualClock
from portal.config import load_settings
from portal.domain.context import Services
from portal.live import RedisHandle, open_redis
from portal.loopback import HttpThread, free_port
from portal.wiring import build_services
from portal.worker.scheduler import Worker
from tests import backends

# 09:00 UTC is 12:00 in Nairobi.
START = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)
# Suites that print one line per finding after the run: (module name suffix, list name, title).
REPORTS = (("test_attacks", "ATTACK_LINES", "ATTACK REPORT"), ("test_fuzz", "FUZZ_LINES", "FUZZ REPORT"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the attack suite's line per attack and the fuzz suite's summary (tests/security/)."""
    for suffix, attribute, title in REPORTS:
        module = next((m for name, m in sys.modules.items() if name.endswith(suffix)), None)
        lines = getattr(module, attribute, [])
        if lines:
            terminalreporter.section(title)
            for line in lines:
                terminalreporter.write_line(line)


def pytest_report_header() -> str:
    return backends.describe()


@pytest.fixture
def ledger_url(tmp_path: Path) -> Iterator[str]:
    """This test's own empty ledger: an SQLite file, or a PostgreSQL schema (tests/backends.py)."""
    with backends.ledger_url(tmp_path) as url:
        yield url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening: connecting is refused at once."""
    return free_port()


def wait_until(condition: Callable[[], object], what: str = "the condition", timeout: float = 10.0) -> bool:
    """Poll ``condition`` for up to ``timeout`` real seconds while another thread or process
    finishes something (never to let time pass: move the clock for that). True, or an
    AssertionError that says what did not happen."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
    return True


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> Callable[..., bool]:
    """:func:`wait_until` for tests that take it as a fixture."""
    return wait_until


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisHandle]:
    """One redis-server for the whole run: embedded (unix socket), or PAY2CONNECT_TEST_REDIS_URL."""
    handle = open_redis(backends.REDIS_URL, tmp_path_factory.mktemp("redis"))
    yield handle
    handle.close()


@pytest.fixture
def redis_handle(redis_server: RedisHandle) -> RedisHandle:
    redis_server.client.flushall()
    return redis_server


class _LateApp:
    """A WSGI app that can be set after the server socket is bound (so the port is known)."""

    app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture
def http_server() -> Iterator[tuple[str, _LateApp]]:
    late = _LateApp()
    http = HttpThread(late, host="127.0.0.1", port=0, name="app-under-test")
    yield f"http://127.0.0.1:{http.port}", late
    http.stop()


@pytest.fixture
def simulator(clock: ManualClock) -> Iterator[Any]:
    from portal.mpesa.simulator import DarajaSimulator

    sim = DarajaSimulator(clock=clock, default_outcome="success", approve_after_seconds=3.0)
    sim.start()
    yield sim
    sim.stop()


def make_settings(
    tmp_path: Path, base_url: str, sim_base: str, database_url: str = "", **sections: dict[str, Any]
) -> Any:
    overrides: dict[str, Any] = {
        "portal": {"data_dir": str(tmp_path / "data"), "public_url": base_url, "secret_key": "test-secret-key-123456"},
        "database": {"url": database_url or f"sqlite:///{tmp_path / 'ledger.db'}"},
        "mpesa": {
            "environment": "simulator",
            "base_url": sim_base,
            "consumer_key": "sim-consumer-key",
            "consumer_secret": "sim-consumer-secret",
            "passkey": "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
            "callback_url": f"{base_url}/api/portal/mpesa/callback",
            "verify_by_query": False,
        },
        "routers": [
            {
                "name": "main",
                "backend": "emulator",
                "host": "127.0.0.1",
                "port": 0,
                "username": "pay2connect",
                "password": "secret",
                "timeout": 1.0,
            }
        ],
        "limits": {"phone_cooldown_seconds": 0, "device_cooldown_seconds": 0},
    }
    for name, values in sections.items():
        if isinstance(values, list):
            overrides[name] = values
        else:
            overrides.setdefault(name, {}).update(values)
    if overrides["mpesa"].get("verify_by_query", False) is None:  # None: the environment's own default
        del overrides["mpesa"]["verify_by_query"]
    config_file = tmp_path / "config.toml"
    config_file.write_text("# settings come from the test's overrides\n")
    return load_settings(config_file, environ={}, overrides=overrides)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings sections for that module."""
    return {}


@pytest.fixture
def services(
    tmp_path: Path,
    clock: ManualClock,
    simulator: Any,
    redis_handle: RedisHandle,
    http_server: tuple[str, _LateApp],
    settings_overrides: dict[str, Any],
    ledger_url: str,
) -> Iterator[Services]:
    base_url, _late = http_server
    settings = make_settings(tmp_path, base_url, simulator.base_url, ledger_url, **settings_overrides)
    built = build_services(settings, clock=clock, simulator=simulator, redis_handle=redis_handle, background=False)
    yield built
    built.close()


@pytest.fixture
def app(services: Services, http_server: tuple[str, _LateApp]) -> Any:
    application = create_app(services=services)
    application.config["TESTING"] = True
    http_server[1].app = application
    return application


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def emulator(services: Services) -> Any:
    return services.emulators["main"]


@pytest.fixture
def base_url(app: Any, http_server: tuple[str, _LateApp]) -> str:
    return http_server[0]


@pytest.fixture
def package(services: Services) -> Any:
    from portal.domain.packages import add_package, validate_changes

    return add_package(
        validate_changes(
            {"name": "1 hour", "name_sw": "Saa 1", "price": "20", "duration": "1h", "rate_limit": "2M/2M"}
        ),
        services.clock,
    )


class PortalActions:
    """What a customer and the world do, over real sockets."""

    def __init__(self, services: Services, base_url: str, simulator: Any, emulator: Any, clock: ManualClock):
        self.services, self.base_url, self.simulator, self.emulator, self.clock = (
            services,
            base_url,
            simulator,
            emulator,
            clock,
        )

    def join(self, mac: str = "AA:BB:CC:00:00:01", ip: str = "10.5.50.11") -> tuple[str, str]:
        self.emulator.device_join(mac, ip)
        return mac, ip

    def pay(
        self,
        package_id: int,
        *,
        phone: str = "0712345678",
        mac: str = "AA:BB:CC:00:00:01",
        ip: str = "10.5.50.11",
        router: str = "main",
    ) -> requests.Response:
        return requests.post(
            f"{self.base_url}/api/portal/pay",
            json={"phone": phone, "packageId": package_id, "macAddress": mac, "ip": ip, "router": router},
            timeout=10,
        )

    def pay_ids(self, package_id: int, **kwargs: Any) -> tuple[str, str]:
        """Pay and return (checkoutRequestId, statusId); fails the test if refused."""
        answer = self.pay(package_id, **kwargs)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return body["checkoutRequestId"], body["statusId"]

    def status(self, reference: str) -> dict[str, Any]:
        return requests.get(f"{self.base_url}/api/portal/status/{reference}", timeout=10).json()

    def settle(self, seconds: float = 5.0) -> int:
        """Let M-Pesa time pass: the phone answers and the callback is delivered."""
        self.clock.advance(seconds)
        return self.simulator.process_due()

    def run_worker(self) -> None:
        from portal.worker import scheduler as worker

        worker.run_all_jobs_once(self.services)


@pytest.fixture
def portal(services: Services, base_url: str, simulator: Any, emulator: Any, clock: ManualClock) -> PortalActions:
    return PortalActions(services, base_url, simulator, emulator, clock)


# -- the venue owner in the admin ------------------------------------------------------------

ADMIN_PASSWORD = "correct horse battery"
CSRF_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class AdminActions:
    """What the venue owner does in a browser: fetch a form (for its CSRF token), post it.

    Works on the Flask test client; :class:`AdminOverHttp` does the same over a real socket.
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def token(self, page: str = "/admin/login") -> str:
        match = CSRF_TOKEN.search(self.client.get(page).get_data(as_text=True))
        assert match, f"no CSRF token on {page}"
        return match.group(1)

    def login(self, username: str = "owner", password: str = ADMIN_PASSWORD, next_url: str = "") -> Any:
        data = {"username": username, "password": password, "csrf_token": self.token()}
        if next_url:
            data["next"] = next_url
        return self.client.post("/admin/login", data=data)

    def post(self, path: str, data: dict[str, str] | None = None, token_page: str = "/admin/sessions") -> Any:
        return self.client.post(path, data={**(data or {}), "csrf_token": self.token(token_page)})

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)


class _FromAddress(HTTPAdapter):
    """Connections from another loopback address (127.x.y.z): a different visitor's IP."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


class AdminOverHttp:
    """The owner's browser over a real socket: a ``requests.Session`` keeps the cookie.

    ``source`` makes it connect from another loopback address (per-address limits).
    """

    def __init__(self, base_url: str, source: str | None = None) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if source:
            self.session.mount("http://", _FromAddress(source))

    def token(self, page: str = "/admin/login") -> str:
        match = CSRF_TOKEN.search(self.session.get(self.base_url + page, timeout=10).text)
        assert match, f"no CSRF token on {page}"
        return match.group(1)

    def login(self, username: str = "owner", password: str = ADMIN_PASSWORD) -> requests.Response:
        data = {"username": username, "password": password, "csrf_token": self.token()}
        return self.session.post(self.base_url + "/admin/login", data=data, allow_redirects=False, timeout=10)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.base_url + path, allow_redirects=False, timeout=10, **kwargs)

    def close(self) -> None:
        self.session.close()


@pytest.fixture
def owner(services: Services, clock: ManualClock) -> str:
    """The venue owner's admin account (username ``owner``)."""
    from portal.domain.accounts import create_admin

    create_admin("owner", ADMIN_PASSWORD, clock)
    return "owner"


@pytest.fixture
def admin(client: Any, owner: str) -> AdminActions:
    """The owner, signed in on the Flask test client."""
    actions = AdminActions(client)
    answer = actions.login()
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/admin/")
    return actions


@pytest.fixture
def admin_http(base_url: str, owner: str) -> Iterator[AdminOverHttp]:
    """The owner, signed in over a real socket."""
    browser = AdminOverHttp(base_url)
    answer = browser.login()
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/admin/"), answer.text[:300]
    yield browser
    browser.close()


@pytest.fixture
def worker(services: Any) -> Iterator[Worker]:
    """The worker (leader, expiry timer, router lanes) on its own threads, settled at start."""
    running = Worker(services)
    running.start()
    assert running.settle()
    yield running
    running.stop()
