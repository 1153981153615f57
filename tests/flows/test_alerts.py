"""The owner's alerts, each produced for real and cleared for real: the Daraja simulator
answering 5xx, callbacks dropped, the RouterOS emulator down, the outbox stuck, payments
failing, the ledger gone. Messages travel over real sockets to the Africa's Talking simulator
(SMS), the SMTP simulator (email) and the webhook receiver. Time is a ManualClock.

Each alert fires once, repeats at most every ``repeat_hours`` while it lasts, and says
"resolved" once when it clears."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import peewee
import pytest
import requests

from portal.domain import alerts, deliveries
from portal.ledger.database import close_connections
from portal.ledger.models import AlertState, Payment
from tests.conftest import PortalActions

OWNER_PHONE, OWNER_MSISDN = "0722000001", "254722000001"
OWNER_EMAIL = "owner@venue.co.ke"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "sms": {"environment": "simulator"},
        "email": {"environment": "simulator", "sender": "wifi@venue.co.ke"},
        "webhook": {"url": "simulator"},
        "alerts": {
            "owner_phones": [OWNER_PHONE],
            "owner_emails": [OWNER_EMAIL],
            "payment_window": 5,
            "daraja_min_calls": 3,
            "callback_window": 3,
            "router_down_minutes": 5,
            "outbox_stuck_minutes": 10,
            "repeat_hours": 6,
        },
    }


def tick(services: Any) -> None:
    """One worker round for alerts: evaluate, then send what that queued."""
    alerts.evaluate(services)
    deliveries.send_due(services)


def news(services: Any, alert: str | None = None) -> list[tuple[str, str]]:
    """(alert, status) of every webhook the owner's endpoint received, oldest first."""
    found = [(r.json["data"]["alert"], r.json["data"]["status"]) for r in services.webhook_receiver.received()]
    return [n for n in found if alert is None or n[0] == alert]


def owner_sms(services: Any) -> list[str]:
    return [m.message for m in services.sms_gateway.messages() if m.number == "+" + OWNER_MSISDN]


def paid_through(portal: PortalActions, package_id: int, n: int, *, query: bool = False) -> None:
    """``n`` customers pay one after another (each its own phone and device)."""
    for i in range(n):
        mac, ip = portal.join(f"AA:BB:CC:00:01:{i:02X}", f"10.5.50.{100 + i}")
        portal.pay_ids(package_id, phone=f"07120000{i:02d}", mac=mac, ip=ip)
        portal.settle(5)
        if query:
            portal.clock.advance(portal.services.settings.mpesa.query_after_seconds)
            portal.run_worker()


def test_daraja_answering_5xx_fires_and_resolves(portal, package, services, simulator):
    simulator.fail_next_requests = 1_000_000  # Daraja is down: every push answers HTTP 500
    for i in range(3):
        mac, ip = portal.join(f"AA:BB:CC:00:02:{i:02X}", f"10.5.50.{120 + i}")
        assert portal.pay(package.id, phone=f"07130000{i:02d}", mac=mac, ip=ip).status_code == 502
    tick(services)
    assert news(services, "daraja_errors") == [("daraja_errors", "firing")]
    assert any("ALERT: M-Pesa (Daraja) calls are failing" in t for t in owner_sms(services))
    mail = [m for m in services.smtp_server.messages() if "Daraja" in m.subject]
    assert len(mail) == 1 and mail[0].rcpt_tos == (OWNER_EMAIL,) and "3 of 3 Daraja calls failed" in mail[0].body
    tick(services)
    tick(services)
    assert news(services, "daraja_errors") == [("daraja_errors", "firing")]  # once, not every round

    simulator.fail_next_requests = 0  # Daraja is back
    paid_through(portal, package.id, 3)
    portal.clock.advance(11 * 60)  # the failures leave the 10-minute window
    tick(services)
    assert news(services, "daraja_errors") == [("daraja_errors", "firing"), ("daraja_errors", "resolved")]
    assert any("RESOLVED: M-Pesa (Daraja) calls are failing: resolved" in t for t in owner_sms(services))
    assert AlertState.get(AlertState.key == "daraja_errors").status == "ok"


def test_callbacks_dropped_while_queries_work_fire_and_resolve(portal, package, services, simulator):
    simulator.drop_callbacks = True
    paid_through(portal, package.id, 3, query=True)
    assert Payment.select().where(Payment.status == "paid").count() == 3  # STK Query still got them online
    portal.clock.advance(services.settings.mpesa.give_up_after_seconds)
    tick(services)
    assert news(services, "callbacks_missing") == [("callbacks_missing", "firing")]

    simulator.drop_callbacks = False
    paid_through(portal, package.id, 3, query=True)
    portal.clock.advance(services.settings.mpesa.give_up_after_seconds)
    tick(services)
    assert news(services, "callbacks_missing") == [("callbacks_missing", "firing"), ("callbacks_missing", "resolved")]


def test_router_down_for_five_minutes_fires_repeats_and_resolves(portal, services, emulator):
    emulator.set_down(True)
    tick(services)
    assert news(services) == [] and AlertState.get(AlertState.key == "router_down:main").status == "pending"
    portal.clock.advance(4 * 60)
    tick(services)
    assert news(services) == []  # four minutes: not yet
    portal.clock.advance(60)
    tick(services)
    assert news(services, "router_down:main") == [("router_down:main", "firing")]
    scraped = requests.get(f"{portal.base_url}/metrics", timeout=10).text
    assert 'pay2connect_router_up{router="main"} 0.0' in scraped
    assert 'pay2connect_alert_firing{alert="router_down:main"} 1.0' in scraped
    for _ in range(5):
        portal.clock.advance(3600)
        tick(services)
    assert len(news(services, "router_down:main")) == 1  # five hours on: no repeat yet
    portal.clock.advance(3600)
    tick(services)
    assert news(services, "router_down:main")[-1] == ("router_down:main", "repeat")
    assert any("STILL: Router is unreachable: main" in t for t in owner_sms(services))

    emulator.set_down(False)
    tick(services)
    tick(services)
    assert [s for _a, s in news(services, "router_down:main")] == ["firing", "repeat", "resolved"]


def test_a_short_router_blip_never_reaches_the_owner(portal, services, emulator):
    emulator.set_down(True)
    tick(services)
    portal.clock.advance(120)
    emulator.set_down(False)
    tick(services)
    portal.clock.advance(600)
    tick(services)
    assert news(services) == [] and owner_sms(services) == []
    assert AlertState.get(AlertState.key == "router_down:main").status == "ok"


def test_outbox_stuck_fires_and_resolves_when_the_router_takes_the_login(portal, package, services, emulator):
    mac, ip = portal.join()
    portal.pay_ids(package.id, mac=mac, ip=ip)
    emulator.set_down(True)
    portal.settle(5)  # paid; the login waits in the outbox
    portal.clock.advance(9 * 60)
    tick(services)
    assert news(services, "outbox_stuck") == []
    portal.clock.advance(60)
    tick(services)
    assert news(services, "outbox_stuck") == [("outbox_stuck", "firing")]
    emulator.set_down(False)
    portal.run_worker()  # the outbox retries and the device goes online
    assert emulator.is_online(mac)
    tick(services)
    assert news(services, "outbox_stuck")[-1] == ("outbox_stuck", "resolved")


def test_payment_success_under_the_threshold_fires_and_resolves(portal, package, services, simulator):
    for i in range(5):
        if i < 2:
            simulator.script_outcome(f"2547140000{i:02d}", "cancel")
        mac, ip = portal.join(f"AA:BB:CC:00:03:{i:02X}", f"10.5.50.{140 + i}")
        portal.pay_ids(package.id, phone=f"07140000{i:02d}", mac=mac, ip=ip)
        portal.settle(5)
    tick(services)
    assert news(services, "payment_success_low") == [("payment_success_low", "firing")]
    state = AlertState.get(AlertState.key == "payment_success_low")
    assert state.summary.startswith("3 of the last 5 M-Pesa payments succeeded (60%")
    paid_through(portal, package.id, 5)
    tick(services)
    assert news(services, "payment_success_low")[-1] == ("payment_success_low", "resolved")


class LedgerAway:
    """The ledger stops answering, and comes back: for SQLite a directory where the database
    file was (the disk under it went away); for PostgreSQL a port nothing listens on."""

    def __init__(self, services: Any) -> None:
        self.db = services.db
        self.moved: Path | None = None
        self.params: dict[str, Any] | None = None

    def take(self) -> None:
        close_connections(self.db)  # the pool's idle connections too: the server is gone
        if isinstance(self.db, peewee.PostgresqlDatabase):
            self.params = dict(self.db.connect_params)
            self.db.connect_params.update(port=1, connect_timeout=1)
            return
        path = Path(self.db.database)
        self.moved = path.with_suffix(".away")
        shutil.move(str(path), str(self.moved))
        path.mkdir()

    def give_back(self) -> None:
        self.db.close() if not self.db.is_closed() else None
        if self.params is not None:
            self.db.connect_params.clear()
            self.db.connect_params.update(self.params)
            self.params = None
        if self.moved is not None:
            path = Path(self.db.database)
            path.rmdir()
            shutil.move(str(self.moved), str(path))
            self.moved = None


@pytest.fixture
def ledger_away(services: Any) -> Iterator[LedgerAway]:
    away = LedgerAway(services)
    yield away
    away.give_back()


def test_the_ledger_unreachable_is_told_directly_and_resolved_when_it_is_back(portal, services, ledger_away):
    ledger_away.take()
    assert alerts.evaluate(services) == 3  # SMS, email and webhook, sent directly (no queue)
    assert news(services) == [("ledger_down", "firing")]
    assert any("ALERT: The database (ledger) is not answering" in t for t in owner_sms(services))
    assert any("ledger" in m.subject for m in services.smtp_server.messages())
    portal.clock.advance(60)
    assert alerts.evaluate(services) == 0  # told once per round
    portal.clock.advance(6 * 3600)
    assert alerts.evaluate(services) == 3 and news(services)[-1] == ("ledger_down", "repeat")

    ledger_away.give_back()
    tick(services)
    assert news(services)[-1] == ("ledger_down", "resolved")
    state = AlertState.get(AlertState.key == "ledger_down")
    assert state.status == "ok" and state.fired_at is not None and state.resolved_at is not None


def test_the_webhook_down_does_not_lose_the_alert(portal, services, emulator):
    services.webhook_receiver.fail_with_status = 503
    emulator.set_down(True)
    tick(services)
    portal.clock.advance(5 * 60)
    tick(services)
    assert news(services) == [("router_down:main", "firing")]  # refused with 503, still queued
    assert [r.answered for r in services.webhook_receiver.received()] == [503]
    services.webhook_receiver.fail_with_status = None
    portal.clock.advance(60)
    tick(services)
    assert [r.answered for r in services.webhook_receiver.received()] == [503, 200]


def test_the_admin_banner_shows_what_is_firing(portal, services, emulator, client, clock):
    from portal.domain.accounts import create_admin

    create_admin("owner", "correct horse battery", clock)
    emulator.set_down(True)
    tick(services)
    clock.advance(5 * 60)
    tick(services)
    page = client.get("/admin/login").get_data(as_text=True)
    assert "alerts-banner" not in page  # nothing before login
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/admin/login", data={"username": "owner", "password": "correct horse battery", "csrf_token": token})
    page = client.get("/admin/sessions").get_data(as_text=True)
    assert 'class="alerts-banner"' in page and "Router is unreachable: main" in page
    emulator.set_down(False)
    tick(services)
    assert "alerts-banner" not in client.get("/admin/sessions").get_data(as_text=True)


def test_daraja_answering_slowly_fires_and_resolves(portal, package, services):
    """The gateway wrapper times each call; a timer that says 6 s stands in for a slow Daraja
    (real HTTP still goes to the simulator: only the stopwatch is scripted)."""
    from portal.domain.observe import ObservedGateway

    readings = iter(range(0, 10_000, 6))
    slow = ObservedGateway(
        services.gateway.inner,
        services.meters,
        clock_now=services.clock.now,
        slow_seconds=lambda: 5.0,
        keep_seconds=660,
        timer=lambda: float(next(readings)),
    )
    fast = services.gateway
    services.gateway = slow
    paid_through(portal, package.id, 3)
    tick(services)
    assert news(services, "daraja_slow") == [("daraja_slow", "firing")]
    assert "3 of 3 Daraja calls took over 5 s" in AlertState.get(AlertState.key == "daraja_slow").summary
    services.gateway = fast
    portal.clock.advance(11 * 60)
    paid_through(portal, package.id, 3)
    tick(services)
    assert news(services, "daraja_slow")[-1] == ("daraja_slow", "resolved")


def test_the_worker_runs_the_alert_job_while_the_ledger_is_away(portal, services, ledger_away):
    """The scheduler does not open the ledger before this job (it would fail first)."""
    from portal.worker.scheduler import JOBS, Worker

    job = next(j for j in JOBS if j.name == "alerts")
    assert job.ledger is False
    worker = Worker(services)
    scheduled = worker.scheduler.get_job("alerts")
    assert scheduled is not None and scheduled.args[2] is False  # (name, run, opens the ledger?)
    ledger_away.take()
    try:
        worker._guarded(*scheduled.args)
    finally:
        ledger_away.give_back()
        worker.stop()
    assert news(services) == [("ledger_down", "firing")]


def test_redis_gone_keeps_the_daraja_alert_as_it_was(portal, package, services, simulator):
    """Without the shared meters the Daraja figures are unknown: not a reason to say "resolved"."""
    import redis

    from portal.live.meters import Meters

    simulator.fail_next_requests = 1_000_000
    for i in range(3):
        mac, ip = portal.join(f"AA:BB:CC:00:04:{i:02X}", f"10.5.50.{160 + i}")
        portal.pay(package.id, phone=f"07150000{i:02d}", mac=mac, ip=ip)
    tick(services)
    assert news(services, "daraja_errors") == [("daraja_errors", "firing")]
    shared = services.meters
    services.meters = Meters(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))
    portal.clock.advance(11 * 60)
    tick(services)
    assert news(services, "daraja_errors") == [("daraja_errors", "firing")]
    assert AlertState.get(AlertState.key == "daraja_errors").status == "firing"
    services.meters = shared
    tick(services)
    assert news(services, "daraja_errors")[-1] == ("daraja_errors", "resolved")
