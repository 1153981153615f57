"""The grant clock's rules on the ledger and Redis (router calls only to confirm devices online):
provisional windows slide, faults stop the clock and are credited once, stacked purchases
move with the grant before them."""

from __future__ import annotations

from datetime import timedelta

from portal.domain import expiry
from portal.domain.grant_clock import bank_stopped, device_chain, resume_clock, stop_clock
from portal.ledger.models import Grant, PaymentEvent
from tests.grant_factory import grant_now, stacked_purchase, unconfirmed_grant


def credits(grant: Grant) -> list[int]:
    events = PaymentEvent.select().where(PaymentEvent.payment == grant.payment_id, PaymentEvent.kind == "outage_credit")
    return [e.detail_data["seconds"] for e in events.order_by(PaymentEvent.id)]


def test_a_fault_stops_the_clock_and_the_time_comes_back_once(services, package, emulator):
    grant = grant_now(services, package, emulator, seconds=600)
    start = services.clock.now()
    services.clock.advance(100)
    assert stop_clock(services, grant, start + timedelta(seconds=100), reason="router rebooted")
    assert not stop_clock(services, Grant.get_by_id(grant.id), start, reason="again"), "one stop per fault"
    services.clock.advance(45)
    resume_clock(services, Grant.get_by_id(grant.id), services.clock.now(), reason="back")
    grant = Grant.get_by_id(grant.id)
    assert grant.credited_seconds == 45 and grant.offline_since is None
    assert grant.expires_at == start + timedelta(seconds=645)
    assert services.live.next_due() == grant.expires_at, "the timer follows the credit"
    assert credits(grant) == [45]


def test_a_stopped_grant_is_never_ended_its_time_is_banked(services, package, emulator):
    grant = grant_now(services, package, emulator, seconds=60)
    start = services.clock.now()
    stop_clock(services, grant, start + timedelta(seconds=50), reason="router unreachable")
    services.clock.advance(70)  # past its old end, still cut off
    expiry.expire_due(services)
    grant = Grant.get_by_id(grant.id)
    assert grant.status == "active" and grant.credited_seconds == 20
    assert grant.expires_at == start + timedelta(seconds=80) > services.clock.now()
    services.clock.advance(5)
    resume_clock(services, grant, services.clock.now(), reason="back")
    assert Grant.get_by_id(grant.id).expires_at == start + timedelta(seconds=85)
    assert credits(grant) == [20, 5]


def test_a_grant_that_ran_out_during_the_fault_gets_the_lost_end_back(services, package, emulator):
    grant = grant_now(services, package, emulator, seconds=60)
    start = services.clock.now()
    emulator.set_down(True)
    services.clock.advance(60)
    expiry.expire_due(services)  # ended in the ledger; the logout cannot reach the router
    assert Grant.get_by_id(grant.id).status == "expired"
    assert stop_clock(services, Grant.get_by_id(grant.id), start + timedelta(seconds=40), reason="router rebooted")
    revived = Grant.get_by_id(grant.id)
    assert revived.status == "active" and revived.ended_at is None
    services.clock.advance(30)
    resume_clock(services, revived, services.clock.now(), reason="back")
    assert Grant.get_by_id(grant.id).expires_at == services.clock.now() + timedelta(seconds=20)


def test_a_grant_over_before_the_fault_is_not_revived(services, package, emulator):
    grant = grant_now(services, package, emulator, seconds=60)
    services.clock.advance(60)
    expiry.expire_due(services)
    assert not stop_clock(services, Grant.get_by_id(grant.id), services.clock.now(), reason="router rebooted")
    assert Grant.get_by_id(grant.id).status == "expired"


def test_a_credit_moves_the_purchase_stacked_behind(services, package, emulator):
    first = grant_now(services, package, emulator, seconds=300)
    second = stacked_purchase(services, first, seconds=300)
    assert second.starts_at == first.expires_at
    stop_clock(services, first, services.clock.now(), reason="router rebooted")
    services.clock.advance(30)
    resume_clock(services, Grant.get_by_id(first.id), services.clock.now(), reason="back")
    first, second = device_chain(first.router, first.mac)
    assert first.credited_seconds == 30 and second.credited_seconds == 0
    assert second.starts_at == first.expires_at and second.expires_at == first.expires_at + timedelta(seconds=300)


def test_a_never_confirmed_grant_slides_instead_of_ending(services, package, emulator):
    grant = grant_now(services, package, emulator, seconds=60)
    from portal.ledger.models import Grant as G

    G.update(online_at=None).where(G.id == grant.id).execute()  # as if the router never confirmed it
    services.clock.advance(61)
    bank_stopped(services, G.get_by_id(grant.id), services.clock.now())
    slid = G.get_by_id(grant.id)
    assert slid.status == "active" and slid.credited_seconds == 0
    assert slid.starts_at == services.clock.now() and slid.expires_at == slid.starts_at + timedelta(seconds=60)


def _logged_in_by_a_worker_that_died(services, package, emulator) -> Grant:
    """A paid grant whose router login went through, and whose worker was killed before the
    ledger heard of it: the router has the session, the grant is still unconfirmed."""
    from portal.domain.outbox import device_grant

    grant = unconfirmed_grant(services, package, emulator, seconds=600)
    services.router("main").authorize(device_grant(grant, services.clock.now()))  # its last act
    assert emulator.is_online(grant.mac) and Grant.get_by_id(grant.id).online_at is None
    return Grant.get_by_id(grant.id)


def test_a_login_a_dead_worker_made_counts_from_the_login_not_from_the_retry(services, package, emulator):
    from portal.domain.outbox import process_outbox

    grant = _logged_in_by_a_worker_that_died(services, package, emulator)
    logged_in = services.clock.now()
    services.clock.advance(30)  # the successor retries the outbox item later
    process_outbox(services)
    grant = Grant.get_by_id(grant.id)
    assert grant.online_at == logged_in, "the customer was online from the login: no free 30 s"
    assert grant.expires_at == logged_in + timedelta(seconds=600)


def test_reconciliation_dates_a_session_it_finds_live_from_its_login(services, package, emulator):
    from portal.domain.router_reconciliation import reconcile_router

    grant = _logged_in_by_a_worker_that_died(services, package, emulator)
    logged_in = services.clock.now()
    services.clock.advance(40)
    reconcile_router(services, "main")
    grant = Grant.get_by_id(grant.id)
    assert grant.online_at == logged_in and grant.expires_at == logged_in + timedelta(seconds=600)


def test_many_devices_confirmed_at_once_get_what_one_at_a_time_gives(services, package, emulator):
    """The reboot path (:func:`confirm_online_many`): a stopped grant with a purchase stacked
    behind it is credited and both move; a never-confirmed one starts its clock; a stopped
    one alone is credited; every event is written and the Redis index follows each end."""
    from portal.domain.grant_clock import confirm_online_many, device_chains
    from portal.live.store import EXPIRY_INDEX

    stacked_head = grant_now(services, package, emulator, seconds=600)
    stacked_tail = stacked_purchase(services, stacked_head, seconds=300)
    alone = grant_now(services, package, emulator, seconds=600)
    never = unconfirmed_grant(services, package, emulator, seconds=600)
    start = services.clock.now()
    for grant in (stacked_head, alone):
        assert stop_clock(services, Grant.get_by_id(grant.id), start, reason="router rebooted")
    services.clock.advance(40)
    back = services.clock.now()

    changed = confirm_online_many(services, "main", {g.mac: back for g in (stacked_head, alone, never)})

    head, tail = device_chain("main", stacked_head.mac)
    assert (head.id, tail.id) == (stacked_head.id, stacked_tail.id)
    assert head.credited_seconds == 40 and head.offline_since is None
    assert head.expires_at == start + timedelta(seconds=640) == tail.starts_at
    assert tail.expires_at == tail.starts_at + timedelta(seconds=300)
    assert Grant.get_by_id(alone.id).expires_at == start + timedelta(seconds=640)
    started = Grant.get_by_id(never.id)
    assert started.online_at == back and started.starts_at == back
    assert started.expires_at == back + timedelta(seconds=600)
    assert credits(head) == [40] and credits(Grant.get_by_id(alone.id)) == [40] and credits(started) == []
    assert (
        PaymentEvent.select()
        .where(PaymentEvent.payment == never.payment_id, PaymentEvent.kind == "clock_started")
        .exists()
    )
    assert {g.id for g in changed} == {head.id, tail.id, alone.id, never.id}
    for grant in (head, tail, Grant.get_by_id(alone.id), started):
        assert services.live.redis.zscore(EXPIRY_INDEX, str(grant.id)) == grant.expires_at.timestamp()
    # 1,200 MACs asked at once (past SQLite's old limit of 999 bound values): each device once
    assert set(device_chains("main", [g.mac for g in (head, alone, started)] * 400)) == {
        head.mac,
        alone.mac,
        started.mac,
    }, "a device named many times is read once"
