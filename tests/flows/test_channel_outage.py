"""The SMS gateway answers 5xx for ten minutes of business time while customers keep paying and
a second router goes down (an alert to send): receipts and the alert are delayed, none is lost,
and payments and sessions carry on as before, because a payment only ever inserts a row.

Prints both figures: deliveries (queued during the outage, lost, delay) and payments per second
with the channel up and with it down (wall time on this machine, for the record; a timed
assertion would be flaky on a shared box, so what is asserted is that no payment ever waited on
the gateway: it saw no request while customers paid)."""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest
import requests

from portal.domain import alerts, deliveries
from portal.ledger.models import Delivery, Grant, Payment
from tests.conftest import PortalActions

OWNER_PHONE, OWNER_MSISDN = "0722000001", "254722000001"
ROUTER = {"backend": "emulator", "host": "127.0.0.1", "port": 0, "username": "pay2connect", "password": "secret"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "sms": {"environment": "simulator"},
        "receipts": {"enabled": True},
        "alerts": {"owner_phones": [OWNER_PHONE], "router_down_minutes": 5, "payment_window": 50},
        "routers": [{"name": "main", **ROUTER, "timeout": 1.0}, {"name": "backroom", **ROUTER, "timeout": 1.0}],
    }


def customers_pay(portal: PortalActions, package_id: int, first: int, count: int) -> float:
    """``count`` customers pay with receipts on and are logged in; returns the wall seconds."""
    started = time.perf_counter()
    for n in range(first, first + count):
        mac, ip = portal.join(f"AA:BB:CC:00:{n // 256:02X}:{n % 256:02X}", f"10.5.{50 + n // 200}.{10 + n % 200}")
        answer = requests.post(
            f"{portal.base_url}/api/portal/pay",
            json={
                "phone": f"0712{n:06d}",
                "packageId": package_id,
                "macAddress": mac,
                "ip": ip,
                "receiptSms": True,
                "router": "main",
            },
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        portal.settle(3)  # the customer approves; callback; paid; the router logs them in
        assert portal.emulator.is_online(mac)
    return time.perf_counter() - started


def worker_round(services: Any) -> None:
    deliveries.send_due(services)
    alerts.evaluate(services)


def ten_minutes_of_trade(portal: PortalActions, package_id: int, first: int) -> tuple[int, float]:
    """A customer every 20 s for ten minutes of business time, the worker running every
    minute. Returns (customers, wall seconds spent paying and logging in)."""
    gateway = portal.services.sms_gateway
    paying = 0.0
    count = 0
    for _minute in range(10):
        for _ in range(3):
            before = gateway.requests_seen
            paying += customers_pay(portal, package_id, first + count, 1)
            assert gateway.requests_seen == before, "a payment waited on the SMS gateway"
            count += 1
            portal.clock.advance(20)
        worker_round(portal.services)
    return count, paying


def test_sms_gateway_down_ten_minutes_delays_but_loses_nothing_and_payments_carry_on(portal, package, services):
    gateway = services.sms_gateway
    up_count, up_seconds = ten_minutes_of_trade(portal, package.id, 0)
    assert len(gateway.messages()) == up_count  # every receipt went within the minute

    outage_started = portal.clock.advance(1)
    gateway.fail_with_status = 503
    services.emulators["backroom"].set_down(True)  # something the owner must hear about
    seen_before = gateway.requests_seen
    down_count, down_seconds = ten_minutes_of_trade(portal, package.id, up_count)
    assert gateway.requests_seen > seen_before  # the worker did try, and was refused
    assert Delivery.select().where(Delivery.status == "sent", Delivery.created_at >= outage_started).count() == 0

    gateway.fail_with_status = None
    outage_ended = portal.clock.now()
    for _ in range(30):
        if deliveries.queued_count(services) == 0:
            break
        portal.clock.advance(30)
        worker_round(services)

    during = list(Delivery.select().where(Delivery.created_at >= outage_started, Delivery.created_at < outage_ended))
    lost = [d for d in during if d.status != "sent"]
    delays = [(d.sent_at - d.created_at).total_seconds() for d in during if d.sent_at is not None]
    receipts = [d for d in during if d.kind == "receipt"]
    owner = [m.message for m in gateway.messages() if m.number == "+" + OWNER_MSISDN]
    print(
        f"\nSMS gateway answering 503 for 10 min of business time: {len(during)} messages queued during it "
        f"({len(receipts)} receipts, {len(during) - len(receipts)} owner alerts), {len(lost)} lost; "
        f"delay median {statistics.median(delays):.0f} s, max {max(delays):.0f} s"
        f"\npayments with login per second (wall, this machine, same 30 customers each): "
        f"channel up {up_count / up_seconds:.1f}/s, channel down {down_count / down_seconds:.1f}/s"
    )
    assert not lost, [(d.key, d.status, d.last_error) for d in lost]
    total = up_count + down_count
    assert len(receipts) == down_count
    assert Payment.select().where(Payment.status == "paid").count() == total
    assert Grant.select().where(Grant.router_state == "online").count() == total
    assert Delivery.select().where(Delivery.kind == "receipt", Delivery.status == "sent").count() == total
    assert any("ALERT: Router is unreachable: backroom" in text for text in owner)
    customers = [m for m in gateway.messages() if m.number != "+" + OWNER_MSISDN]
    assert len(customers) == total and len({m.number for m in customers}) == total  # one each
