"""The outbox: router operations that survive a dead router or process, run once each.
The RouterOS emulator over TCP, the ledger, a real Redis, a manual clock."""

from __future__ import annotations

from typing import Any

from portal.domain.expiry import end_due
from portal.domain.outbox import process_outbox, queue, run_outbox_item, run_revocations
from portal.ledger import timeline
from portal.ledger.models import Grant, OutboxItem
from tests.grant_factory import grant_now, stacked_purchase, unconfirmed_grant


def test_a_login_that_worked_finishes_the_older_logins_of_its_grant(services, package, emulator):
    """A login left waiting (the router was away) is not repeated after a later one of the
    same grant worked (a reconciliation's): a router coming back does not log everyone in
    twice. A login queued after the one that worked (an extension's new limit) still runs."""
    grant = unconfirmed_grant(services, package, emulator, seconds=600)  # its login is queued
    older = OutboxItem.get(OutboxItem.grant == grant.id)
    worked = queue(grant, "authorize", services.clock.now())
    newer = queue(grant, "authorize", services.clock.now())

    assert run_outbox_item(services, worked)

    assert OutboxItem.get_by_id(older.id).done_at is not None, "the older login is finished too"
    assert OutboxItem.get_by_id(newer.id).done_at is None, "a newer one is left to run"
    logins = [c for c in emulator.command_log if c[0] == "/ip/hotspot/active/login"]
    process_outbox(services)
    assert OutboxItem.get_by_id(newer.id).done_at is not None
    assert len([c for c in emulator.command_log if c[0] == "/ip/hotspot/active/login"]) == len(logins), (
        "the newer one found the session live: no second login"
    )


def test_a_queued_login_reads_its_row_once_and_writes_its_events_together(services, package, emulator, monkeypatch):
    """Every paid callback runs one: statements saved here are saved per customer (and on
    PostgreSQL each is a round trip)."""
    grant = unconfirmed_grant(services, package, emulator, seconds=600)  # its login is queued
    item = OutboxItem.get(OutboxItem.grant == grant.id)
    statements: list[str] = []
    real = services.db.execute_sql
    event_writes: list[list[Any]] = []  # each write of events: its rows
    real_insert_each = timeline.insert_each

    def traced(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        statements.append(sql)
        return real(sql, params, *args, **kwargs)

    def insert_each(model: Any, fields: Any, rows: Any) -> None:
        event_writes.append(list(rows))
        real_insert_each(model, fields, event_writes[-1])

    monkeypatch.setattr(services.db, "execute_sql", traced)
    monkeypatch.setattr(timeline, "insert_each", insert_each)
    assert run_outbox_item(services, item)
    monkeypatch.undo()

    assert emulator.is_online(grant.mac)
    assert len([sql for sql in statements if sql.startswith("SELECT") and 'FROM "outbox_item"' in sql]) == 1
    assert not [sql for sql in statements if sql.startswith('INSERT INTO "payment_event"')], "none one by one"
    assert [len(rows) for rows in event_writes] == [2], "both events in one write"
    kinds = [event.kind for event in Grant.get_by_id(grant.id).payment.events]
    assert kinds[-2:] == ["clock_started", "router_authorized"]


def test_a_logout_decided_before_a_new_purchase_never_lands_after_its_login(services, package, emulator, clock):
    """The worker ends a grant and logs its device out while the web process logs the same
    device's new purchase in. The logout was decided before the purchase was committed: it
    must not leave the customer who has just paid offline with their time running."""
    ended = grant_now(services, package, emulator, seconds=60)
    clock.advance(60)
    _seen, revocations = end_due(services, clock.now())
    router = services.routers["main"]
    bought: list[Grant] = []

    class PurchaseLandsFirst:
        """The router, with the web process's purchase landing between the worker's ledger
        check and its logout."""

        def __getattr__(self, name: str) -> Any:
            return getattr(router, name)

        def revoke_many(self, macs: list[str]) -> None:
            bought.append(stacked_purchase(services, ended, seconds=600))  # paid and logged in, if it can
            router.revoke_many(macs)

    services.routers["main"] = PurchaseLandsFirst()
    try:
        assert run_revocations(services, "main", revocations) == 1
    finally:
        services.routers["main"] = router
    process_outbox(services)  # the worker's next sweep

    grant = Grant.get_by_id(bought[0].id)
    assert emulator.is_online(ended.mac), "the customer who just paid is online"
    assert grant.online_at == clock.now() and grant.router_state == "online"
