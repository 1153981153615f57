"""Payment timelines: events one by one, or batched (a reboot's thousands in a few INSERTs)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from portal.ledger.database import write_transaction
from portal.ledger.models import PaymentEvent
from portal.ledger.timeline import batched, record, record_many
from tests.grant_factory import unconfirmed_grant


def kinds(payment_id: int) -> list[str]:
    events = PaymentEvent.select().where(PaymentEvent.payment == payment_id).order_by(PaymentEvent.id)
    return [event.kind for event in events if event.kind.startswith("t_")]


def test_batched_events_are_written_together_at_the_end_in_order(services, package, emulator):
    payment_id = unconfirmed_grant(services, package, emulator, seconds=60).payment_id
    with write_transaction(services.db), batched():
        record(payment_id, "t_first", services.clock, n=1)
        with batched():  # nested: the outer one writes
            record(payment_id, "t_second", services.clock)
        assert kinds(payment_id) == [], "nothing written before the batch ends"
        for n in range(450):  # more than one INSERT's worth
            record(payment_id, "t_many", services.clock, n=n)
    assert kinds(payment_id) == ["t_first", "t_second"] + ["t_many"] * 450
    record(payment_id, "t_after", services.clock)  # outside a batch: at once
    assert kinds(payment_id)[-1] == "t_after"


def test_a_batch_that_fails_writes_none_of_its_events(services, package, emulator):
    payment_id = unconfirmed_grant(services, package, emulator, seconds=60).payment_id
    with pytest.raises(RuntimeError), write_transaction(services.db), batched():
        record(payment_id, "t_lost", services.clock)
        raise RuntimeError("the pass failed")
    assert kinds(payment_id) == []
    record(payment_id, "t_next", services.clock)
    assert kinds(payment_id) == ["t_next"], "the failed batch left no buffer behind"


def test_the_same_event_for_many_payments_is_one_event_on_each_timeline(services, package, emulator):
    payments = [unconfirmed_grant(services, package, emulator, seconds=60).payment_id for _ in range(3)]
    with write_transaction(services.db), batched():
        record_many(payments, "t_fault", services.clock, router="main", since="09:00", revived=None)
        assert all(kinds(payment_id) == [] for payment_id in payments), "batched: written at the end"
    record_many(payments[:2], "t_back", services.clock, router="main")  # outside a batch: at once
    record_many([], "t_nobody", services.clock, router="main")
    assert [kinds(payment_id) for payment_id in payments] == [["t_fault", "t_back"], ["t_fault", "t_back"], ["t_fault"]]
    faults = PaymentEvent.select().where(PaymentEvent.kind == "t_fault")
    assert {event.payment_id for event in faults} == set(payments)
    assert {json.loads(event.detail)["since"] for event in faults} == {"09:00"}
    assert {event.at for event in faults} == {services.clock.now()}
    assert not PaymentEvent.select().where(PaymentEvent.kind == "t_nobody").exists()


def test_one_event_on_many_payments_goes_in_whole_and_keeps_each_timeline_in_order(
    services, package, emulator, monkeypatch
):
    """A reboot's run of one event on thousands of payments is one statement over their ids;
    runs between them stay where they were recorded on each payment's timeline."""
    payments = [unconfirmed_grant(services, package, emulator, seconds=60).payment_id for _ in range(12)]
    statements: list[str] = []
    real = services.db.execute_sql

    def traced(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        statements.append(sql)
        return real(sql, params, *args, **kwargs)

    monkeypatch.setattr(services.db, "execute_sql", traced)
    with write_transaction(services.db), batched():
        record_many(payments, "t_fault", services.clock, router="main", reason="reboot")
        record(payments[0], "t_between", services.clock)
        services.clock.advance(1)
        record_many(payments, "t_credit", services.clock, seconds=30)
    monkeypatch.undo()
    assert len([sql for sql in statements if sql.startswith('INSERT INTO "payment_event"')]) == 2, "a statement a run"
    assert kinds(payments[0]) == ["t_fault", "t_between", "t_credit"]
    assert all(kinds(payment_id) == ["t_fault", "t_credit"] for payment_id in payments[1:])
    credits = list(PaymentEvent.select().where(PaymentEvent.kind == "t_credit"))
    assert sorted(event.payment_id for event in credits) == sorted(payments)
    assert {event.at for event in credits} == {services.clock.now()}, "stored as UTC, read back as the same moment"
    assert {json.loads(event.detail)["seconds"] for event in credits} == {30}
