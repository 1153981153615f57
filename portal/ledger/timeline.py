"""Append events to a payment's timeline (what the owner reads when a customer calls)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import groupby
from typing import Any

from portal.clock import Clock
from portal.ledger.bulk import insert_each, insert_for_each
from portal.ledger.models import PaymentEvent

_batch = threading.local()


def record(payment_id: int, kind: str, clock: Clock, **detail: Any) -> None:
    """Append one event; ``detail`` is stored as JSON (never put secrets in it)."""
    record_many([payment_id], kind, clock, **detail)


def record_many(payment_ids: Iterable[int], kind: str, clock: Clock, **detail: Any) -> None:
    """Append the same event to each payment's timeline: the time read and the detail made
    JSON once (a reboot writes three events for each of thousands of payments, most of them
    alike)."""
    at = clock.now()
    text = json.dumps(detail, default=str, sort_keys=True) if detail else ""
    new = [{"payment": payment_id, "at": at, "kind": kind, "detail": text} for payment_id in payment_ids]
    rows: list[dict[str, Any]] | None = getattr(_batch, "rows", None)
    if rows is None:
        _write(new)
    else:
        rows.extend(new)


_COLUMNS = (PaymentEvent.payment, PaymentEvent.at, PaymentEvent.kind, PaymentEvent.detail)
#: From this many payments on, one event goes in with one statement over their ids.
_ALIKE_FOR_ONE_STATEMENT = 8


def _write(rows: list[dict[str, Any]]) -> None:
    """Write in order: a run of the same event on many payments (one ``record_many``) as one
    statement over their ids, the rows between runs together with one composed INSERT. A
    payment's events keep the order they were recorded in."""
    between: list[tuple[int, Any, str, str]] = []
    for (at, kind, detail), run in groupby(rows, key=lambda row: (row["at"], row["kind"], row["detail"])):
        alike = [row["payment"] for row in run]
        if len(alike) < _ALIKE_FOR_ONE_STATEMENT:
            between.extend((payment_id, at, kind, detail) for payment_id in alike)
            continue
        insert_each(PaymentEvent, _COLUMNS, between)
        between = []
        insert_for_each(PaymentEvent, PaymentEvent.payment, alike, _COLUMNS[1:], (at, kind, detail))
    insert_each(PaymentEvent, _COLUMNS, between)


@contextmanager
def batched() -> Iterator[None]:
    """The events recorded inside (this thread) are written together when it ends, with one
    composed INSERT (:func:`~portal.ledger.bulk.insert_each`): a pass over thousands of
    grants (a router's reboot) writes its events in milliseconds. Use it inside the
    transaction that makes the changes."""
    if getattr(_batch, "rows", None) is not None:  # already batching: the outer one writes
        yield
        return
    rows: list[dict[str, Any]] = []
    _batch.rows = rows
    try:
        yield
    finally:
        _batch.rows = None
    _write(rows)
