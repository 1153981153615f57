"""The outbox: router operations that survive a dead router or process, run once each.
The RouterOS emulator over TCP, the ledger, a real Redis, a manual clock."""

from __future__ import annotations

from portal.domain.outbox import process_outbox, queue, run_outbox_item
from portal.ledger.models import OutboxItem
from tests.grant_factory import unconfirmed_grant


def test_a_login_that_worked_finishes_the_older_logins_of_its_grant(services, package, emulator):
    """A login left waiting (the router was away) is not repeated after a later one of the
    same grant worked (a reconciliation's): a router coming back does not log everyone in
    twice. A login queued after the one that worked (an extension's new limit) still runs."""
    grant = unconfirmed_grant(services, package, emulator, seconds=600)  # its login is queued
    older = OutboxItem.get(OutboxItem.grant == grant.id)
    worked = queue(grant, "authorize", services.clock.now())
    newer = queue(grant, "authorize", services.clock.now())

    assert run_outbox_item(services, worked.id)

    assert OutboxItem.get_by_id(older.id).done_at is not None, "the older login is finished too"
    assert OutboxItem.get_by_id(newer.id).done_at is None, "a newer one is left to run"
    logins = [c for c in emulator.command_log if c[0] == "/ip/hotspot/active/login"]
    process_outbox(services)
    assert OutboxItem.get_by_id(newer.id).done_at is not None
    assert len([c for c in emulator.command_log if c[0] == "/ip/hotspot/active/login"]) == len(logins), (
        "the newer one found the session live: no second login"
    )
