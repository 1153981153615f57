"""Redis flushed under load, and Daraja down or throttled, with the real running worker.
Payments over HTTP, the Daraja simulator, the RouterOS emulator over TCP, a real Redis;
business time is a ManualClock."""

from __future__ import annotations

import pytest
import requests

from portal.ledger.models import Grant, Payment
from tests.faults.report import check_losses, report
from tests.faults.steps import SIX_MINUTES, buy, finish, step

OUTAGE = 10**6  # "every request from now on" for the simulator's failure knobs


def active_grants() -> int:
    return Grant.select().where(Grant.status == "active").count()


def test_redis_flushed_under_load_rebuilds_sessions_none_early_none_extended(
    portal, six_minutes, emulator, worker, services, redis_handle
):
    first = buy(portal, six_minutes, 50, block=21)
    portal.settle(5)
    assert worker.settle(timeout=60)
    step(portal, worker, 90)
    second = buy(portal, six_minutes, 50, block=22)  # prompts out, callbacks on their way
    redis_handle.client.flushall()
    portal.settle(5)  # the callbacks land on an empty Redis
    assert worker.settle(timeout=60)
    step(portal, worker, 1)
    everyone = first + second
    assert all(emulator.is_online(mac) for mac, _ in everyone)
    mirrored = services.live.session_count()
    assert mirrored == active_grants() == 100, f"Redis holds {mirrored} of {active_grants()} live sessions"

    finish(portal, worker, emulator, everyone)
    ended_early = [g for g in Grant.select() if g.ended_at is None or g.ended_at < g.expires_at]
    assert not ended_early
    assert {g.credited_seconds for g in Grant.select()} == {0}, "a Redis loss is not a router fault"
    lost = check_losses(emulator, {mac: SIX_MINUTES for mac, _ in everyone})
    report(
        "Redis flushed under load (100 customers)",
        f"{mirrored}/100 sessions rebuilt in Redis, 0 ended early, 0 extended",
        lost,
    )


@pytest.mark.parametrize("knob", ["fail_next_requests", "throttle_next_requests"], ids=["5xx", "500.003.02"])
def test_daraja_down_or_throttled_says_slow_sends_no_storm_and_confirms_pending_on_return(
    portal, six_minutes, emulator, worker, services, simulator, knob
):
    m = services.settings.mpesa
    simulator.drop_callbacks = True  # the pending payments must be confirmed by STK Query
    pending = buy(portal, six_minutes, 5, block=31)
    portal.settle(5)  # the customers approve on their phones: M-Pesa has their money
    setattr(simulator, knob, OUTAGE)

    answers = []
    minutes = 5
    trying = [portal.join(f"AA:BB:32:00:00:{n:02X}", f"10.32.0.{n + 2}") for n in range(60)]
    for n, (mac, ip) in enumerate(trying):  # sixty customers try over five minutes
        answers.append(portal.pay(six_minutes.id, mac=mac, ip=ip, phone=f"0729{n:06d}"))
        step(portal, worker, minutes * 60 / len(trying))
    splash = requests.get(f"{portal.base_url}/?mac=AA:BB:32:00:00:00&ip=10.32.0.2", timeout=10).text
    during = OUTAGE - getattr(simulator, knob)
    setattr(simulator, knob, 0)
    codes = [answer.status_code for answer in answers]
    slow = sum(code == 503 and "slow" in answer.json()["message"] for code, answer in zip(codes, answers, strict=True))
    assert "Payments are slow right now" in splash
    assert (
        set(codes) <= {502, 503}
        and slow >= len(trying) - m.pause_after_failures - minutes * 60 // m.pause_cooldown_seconds
    )
    assert not any(emulator.is_online(mac) for mac, _ in pending)
    pushes = Payment.select().where(Payment.mac.in_([mac for mac, _ in trying])).count()
    probes = minutes * 60 // m.pause_cooldown_seconds + 1  # one push tries M-Pesa after each pause
    assert pushes <= m.pause_after_failures + probes, f"{pushes} prompts tried in a Daraja outage"
    assert during < len(trying), f"{during} Daraja calls for {len(trying)} customers: a storm"

    back_at = portal.clock.now()
    for _ in range(60):
        if all(emulator.is_online(mac) for mac, _ in pending):
            break
        step(portal, worker, 5)
    waited = (portal.clock.now() - back_at).total_seconds()
    assert all(emulator.is_online(mac) for mac, _ in pending), "pending payments not confirmed after Daraja came back"
    assert Payment.select().where(Payment.status == "paid").count() == 5

    finish(portal, worker, emulator, pending)
    lost = check_losses(emulator, {mac: SIX_MINUTES for mac, _ in pending})
    report(
        f"Daraja {'down (5xx)' if knob.startswith('fail') else 'throttled (500.003.02)'} for 5 minutes",
        f"{slow}/60 told 'payments are slow', {pushes} prompts tried, {during} Daraja calls in 5 min; "
        f"5/5 pending confirmed {waited:.0f} s after it returned",
        lost,
    )
