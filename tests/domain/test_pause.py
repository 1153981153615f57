"""Pausing M-Pesa prompts over the real stack: the owner's switch (durable, every process, audited)
and the automatic pause driven by the Daraja simulator's failure knobs (it lifts by itself)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from portal.domain import pause
from portal.domain.payments import PayRequest, start_payment
from portal.ledger.models import AuditLog, Payment
from portal.wiring import build_services

PHONES = [f"07{20000000 + n:08d}" for n in range(12)]


def buy(portal: Any, package: Any, n: int) -> requests.Response:
    """Customer ``n``: their own phone and device, on the hotspot."""
    mac, ip = portal.join(f"AA:BB:CC:00:05:{n:02X}", f"10.5.55.{n + 2}")
    return portal.pay(package.id, phone=PHONES[n], mac=mac, ip=ip)


def test_the_owner_pauses_no_prompt_is_sent_pending_ones_still_confirm(portal, package, simulator, services, clock):
    simulator.drop_callbacks = True  # the pending one must be confirmed by the worker's STK Query
    assert buy(portal, package, 0).status_code == 200
    waiting = Payment.get()
    assert pause.pause_payments(clock, actor="owner", reason="Safaricom outage") is True
    assert pause.pause_payments(clock, actor="owner", reason="again") is False  # already paused

    answer = buy(portal, package, 1)
    assert answer.status_code == 503 and "paused" in answer.json()["message"]
    assert len(simulator.transactions()) == 1  # no STK push for the second customer
    splash = requests.get(f"{portal.base_url}/?mac=AA:BB:CC:00:05:02&ip=10.5.55.4&lang=sw", timeout=10).text
    assert "Malipo ya M-Pesa yamesitishwa" in splash and 'action="/pay"' not in splash

    portal.settle(5)
    clock.advance(services.settings.mpesa.query_after_seconds)
    portal.run_worker()
    assert Payment.get_by_id(waiting.id).status == "paid"  # confirmed while paused

    assert pause.resume_payments(clock, actor="owner") is True
    assert buy(portal, package, 2).status_code == 200
    actions = [(a.actor, a.action, json.loads(a.detail or "{}").get("reason")) for a in AuditLog.select()]
    assert ("owner", "payments.pause", "Safaricom outage") in actions
    assert ("owner", "payments.resume", "") in actions


def test_the_switch_survives_losing_redis_and_holds_in_another_process(portal, package, services, redis_handle, clock):
    pause.pause_payments(clock, actor="cli:root", reason="till change")
    redis_handle.client.flushall()  # Redis lost: the switch lives in the ledger
    other = build_services(services.settings, clock=clock, redis_handle=redis_handle, background=False)
    try:  # a second web process on the same ledger sees it on its very next request
        with pytest.raises(pause.PaymentsPaused):
            start_payment(
                other, PayRequest(phone=PHONES[3], package_id=package.id, mac="AA:BB:CC:00:05:03", ip="1.2.3.4")
            )
        assert pause.state(other).manual and pause.state(other).reason == "till change"
    finally:
        other.close()


@pytest.mark.parametrize("knob", ["fail_next_requests", "throttle_next_requests"])
def test_repeated_daraja_failures_pause_prompts_and_it_lifts_by_itself(
    portal, package, simulator, services, clock, knob
):
    m = services.settings.mpesa
    setattr(simulator, knob, m.pause_after_failures)
    answers = [buy(portal, package, n) for n in range(m.pause_after_failures)]
    assert [a.status_code for a in answers[:-1]] == [502] * (m.pause_after_failures - 1)
    assert answers[-1].status_code == 503 and "slow" in answers[-1].json()["message"]
    pushes = len(simulator.transactions())

    refused = buy(portal, package, 6)  # the next customer is told at once; no push is tried
    assert refused.status_code == 503 and "slow" in refused.json()["message"]
    assert len(simulator.transactions()) == pushes and getattr(simulator, knob) == 0
    splash = requests.get(f"{portal.base_url}/?mac=AA:BB:CC:00:05:06&ip=10.5.55.8", timeout=10).text
    assert "Payments are slow right now" in splash
    assert AuditLog.get(AuditLog.action == "payments.slow").actor == "system"

    clock.advance(m.pause_cooldown_seconds + 1)  # no one flips anything: it lifts by itself
    assert pause.state(services).paused is False
    assert buy(portal, package, 7).status_code == 200
    assert len(simulator.transactions()) == pushes + 1


def test_a_failing_probe_after_the_cool_down_pauses_again_at_once(portal, package, simulator, services, clock):
    m = services.settings.mpesa
    simulator.fail_next_requests = m.pause_after_failures + 1
    for n in range(m.pause_after_failures):
        buy(portal, package, n)
    clock.advance(m.pause_cooldown_seconds + 1)
    probe = buy(portal, package, 8)  # M-Pesa still down: one customer, not five, finds out
    assert probe.status_code == 503 and "slow" in probe.json()["message"]
    assert pause.state(services).slow


def test_only_a_push_after_a_pause_is_noted_as_the_probe_that_lifts_it(
    portal, package, simulator, services, clock, redis_handle
):
    """Ordinary pushes write nothing for the breaker; the first push after a pause is the
    probe, and its success means the next lone failure does not pause prompts again."""
    m = services.settings.mpesa
    mark = f"p2c:mark:{pause.SUCCESS_KEY}"
    assert buy(portal, package, 0).status_code == 200
    assert redis_handle.client.get(mark) is None  # no Redis write for an ordinary push's success

    simulator.fail_next_requests = m.pause_after_failures
    for n in range(1, m.pause_after_failures + 1):
        buy(portal, package, n)
    assert pause.state(services).slow
    clock.advance(m.pause_cooldown_seconds + 1)
    assert pause.state(services).after_pause and not pause.state(services).paused
    assert buy(portal, package, 9).status_code == 200  # the probe goes through
    assert redis_handle.client.get(mark) is not None

    simulator.fail_next_requests = 1
    assert buy(portal, package, 10).status_code == 502  # a lone failure after a good probe
    assert not pause.state(services).slow
    clock.advance(m.failure_window_seconds)
    assert not pause.state(services).after_pause  # long enough after: ordinary hours again
