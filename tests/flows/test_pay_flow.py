"""The whole pay-to-connect flow over real sockets: app on loopback HTTP, Daraja simulator
over HTTP, RouterOS emulator over TCP via librouteros, embedded Redis, SQLite file.
Time is a ManualClock; nothing sleeps."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.domain import expiry
from portal.ledger.models import Grant, OutboxItem, Payment, PaymentEvent
from portal.wiring import build_services

PHONE = "0712345678"
MSISDN = "254712345678"


def events(payment: Payment) -> list[str]:
    return [e.kind for e in PaymentEvent.select().where(PaymentEvent.payment == payment).order_by(PaymentEvent.id)]


def test_happy_path_pays_grants_and_logs_the_device_in(portal, package, emulator):
    mac, ip = portal.join()
    answer = portal.pay(package.id, mac=mac, ip=ip)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["success"] is True and body["amount"] == 20 and body["packageName"] == "1 hour"
    checkout = body["checkoutRequestId"]
    status_id = body["statusId"]
    assert status_id != checkout and len(status_id) >= 20
    assert portal.status(status_id)["status"] == "pending"
    assert not emulator.is_online(mac)

    assert portal.settle(5) >= 1  # the phone approves; the callback reaches our app
    status = portal.status(status_id)
    assert status["status"] == "success"
    assert 3590 <= status["session"]["remainingSeconds"] <= 3600
    assert emulator.is_online(mac)
    user = next(u for u in emulator.users() if u["name"] == mac)
    assert user["mac-address"] == mac and str(user["comment"]).startswith("p2c:")
    payment = Payment.get(Payment.checkout_request_id == checkout)
    assert payment.receipt and len(payment.receipt) == 10
    assert events(payment)[:4] == ["created", "push_accepted", "callback", "paid"]
    assert "router_authorized" in events(payment)


@pytest.mark.parametrize(
    ("outcome", "status", "key"),
    [
        ("cancel", "cancelled", None),
        ("timeout", "timeout", None),
        ("insufficient", "failed", None),
        ("wrong_pin", "failed", None),
    ],
)
def test_each_failure_leaves_the_device_offline_with_a_message(
    portal, package, emulator, simulator, outcome, status, key
):
    mac, ip = portal.join()
    simulator.script_outcome(MSISDN, outcome)
    checkout, status_id = portal.pay_ids(package.id, mac=mac, ip=ip)
    portal.settle(5)
    portal.settle(120)  # a 1037 arrives only after the prompt times out on the phone
    assert portal.status(status_id)["status"] == status
    payment = Payment.get(Payment.checkout_request_id == checkout)
    assert payment.message_key, "the customer must be told why"
    assert Grant.select().count() == 0
    assert not emulator.is_online(mac)


def test_three_identical_callbacks_give_one_grant(portal, package, emulator, simulator):
    mac, ip = portal.join()
    simulator.duplicate_callbacks = 2
    checkout, _status_id = portal.pay_ids(package.id, mac=mac, ip=ip)
    portal.settle(5)
    portal.settle(5)
    payment = Payment.get(Payment.checkout_request_id == checkout)
    deliveries = [a for a in simulator.callback_attempts if a.checkout_request_id == checkout]
    assert len(deliveries) == 3
    assert Grant.select().where(Grant.payment == payment).count() == 1
    assert Grant.select().count() == 1
    assert events(payment).count("duplicate_success_ignored") == 2
    assert emulator.is_online(mac)


def test_dropped_callback_still_grants_through_stk_query(portal, package, emulator, simulator, services):
    mac, ip = portal.join()
    simulator.drop_callbacks = True
    checkout, status_id = portal.pay_ids(package.id, mac=mac, ip=ip)
    portal.settle(5)
    assert portal.status(status_id)["status"] == "pending"
    portal.clock.advance(services.settings.mpesa.query_after_seconds)
    portal.run_worker()
    assert portal.status(status_id)["status"] == "success"
    assert emulator.is_online(mac)
    payment = Payment.get(Payment.checkout_request_id == checkout)
    assert "query" in events(payment) and payment.receipt is None  # the query carries no receipt


@pytest.mark.parametrize("settings_overrides", [{"mpesa": {"callback_url": ""}}])
def test_no_callback_url_at_all_still_works(portal, package, emulator, simulator, services):
    mac, ip = portal.join()
    _checkout, status_id = portal.pay_ids(package.id, mac=mac, ip=ip)
    portal.settle(5)
    assert not [a for a in simulator.callback_attempts if a.status is not None]
    assert portal.status(status_id)["status"] == "pending"
    portal.clock.advance(services.settings.mpesa.query_after_seconds)
    portal.run_worker()
    assert portal.status(status_id)["status"] == "success"
    assert emulator.is_online(mac)


def test_router_down_during_payment_grants_after_it_returns(portal, package, emulator, services):
    mac, ip = portal.join()
    checkout, status_id = portal.pay_ids(package.id, mac=mac, ip=ip)
    emulator.set_down(True)
    portal.settle(5)
    status = portal.status(status_id)
    assert status["status"] == "success"  # paid: the customer sees "paid, connecting"
    assert status["session"]["routerState"] == "pending"
    item = OutboxItem.get()
    assert item.done_at is None and item.attempts == 1
    assert "router_error" in events(Payment.get(Payment.checkout_request_id == checkout))

    portal.run_worker()  # still down: retried later, nothing lost
    emulator.set_down(False)
    portal.clock.advance(services.settings.worker.outbox_max_delay_seconds)
    portal.run_worker()
    assert emulator.is_online(mac)
    assert portal.status(status_id)["session"]["routerState"] == "online"


def test_expiry_removes_the_user_and_the_session_at_the_paid_end(portal, package, emulator, services):
    mac, ip = portal.join()
    portal.pay(package.id, mac=mac, ip=ip)
    portal.settle(5)
    assert emulator.is_online(mac)
    paid_end = Grant.get().expires_at
    portal.clock.set(paid_end - timedelta(seconds=1))
    portal.run_worker()
    assert emulator.is_online(mac), "not before its time"
    portal.clock.advance(1)
    portal.run_worker()
    assert not emulator.is_online(mac)
    assert not [u for u in emulator.users() if u["name"] == mac]
    assert not [a for a in emulator.active() if a.get("mac-address") == mac]
    grant = Grant.get()
    assert grant.status == "expired" and grant.ended_at == grant.expires_at
    assert emulator.seconds_online(mac) == 3600


def test_a_second_purchase_extends_instead_of_being_lost(portal, package, emulator, services):
    mac, ip = portal.join()
    portal.pay(package.id, mac=mac, ip=ip)
    portal.settle(5)
    portal.clock.advance(600)
    portal.pay(package.id, mac=mac, ip=ip, phone="0722000111")
    portal.settle(5)
    first, second = Grant.select().order_by(Grant.id)
    assert second.starts_at == first.expires_at
    assert "extended" in events(second.payment)
    portal.clock.advance(3600)  # first grant over, second still running
    portal.run_worker()
    assert Grant.get_by_id(first.id).status == "expired"
    assert emulator.is_online(mac)
    portal.clock.advance(3600)
    portal.run_worker()
    assert not emulator.is_online(mac)


def test_restarting_the_worker_and_losing_redis_loses_nothing(
    portal, package, emulator, simulator, services, redis_handle
):
    mac, ip = portal.join()
    simulator.drop_callbacks = True
    checkout, _status_id = portal.pay_ids(package.id, mac=mac, ip=ip)
    portal.settle(5)
    # The worker "process" dies here; Redis is wiped too. A new one starts from the ledger.
    redis_handle.client.flushall()
    fresh = build_services(
        services.settings,
        clock=portal.clock,
        simulator=simulator,
        redis_handle=redis_handle,
        emulators=services.emulators,
        background=False,
    )
    try:
        expiry.rebuild_live(fresh)
        portal.clock.advance(services.settings.mpesa.query_after_seconds)
        from portal.worker.scheduler import run_all_jobs_once

        run_all_jobs_once(fresh)
        assert Payment.get(Payment.checkout_request_id == checkout).status == "paid"
        assert emulator.is_online(mac)
        redis_handle.client.flushall()  # lose Redis again while the session runs
        assert expiry.rebuild_live(fresh) == 1
        portal.clock.advance(3600 + 1)
        run_all_jobs_once(fresh)
        assert not emulator.is_online(mac)
    finally:
        fresh.routers["main"].close()


@pytest.mark.parametrize("settings_overrides", [{"mpesa": {"request_timeout": 1.0}}])
def test_push_answer_lost_to_a_timeout_is_adopted_when_the_callback_comes(
    portal, package, emulator, simulator, services
):
    mac, ip = portal.join()
    services.gateway.access_token()  # only the push itself may hang, not the OAuth call
    simulator.hang_push_responses = True
    answer = portal.pay(package.id, mac=mac, ip=ip)
    assert answer.status_code == 502  # the customer is told M-Pesa did not answer; no second push
    payment = Payment.get()
    assert payment.status == "failed" and payment.checkout_request_id is None
    simulator.hang_push_responses = False
    simulator.release_hung_requests()
    portal.settle(5)  # Daraja did take the push: the customer paid, the callback arrives
    payment = Payment.get_by_id(payment.id)
    assert payment.status == "paid" and payment.checkout_request_id
    assert "adopted_callback" in events(payment)
    assert emulator.is_online(mac)


def test_late_success_after_we_said_timed_out_still_grants(portal, package, emulator, simulator, services):
    mac, ip = portal.join()
    simulator.script_outcome(PHONE, "ask")
    simulator.prompt_timeout_seconds = 3600  # the phone sits on the prompt for a long time
    checkout, status_id = portal.pay_ids(package.id, mac=mac, ip=ip)
    for _ in range(20):
        portal.clock.advance(services.settings.mpesa.query_every_seconds)
        portal.run_worker()
    assert portal.status(status_id)["status"] == "timeout"
    simulator.force_outcome(checkout, "success")
    portal.settle(1)
    assert portal.status(status_id)["status"] == "success"
    assert emulator.is_online(mac)


def test_phone_numbers_never_reach_the_logs(portal, package, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    mac, ip = portal.join()
    portal.pay(package.id, mac=mac, ip=ip)
    portal.pay(package.id, mac=mac, ip=ip)  # refused: already pending
    portal.settle(5)
    portal.run_worker()
    ours = caplog.records
    assert ours, "the flow should log something"
    assert not [r.getMessage() for r in ours if "712345678" in r.getMessage()]


def test_a_dead_router_costs_one_timeout_per_worker_pass(portal, package, emulator, services):
    from portal.domain.outbox import process_outbox

    macs = [portal.join(f"AA:BB:CC:00:03:{n:02X}", f"10.5.53.{n + 2}")[0] for n in range(3)]
    for n, mac in enumerate(macs):
        assert portal.pay(package.id, mac=mac, ip=f"10.5.53.{n + 2}", phone=f"07{20000000 + n:08d}").status_code == 200
    emulator.set_down(True)
    portal.settle(5)  # three payments, three failed router calls waiting in the outbox
    assert OutboxItem.select().where(OutboxItem.done_at.is_null()).count() == 3
    portal.clock.advance(services.settings.worker.outbox_max_delay_seconds)
    attempts_before = sum(i.attempts for i in OutboxItem.select())
    assert process_outbox(services) == 0
    assert sum(i.attempts for i in OutboxItem.select()) == attempts_before + 1
    emulator.set_down(False)
    portal.clock.advance(services.settings.worker.outbox_max_delay_seconds)
    assert process_outbox(services) == 3
    assert all(emulator.is_online(mac) for mac in macs)
