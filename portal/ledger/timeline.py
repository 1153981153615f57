"""Append events to a payment's timeline (what the owner reads when a customer calls)."""

from __future__ import annotations

import json
from typing import Any

from portal.clock import Clock
from portal.ledger.models import PaymentEvent


def record(payment_id: int, kind: str, clock: Clock, **detail: Any) -> PaymentEvent:
    """Append one event; ``detail`` is stored as JSON (never put secrets in it)."""
    return PaymentEvent.create(
        payment=payment_id,
        at=clock.now(),
        kind=kind,
        detail=json.dumps(detail, default=str, sort_keys=True) if detail else "",
    )
