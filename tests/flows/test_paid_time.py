"""No paid second lost: paid time starts when the router confirms the customer online, and
time a router fault cost is credited back. Over real sockets (app on loopback HTTP, Daraja
simulator, RouterOS emulator via librouteros, real Redis, SQLite); time is a ManualClock."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import requests

from portal.domain.accounts import create_admin
from portal.ledger.models import Grant, Payment, PaymentEvent
from tests.web.admin.test_admin import PASSWORD, AdminActions

SIX_MINUTES = 360


def kinds(payment_id: int) -> list[str]:
    return [e.kind for e in PaymentEvent.select().where(PaymentEvent.payment == payment_id).order_by(PaymentEvent.id)]


@pytest.fixture
def six_minutes(services: Any) -> Any:
    from portal.domain.packages import add_package, validate_changes

    return add_package(validate_changes({"name": "6 minutes", "price": "5", "duration": "6m"}), services.clock)


def buy_for(portal: Any, package: Any, count: int) -> list[tuple[str, str]]:
    devices = [portal.join(f"AA:BB:CC:00:10:{n:02X}", f"10.5.60.{n + 2}") for n in range(count)]
    for n, (mac, ip) in enumerate(devices):
        portal.pay_ids(package.id, mac=mac, ip=ip, phone=f"07{20000000 + n:08d}")
    portal.settle(5)
    return devices


def cut_at_the_paid_end(portal: Any, emulator: Any, mac: str, *, seconds_left: int) -> None:
    """The device stays online until its last paid second and is cut at it."""
    portal.clock.advance(seconds_left - 1)
    portal.run_worker()
    assert emulator.is_online(mac), "cut before the paid end"
    portal.clock.advance(1)
    portal.run_worker()
    assert not emulator.is_online(mac), "still online after the paid end"


def test_paid_time_starts_when_the_router_confirms_the_customer_online(portal, package, emulator, services):
    mac, ip = portal.join()
    _checkout, status_id = portal.pay_ids(package.id, mac=mac, ip=ip)
    emulator.set_down(True)
    portal.settle(5)
    status = portal.status(status_id)
    assert status["status"] == "success" and status["session"]["routerState"] == "pending"  # "paid, connecting"

    portal.clock.advance(60)  # the router is down for a minute after the payment
    portal.run_worker()
    assert not emulator.is_online(mac)
    emulator.set_down(False)
    portal.clock.advance(services.settings.worker.outbox_base_delay_seconds)
    portal.run_worker()
    assert emulator.is_online(mac)
    online_at = portal.clock.now()

    grant = Grant.get()
    assert grant.online_at == online_at and grant.starts_at == online_at
    assert grant.expires_at == online_at + timedelta(seconds=3600), "the customer gets the whole hour"
    assert "clock_started" in kinds(grant.payment_id)
    assert portal.status(status_id)["session"]["remainingSeconds"] == 3600

    cut_at_the_paid_end(portal, emulator, mac, seconds_left=3600)
    assert emulator.seconds_online(mac) == 3600


def test_a_customer_who_never_comes_online_keeps_the_whole_purchase(portal, package, emulator, services):
    mac, ip = portal.join()
    portal.pay_ids(package.id, mac=mac, ip=ip)
    emulator.set_down(True)
    portal.settle(5)
    for _ in range(3):  # three provisional ends pass while the router stays down
        portal.clock.advance(3600)
        portal.run_worker()
    grant = Grant.get()
    assert grant.status == "active" and grant.online_at is None
    assert grant.expires_at > portal.clock.now()
    emulator.set_down(False)
    portal.clock.advance(services.settings.worker.outbox_max_delay_seconds)
    portal.run_worker()
    grant = Grant.get()
    assert emulator.is_online(mac) and grant.expires_at == grant.online_at + timedelta(seconds=3600)


def test_a_second_purchase_while_connecting_stacks_after_the_first(portal, package, emulator, services):
    mac, ip = portal.join()
    portal.pay_ids(package.id, mac=mac, ip=ip)
    emulator.set_down(True)
    portal.settle(5)
    portal.clock.advance(30)
    emulator.set_down(False)
    portal.pay_ids(package.id, mac=mac, ip=ip, phone="0722000111")
    portal.settle(5)  # the second purchase's router call logs the device in: both clocks are laid out
    assert emulator.is_online(mac)
    first, second = Grant.select().order_by(Grant.id)
    assert first.starts_at == first.online_at
    assert second.starts_at == first.expires_at
    assert second.expires_at == first.online_at + timedelta(seconds=7200), "two hours, not overlapping"


@pytest.mark.parametrize("boot_seconds", [0, 40], ids=["instant-reboot", "40s-boot"])
def test_fifty_customers_keep_every_paid_second_through_a_router_reboot(
    portal, six_minutes, emulator, services, base_url, boot_seconds
):
    devices = buy_for(portal, six_minutes, 50)
    assert all(emulator.is_online(mac) for mac, _ip in devices)
    portal.clock.advance(190)
    portal.run_worker()  # the worker saw the router up just before (it probes every second)

    emulator.reboot(boot_seconds=boot_seconds)
    portal.run_worker()  # down (or back at once): every session is gone
    portal.clock.advance(boot_seconds)
    portal.run_worker()  # the reboot is found, the customers' clocks stopped, reconciliation restores them
    assert all(emulator.is_online(mac) for mac, _ip in devices)
    grants = list(Grant.select().order_by(Grant.id))
    assert {g.credited_seconds for g in grants} == {boot_seconds}
    if boot_seconds:
        assert all("outage_credit" in kinds(g.payment_id) for g in grants)

    # Halfway through, five phones drop off and come back through the splash page: never refused.
    portal.clock.advance(60)
    router = services.routers["main"]
    for mac, ip in devices[:5]:
        (session,) = [s for s in emulator.active() if s["mac-address"] == mac]
        router.connection.call("/ip/hotspot/active/remove", {".id": session[".id"]})
        page = requests.get(base_url, params={"mac": mac, "ip": ip, "router": "main"}, timeout=10)
        assert page.status_code == 200
        assert emulator.is_online(mac), "re-login refused (has reached uptime limit?)"

    paid_end = min(g.expires_at for g in grants)
    assert paid_end == max(g.expires_at for g in grants)
    portal.clock.set(paid_end - timedelta(seconds=1))
    portal.run_worker()
    assert all(emulator.is_online(mac) for mac, _ip in devices), "the router cut someone before the paid end"
    portal.clock.advance(1)
    portal.run_worker()
    assert not any(emulator.is_online(mac) for mac, _ip in devices)
    assert not [r for r in emulator.session_history() if r.reason == "uptime limit"]
    for mac, _ip in devices[5:]:
        assert emulator.seconds_online(mac) == pytest.approx(SIX_MINUTES, abs=1), mac


def test_time_that_ran_out_while_the_router_rebooted_is_given_back_after_it(portal, six_minutes, emulator, services):
    (mac, _ip) = buy_for(portal, six_minutes, 1)[0]
    portal.clock.advance(SIX_MINUTES - 10)
    portal.run_worker()  # the router's last sign of life: 10 s of the purchase left
    emulator.reboot(boot_seconds=60)
    portal.clock.advance(1)
    portal.run_worker()  # unreachable
    portal.clock.advance(29)
    portal.run_worker()  # the paid end passed while it booted: ended in the ledger, no logout reached it
    assert Grant.get().status == "expired"
    portal.clock.advance(30)
    portal.run_worker()  # back: the grant that ran out in the fault is running again, its last 10 s ahead
    grant = Grant.get()
    assert grant.status == "active" and grant.ended_at is None and grant.credited_seconds == 60
    assert emulator.is_online(mac)
    fault = PaymentEvent.get(PaymentEvent.kind == "router_fault")
    assert fault.detail_data["revived"] is True
    cut_at_the_paid_end(portal, emulator, mac, seconds_left=10)
    assert emulator.seconds_online(mac) == pytest.approx(SIX_MINUTES, abs=1)


def test_an_outage_credit_is_on_the_timeline_and_the_admin_payment_page(portal, package, emulator, services, client):
    mac, ip = portal.join()
    portal.pay_ids(package.id, mac=mac, ip=ip)
    portal.settle(5)
    portal.clock.advance(600)
    portal.run_worker()  # the router's last sign of life
    emulator.reboot(boot_seconds=90)
    portal.clock.advance(1)
    portal.run_worker()  # unreachable
    portal.clock.advance(89)
    portal.run_worker()  # back: 90 s credited
    grant = Grant.get()
    assert grant.credited_seconds == 90 and emulator.is_online(mac)
    assert grant.expires_at == grant.online_at + timedelta(seconds=3600 + 90)
    credit = PaymentEvent.get(PaymentEvent.kind == "outage_credit")
    assert credit.detail_data["seconds"] == 90

    create_admin("owner", PASSWORD, services.clock)
    admin = AdminActions(client)
    admin.login()
    page = admin.get(f"/admin/payments/{Payment.get().id}").get_data(as_text=True)
    assert "Time credited back 1m 30s" in " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "Time credited back for a router fault" in page


def test_a_router_that_kept_serving_through_an_api_outage_credits_nothing(portal, package, emulator, services):
    mac, ip = portal.join()
    portal.pay_ids(package.id, mac=mac, ip=ip)
    portal.settle(5)
    portal.run_worker()
    emulator.set_down(True)  # our API connection is gone; the hotspot itself keeps the customer online
    portal.clock.advance(120)
    portal.run_worker()
    emulator.set_down(False)
    portal.clock.advance(5)
    portal.run_worker()
    grant = Grant.get()
    assert grant.credited_seconds == 0 and grant.offline_since is None
    assert "outage_credit" not in kinds(grant.payment_id)
    assert emulator.is_online(mac)
