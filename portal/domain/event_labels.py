"""One table: every kind of event a payment's timeline can hold, in the owner's words.

Every ``record(payment_id, "<kind>", ...)`` anywhere in ``portal/`` needs a line here
(tests/domain/test_event_labels.py reads the source and fails on a kind without one).
"""

from __future__ import annotations

EVENT_LABELS: dict[str, str] = {
    # the payment
    "created": "Payment started",
    "push_accepted": "M-Pesa prompt sent to the phone",
    "push_failed": "M-Pesa refused to send the prompt",
    "push_unanswered": "M-Pesa never answered the prompt request (marked failed)",
    "callback": "M-Pesa callback received",
    "callback_rejected": "Callback rejected (did not match this payment)",
    "adopted_callback": "Callback matched to this payment (its prompt answer was lost)",
    "adopt_refused": "Callback could not be matched: STK Query failed",
    "confirming_by_query": "Success callback held until M-Pesa confirms it (STK Query)",
    "query": "Asked M-Pesa for the result (STK Query)",
    "query_error": "STK Query failed",
    "query_stopped": "Stopped asking M-Pesa",
    "paid": "Paid: session created",
    "failed": "Failed (M-Pesa said so)",
    "cancelled": "Cancelled by the customer",
    "timeout": "Timed out waiting for the customer",
    "failure_ignored": "Late failure report ignored (the payment had already ended)",
    "duplicate_success_ignored": "Duplicate success ignored (credited once)",
    "success_rejected": "Success refused: receipt already credited",
    "receipt_backfilled": "Receipt number filled in",
    # the session it bought
    "extended": "Stacked after the device's earlier session",
    "extended_by_admin": "Extended by an admin",
    "complimentary": "Complimentary session given by an admin",
    "voucher_redeemed": "Voucher code accepted (paid by voucher)",
    "statement_matched": "Matched to a line of the M-Pesa statement",
    "moved": "Session moved to another device (\u201cI already paid\u201d)",
    "move_refused": "Move to another device refused (moved too often)",
    "revoked": "Session ended by an admin",
    "expired": "Session time ran out",
    # the router
    "router_authorized": "Router let the device in",
    "clock_started": "Router let the device in: paid time starts",
    "router_fault": "Router fault cut the device off (its time stopped)",
    "outage_credit": "Time credited back for a router fault",
    "router_error": "Router call failed (will retry)",
    "router_revoked": "Router cut the device off",
}


def event_label(kind: str) -> str:
    """The owner's words for ``kind``; an unknown kind still reads as words, never as a key."""
    return EVENT_LABELS.get(kind) or kind.replace("_", " ")
