"""What an STK ``ResultCode`` means for a payment, and what to tell the customer.

Never match on ``ResultDesc`` text: it varies (trailing periods, wording). The code decides.
"""

from __future__ import annotations

PAID = "paid"
CANCELLED = "cancelled"
TIMEOUT = "timeout"
FAILED = "failed"
FINAL_STATUSES = frozenset({PAID, CANCELLED, TIMEOUT, FAILED})

# result code -> (final status, message key); anything not listed is a plain failure.
_RESULTS: dict[str, tuple[str, str]] = {
    "0": (PAID, "mpesa_paid"),
    "1032": (CANCELLED, "mpesa_cancelled"),
    "1031": (CANCELLED, "mpesa_cancelled"),
    "1037": (TIMEOUT, "mpesa_timeout"),
    "1036": (TIMEOUT, "mpesa_prompt_not_delivered"),  # "SMSC ACK timeout": never reached the phone
    "1019": (TIMEOUT, "mpesa_expired"),
    "1": (FAILED, "mpesa_insufficient_funds"),
    "2001": (FAILED, "mpesa_wrong_pin"),
    "8006": (FAILED, "mpesa_pin_locked"),
    "17": (FAILED, "mpesa_rule_limited"),
    "1001": (FAILED, "mpesa_subscriber_busy"),
    "2": (FAILED, "mpesa_limit_rule"),
    "3": (FAILED, "mpesa_limit_rule"),
    "4": (FAILED, "mpesa_limit_rule"),
    "1025": (FAILED, "mpesa_push_failed"),
    "9999": (FAILED, "mpesa_push_failed"),
    "26": (FAILED, "mpesa_throttled"),
    "8": (FAILED, "mpesa_merchant_config"),
    "2028": (FAILED, "mpesa_merchant_config"),
    "SFC_IC0003": (FAILED, "mpesa_merchant_config"),
    "E3008": (FAILED, "mpesa_limit_rule"),  # "the user has a bad debt contract" (Fuliza owed)
}


def _canonical(result_code: object) -> str:
    code = str(result_code).strip()
    if code.isascii() and code.isdigit():
        code = str(int(code))
    return code


def is_final_result(result_code: object) -> bool:
    """True only for codes we know end a payment.

    STK Query also answers HTTP 200 with codes that are not an outcome at all (4999 "The
    transaction is still under processing" while the customer is at the PIN prompt), and
    Daraja adds codes without notice: anything not in our table means "ask again later".
    """
    return _canonical(result_code) in _RESULTS


def classify_result(result_code: object) -> tuple[str, str]:
    """Return ``(final_status, message_key)`` for a callback or query ``ResultCode``.

    ``final_status`` is one of "paid", "cancelled", "timeout", "failed". Integer codes are
    accepted too (``0`` and ``"0"`` mean the same), as are stray spaces. A code we do not
    know is a plain failure here; callers that may wait (STK Query) check
    :func:`is_final_result` first.
    """
    return _RESULTS.get(_canonical(result_code), (FAILED, "mpesa_failed"))
