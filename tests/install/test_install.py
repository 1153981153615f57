"""The install path, as docs/deploy.md gives it, into a scratch root; then real purchases.

Runs the doc's `scripts/install` command (plus scratch-root options) as root, then starts what
systemd would start, by hand, from the installed unit files: two web processes and two workers
(leader and standby) as the pay2connect user, Caddy with the installed Caddyfile (HTTPS), a
redis-server, Debian's PostgreSQL, and the installed copy's Daraja simulator and RouterOS
emulator as separate processes. A customer buys a package through the HTTPS proxy; then the
ledger is put back to schema version 1 with rows in it, `pay2connect migrate` brings it up with
the rows kept, and the same purchase works again. Skipped (with the reason) unless root with apt.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import free_port
from tests.install import harness

pytestmark = pytest.mark.skipif(bool(harness.missing_for_install()), reason=harness.missing_for_install() or "")

DOC = harness.ROOT / "docs" / "deploy.md"
DARAJA = {
    "MPESA_ENVIRONMENT": "production",
    "MPESA_CONSUMER_KEY": "Ci7consumerKeyFromSafaricom0001",
    "MPESA_CONSUMER_SECRET": "Ci7consumerSecret01",
    "MPESA_SHORTCODE": "4123987",
    "MPESA_PASSKEY": "5e1f0c2a9d8b7e6f5a4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e",
}
DEVICE = ("02:50:32:00:00:01", "10.5.50.11")  # the emulator's first simulated device
DEVICE_2 = ("02:50:32:00:00:02", "10.5.50.12")


@dataclass
class Box:
    root: Path
    ports: dict[str, int]
    procs: harness.Processes
    config: dict[str, Any]
    install_args: list[str]
    install_output: str

    @property
    def pay2connect(self) -> str:
        return str(self.root / "opt/pay2connect/venv/bin/pay2connect")

    @property
    def config_path(self) -> Path:
        return self.root / "etc/pay2connect/config.toml"

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.ports['https']}"

    @property
    def ca(self) -> str:
        return str(self.root / "var/lib/caddy/pki/authorities/local/root.crt")

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        command = harness.as_user("pay2connect", [self.pay2connect, "--config", str(self.config_path), *args])
        return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120, check=False)

    def start_units(self) -> None:
        units = self.root / "etc/systemd/system"
        for unit, instance, port in (
            ("pay2connect-web@.service", str(self.ports["web1"]), self.ports["web1"]),
            ("pay2connect-web@.service", str(self.ports["web2"]), self.ports["web2"]),
            ("pay2connect-worker@.service", "1", None),
            ("pay2connect-worker@.service", "2", None),
        ):
            commands = harness.unit_commands(units / unit, instance)
            env = {**os.environ, **commands.env}
            for pre in commands.pre:
                done = subprocess.run(
                    harness.as_user(commands.user, pre),
                    env=env,
                    cwd=commands.cwd,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                assert done.returncode == 0, done.stderr
            name = f"{unit.split('@')[0]}-{instance}"
            process = self.procs.start(name, harness.as_user(commands.user, commands.start), env=env, cwd=commands.cwd)
            harness.wait_for_line(process, "serving on" if port else "started", 60)

    def stop_units(self) -> None:
        for name in [p.name for p in self.procs.running if p.name.startswith("pay2connect-")]:
            self.procs.stop(name)


def _install(root: Path, ports: dict[str, int], redis_port: int, *extra: str) -> tuple[list[str], str]:
    args = [
        *harness.doc_command(DOC, "install"),
        "--root",
        str(root),
        "--no-systemd",
        "--domain",
        "127.0.0.1",
        "--lan-address",
        "127.0.0.1",
        "--tls",
        "internal",
        "--http-port",
        str(ports["http"]),
        "--https-port",
        str(ports["https"]),
        "--web-ports",
        f"{ports['web1']},{ports['web2']}",
        "--db-name",
        "p2c_install_test",
        "--db-user",
        "p2c_install_test",
        "--redis-url",
        f"redis://127.0.0.1:{redis_port}/0",
        "--router-host",
        "127.0.0.1",
        "--set",
        f"routers.0.port={ports['router']}",
        "--set",
        f"mpesa.base_url=http://127.0.0.1:{ports['daraja']}",
        "--set",
        "mpesa.callback_allow_ips=127.0.0.1/32",
        *extra,
    ]
    args[0] = str(harness.ROOT / "scripts" / "install")
    done = subprocess.run(args, env={**os.environ, **DARAJA}, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return args, done.stdout


def _drop_database() -> None:
    for sql in ("DROP DATABASE IF EXISTS p2c_install_test WITH (FORCE)", "DROP ROLE IF EXISTS p2c_install_test"):
        subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-qc", sql], capture_output=True, check=False)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    # Not under pytest's 0700 folders: the pay2connect user must reach the venv, as under /opt.
    root = Path(tempfile.mkdtemp(prefix="p2c-install-root-"))
    root.chmod(0o755)
    logs = tmp_path_factory.mktemp("logs")
    ports = {name: free_port() for name in ("http", "https", "web1", "web2", "router", "daraja", "redis")}
    procs = harness.Processes(logs)
    _drop_database()
    try:
        args, output = _install(root, ports, ports["redis"])
        config = tomllib.loads((root / "etc/pay2connect/config.toml").read_text())
        redis = procs.start(
            "redis",
            [
                "redis-server",
                "--port",
                str(ports["redis"]),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(logs),
            ],
        )
        harness.wait_for_line(redis, "Ready to accept connections", 30)
        caddy = procs.start(
            "caddy", ["caddy", "run", "--config", str(root / "etc/caddy/Caddyfile"), "--adapter", "caddyfile"]
        )
        harness.wait_for_line(caddy, "serving initial configuration", 30)
        b = Box(root, ports, procs, config, args, output)
        deadline = time.monotonic() + 30
        while not Path(b.ca).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        m = config["mpesa"]
        daraja = procs.start(
            "daraja",
            [
                b.pay2connect,
                "simulate-daraja",
                "--callback-ca",
                b.ca,  # callbacks go to Caddy over HTTPS, with its own CA
                "--port",
                str(ports["daraja"]),
                "--outcome",
                "success",
                "--consumer-key",
                m["consumer_key"],
                "--consumer-secret",
                m["consumer_secret"],
                "--shortcode",
                m["shortcode"],
                "--passkey",
                m["passkey"],
            ],
        )  # callbacks go to Caddy over HTTPS
        harness.wait_for_line(daraja, "Daraja simulator:", 30)
        router = procs.start(
            "router",
            [
                b.pay2connect,
                "emulate-router",
                "--port",
                str(ports["router"]),
                "--password",
                config["routers"][0]["password"],
            ],
        )
        harness.wait_for_line(router, "listening on", 30)
        b.start_units()
        yield b
    finally:
        for process in procs.running:
            print(f"--- {process.name} ---\n{process.log_text()}")
        procs.stop_all()
        _drop_database()
        if not os.environ.get("P2C_KEEP_INSTALL_ROOT"):
            shutil.rmtree(root, ignore_errors=True)


def buy(box: Box, device: tuple[str, str], package_id: int, phone: str) -> dict[str, Any]:
    mac, ip = device
    paid = requests.post(
        f"{box.https}/api/portal/pay",
        verify=box.ca,
        timeout=30,
        json={"phone": phone, "packageId": package_id, "macAddress": mac, "ip": ip, "router": "main"},
    )
    assert paid.status_code == 200, paid.text
    status_id = paid.json()["statusId"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = requests.get(f"{box.https}/api/portal/status/{status_id}", verify=box.ca, timeout=10).json()
        if status["status"] == "success" and status["session"] and status["session"]["routerState"] == "online":
            status["statusId"] = status_id
            return status
        assert status["status"] in ("pending", "success"), status  # success: the router login may follow
        time.sleep(0.3)
    raise AssertionError(f"not online after 60 s: {status}")


def timeline(box: Box, status_id: str) -> list[str]:
    from portal.ledger.database import open_database

    db = open_database(box.config["database"]["url"])
    try:
        rows = db.execute_sql(
            "SELECT e.kind FROM payment_event e JOIN payment p ON p.id = e.payment_id WHERE p.public_id = %s",
            (status_id,),
        ).fetchall()
    finally:
        db.close()
    return [kind for (kind,) in rows]


def add_package(box: Box, name: str) -> int:
    added = box.cli("packages", "add", "--name", name, "--price", "20", "--duration", "1h")
    assert added.returncode == 0, added.stderr
    return int(added.stdout.strip())


def online_on_router(box: Box, mac: str) -> bool:
    from router.mikrotik import MikrotikRouter

    with MikrotikRouter(
        "main", "127.0.0.1", box.ports["router"], "pay2connect", box.config["routers"][0]["password"]
    ) as router:
        return any(s.mac.upper() == mac.upper() for s in router.active_sessions())


def test_the_install_wrote_a_production_config_with_its_own_secrets(box):
    mode = box.config_path.stat().st_mode & 0o777
    assert mode == 0o640 and box.config_path.parent.stat().st_mode & 0o777 == 0o750
    portal, mpesa = box.config["portal"], box.config["mpesa"]
    assert mpesa["environment"] == "production" and len(portal["secret_key"]) >= 64
    assert mpesa["callback_url"] == f"{box.https}/hooks/stk" and len(mpesa["callback_token"]) >= 24
    assert "one-time password:" in box.install_output


def test_check_from_the_installed_copy_passes(box):
    checked = box.cli("check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert [line.split()[0] for line in checked.stdout.splitlines()] == ["ok"] * 5


def test_a_purchase_through_the_https_proxy(box):
    package_id = add_package(box, "1 hour")
    status = buy(box, DEVICE, package_id, "0712345678")
    assert "callback" in timeline(box, status["statusId"])  # Daraja's callback came through Caddy
    assert status["session"]["remainingSeconds"] > 3500
    assert online_on_router(box, DEVICE[0])
    for port in (box.ports["web1"], box.ports["web2"]):  # both web processes answer
        assert requests.get(f"http://127.0.0.1:{port}/api/health", timeout=10).json()["ok"] is True
    # The first job a worker runs takes the leader lock; the other worker then stands by.
    deadline, leader = time.monotonic() + 60, ""
    while not leader and time.monotonic() < deadline:
        get = ["redis-cli", "-p", str(box.ports["redis"]), "GET", "p2c:worker-leader"]
        leader = subprocess.run(get, capture_output=True, text=True, check=True).stdout.strip()
        time.sleep(0.5)
    workers = [p for p in box.procs.running if p.name.startswith("pay2connect-worker")]
    assert leader and len(workers) == 2 and all(p.popen.poll() is None for p in workers)
    assert sum(leader in p.log_text() for p in workers) == 1  # its id is in exactly one worker's log


def test_the_splash_page_of_the_installed_wheel_in_english_and_swahili(box):
    """Templates and compiled catalogs came with the wheel into /opt: the customer's page,
    through Caddy, in both languages."""
    add_package(box, "Saa moja")
    mac, ip = DEVICE
    for lang, words in (("en", "Pay with M-Pesa"), ("sw", "Lipa kwa M-Pesa")):
        page = requests.get(f"{box.https}/", params={"mac": mac, "ip": ip, "lang": lang}, verify=box.ca, timeout=10)
        assert page.status_code == 200 and f'<html lang="{lang}">' in page.text, page.text[:300]
        assert words in page.text and "Saa moja" in page.text


def _through_caddy(box: Box, path: str, body: bytes, source: str) -> int:
    context = ssl.create_default_context(cafile=box.ca)
    connection = http.client.HTTPSConnection(
        "127.0.0.1", box.ports["https"], context=context, source_address=(source, 0), timeout=10
    )
    with closing(connection):
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        return connection.getresponse().status


def test_the_app_sees_the_client_address_through_the_proxy(box):
    """callback_allow_ips is 127.0.0.1/32: the same callback from 127.0.0.5 must be refused."""
    path = f"/hooks/stk/{box.config['mpesa']['callback_token']}"
    body = json.dumps({"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_x", "ResultCode": 1032}}}).encode()
    assert _through_caddy(box, path, body, "127.0.0.1") == 200
    assert _through_caddy(box, path, body, "127.0.0.5") == 403  # the proxy's own 127.0.0.1 would pass


def test_monitoring_is_for_monitoring_only(box):
    web = f"http://127.0.0.1:{box.ports['web1']}"
    outsider = {"X-Forwarded-For": "203.0.113.7"}  # from the trusted proxy's address, for a client outside
    assert requests.get(f"{web}/metrics", headers=outsider, timeout=10).status_code == 404
    assert requests.get(f"{web}/api/health", headers=outsider, timeout=10).json() == {"status": "up"}
    token = {**outsider, "Authorization": f"Bearer {box.config['portal']['monitoring_token']}"}
    assert b"pay2connect_payments" in requests.get(f"{web}/metrics", headers=token, timeout=10).content
    assert "routers" in requests.get(f"{web}/api/health", headers=token, timeout=10).json()["checks"]
    lan = requests.get(f"http://127.0.0.1:{box.ports['http']}/api/portal/mpesa/callback/x", timeout=10)
    assert lan.status_code == 404  # the LAN site does not pass callbacks


def test_installing_again_changes_nothing(box):
    before = hashlib.sha256(box.config_path.read_bytes()).hexdigest()
    _args, output = _install(box.root, box.ports, box.ports["redis"])
    assert f"kept {box.config_path}" in output and "one-time password" not in output
    assert hashlib.sha256(box.config_path.read_bytes()).hexdigest() == before
    box.stop_units()
    box.start_units()  # the upgraded code starts on the same config and ledger
    assert requests.get(f"{box.https}/api/health", verify=box.ca, timeout=10).json()["ok"] is True


def test_the_same_purchase_after_migrating_from_schema_version_1(box):
    box.stop_units()
    url = box.config["database"]["url"]
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-d",
            "p2c_install_test",
            "-qc",
            "DROP SCHEMA public CASCADE; CREATE SCHEMA public AUTHORIZATION p2c_install_test",
        ],
        check=True,
    )
    from datetime import UTC, datetime

    from portal.ledger.database import open_database
    from portal.ledger.migrations import m0001_baseline as v1

    db = open_database(url)
    now = datetime.now(UTC)
    v1.apply(db)
    with db.bind_ctx(v1.TABLES):
        old = v1.Package.create(name="Old hour", price=20, duration_seconds=3600, created_at=now)
        v1.AdminUser.create(username="boss", password_hash="x", created_at=now)
        v1.Payment.create(
            public_id="old-1",
            package=old,
            router="main",
            mac=DEVICE[0],
            ip=DEVICE[1],
            phone="254712345678",
            amount=20,
            status="paid",
            receipt="OLD1RECEIPT",
            created_at=now,
            updated_at=now,
            paid_at=now,
        )
    db.close()
    refused = box.cli("serve")  # a web process never runs on an old schema
    assert refused.returncode == 1 and "run `pay2connect migrate`" in refused.stderr, refused.stderr
    migrated = box.cli("migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "migrating to schema version 2" in migrated.stdout
    box.start_units()
    status = buy(box, DEVICE_2, old.id, "0722000111")
    assert status["session"]["packageName"] == "Old hour"
    db = open_database(url)
    row = db.execute_sql("SELECT role FROM admin_user WHERE username = 'boss'").fetchone()
    kept = db.execute_sql("SELECT status, method, receipt FROM payment WHERE public_id = 'old-1'").fetchone()
    db.close()
    assert row == ("owner",) and kept == ("paid", "mpesa", "OLD1RECEIPT")


def test_uninstall_keeps_config_and_data(box):
    box.stop_units()
    done = subprocess.run(
        [str(harness.ROOT / "scripts/install"), "--root", str(box.root), "--no-systemd", "--uninstall"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not (box.root / "etc/systemd/system/pay2connect-web@.service").exists()
    assert not (box.root / "etc/caddy/Caddyfile").exists()
    assert not (box.root / "opt/pay2connect/venv").exists()
    assert box.config_path.exists() and (box.root / "var/lib/pay2connect").is_dir()
