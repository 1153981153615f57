"""The running worker's expiry timer and router lanes on a ManualClock: they wake when the
clock is moved or the expiry index changes, never sleep through business time, never end
a grant early. Real Redis (pub/sub), real SQLite, the RouterOS emulator over TCP."""

from __future__ import annotations

import random
import time
from datetime import timedelta

import pytest

from portal.domain import grants
from portal.ledger.models import Grant, OutboxItem
from portal.worker.scheduler import Worker
from tests.grant_factory import grant_now


def armed_on(worker: Worker, due: object, seconds: float = 5.0) -> bool:
    """Whether the timer goes to sleep armed on ``due`` (real seconds, not business time).

    Read again while it is between two steps (``armed`` None): an expiry announcement the
    pub/sub feed delivers just after :meth:`Worker.settle` returned wakes it once more (the
    fresh clone of 7e3916c read None here once)."""
    deadline = time.monotonic() + seconds
    while worker.timer.armed != due:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_grant_ends_at_its_due_time_not_a_moment_before(services, package, emulator, worker):
    grant = grant_now(services, package, emulator, seconds=600)
    assert worker.settle()
    assert armed_on(worker, grant.expires_at)

    services.clock.advance(599.999)
    assert worker.settle()
    assert Grant.get_by_id(grant.id).status == "active" and emulator.is_online(grant.mac)

    services.clock.advance(0.001)
    assert worker.settle()
    ended = Grant.get_by_id(grant.id)
    assert ended.status == "expired" and ended.ended_at == ended.expires_at
    assert not emulator.is_online(grant.mac) and ended.router_state == "removed"


def test_a_grant_added_elsewhere_with_an_earlier_end_rearms_the_timer(services, package, emulator, worker):
    later = grant_now(services, package, emulator, seconds=3600)
    assert worker.settle() and armed_on(worker, later.expires_at)
    sooner = grant_now(services, package, emulator, seconds=60)  # e.g. the web process, via pub/sub
    assert worker.settle() and armed_on(worker, sooner.expires_at)
    services.clock.advance(60)
    assert worker.settle()
    assert Grant.get_by_id(sooner.id).status == "expired" and Grant.get_by_id(later.id).status == "active"


def test_an_extension_moves_the_end_and_the_timer_follows(services, package, emulator, worker):
    grant = grant_now(services, package, emulator, seconds=120)
    grants.extend_grant(services, grant, 300, reason="goodwill")
    assert worker.settle()
    services.clock.advance(120)
    assert worker.settle()
    assert Grant.get_by_id(grant.id).status == "active" and emulator.is_online(grant.mac)
    services.clock.advance(300)
    assert worker.settle()
    assert Grant.get_by_id(grant.id).status == "expired" and not emulator.is_online(grant.mac)


def test_a_grant_missing_from_redis_is_still_ended_on_time(services, package, emulator, worker, redis_handle):
    grant = grant_now(services, package, emulator, seconds=90)
    redis_handle.client.flushall()  # the ledger is the truth
    services.clock.advance(90)
    assert worker.settle()
    assert Grant.get_by_id(grant.id).status == "expired" and not emulator.is_online(grant.mac)


def test_a_standby_worker_ends_nothing(services, package, emulator, worker):
    standby = Worker(services)
    standby.start()
    try:
        grant = grant_now(services, package, emulator, seconds=30)
        services.clock.advance(30)
        assert worker.settle()
        assert Grant.get_by_id(grant.id).status == "expired"
        assert standby.timer.ended == 0 and worker.timer.ended == 1
    finally:
        standby.stop()


def test_many_grants_in_random_steps_none_early_none_missed(services, package, emulator, worker):
    rng = random.Random(7)
    made = [grant_now(services, package, emulator, seconds=rng.randint(60, 600)) for _ in range(60)]
    start = services.clock.now()
    while services.clock.now() < start + timedelta(seconds=620):
        services.clock.advance(rng.choice([0.5, 3, 7, 17]))
        assert worker.settle()
        now = services.clock.now()
        for grant in Grant.select().where(Grant.id.in_([g.id for g in made])):
            if grant.status == "expired":
                assert grant.ended_at >= grant.expires_at, "ended early"
            else:
                assert grant.expires_at > now, "missed its end"
                assert emulator.is_online(grant.mac)
    assert not any(emulator.is_online(g.mac) for g in made)


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "routers": [
                {"name": "main", "backend": "emulator", "port": 0, "password": "secret", "timeout": 1.0},
                {"name": "slow", "backend": "emulator", "port": 0, "password": "secret", "timeout": 1.0},
            ]
        }
    ],
)
def test_a_hanging_router_does_not_delay_logouts_on_another(services, package, worker):
    main, slow = services.emulators["main"], services.emulators["slow"]
    on_main = [grant_now(services, package, main, seconds=60) for _ in range(5)]
    on_slow = [grant_now(services, package, slow, seconds=60, router="slow") for _ in range(5)]
    slow.fail_next("stall", count=1000)  # every command hangs until the client's 1 s timeout
    services.clock.advance(60)
    started = time.monotonic()
    assert worker.timer.wait_idle(timeout=0.8) and worker.lanes["main"].wait_idle(timeout=0.8)
    assert time.monotonic() - started < 0.8, "main's logouts waited for the slow router"
    assert not any(main.is_online(g.mac) for g in on_main)
    assert worker.settle(timeout=20)
    assert all(Grant.get_by_id(g.id).status == "expired" for g in on_slow)
    waiting = OutboxItem.select().where(OutboxItem.router == "slow", OutboxItem.done_at.is_null()).count()
    assert waiting == 5, "the slow router's logouts wait in the outbox, retried later"
    slow.faults.clear()
