"""Strict request checks for the simulated processrequest and query endpoints, as Daraja makes them.

A failed check raises :class:`ApiError`, which the HTTP layer turns into Daraja's envelope
``{"requestId", "errorCode", "errorMessage"}`` with the right status.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from portal.clock import NAIROBI, to_nairobi
from portal.mpesa.request_fields import PAYBILL, TILL, build_password
from portal.mpesa.simulator.settings import Merchant, SimulatorKnobs

BAD_REQUEST = "400.002.02"
MERCHANT_ERROR = "500.001.1001"

_SHORTCODE = re.compile(r"^[0-9]{5,7}\Z")
_MSISDN = re.compile(r"^254[17][0-9]{8}\Z")
_TIMESTAMP = re.compile(r"^[0-9]{14}\Z")
_POSITIVE_INT = re.compile(r"^[1-9][0-9]{0,11}\Z")


class ApiError(Exception):
    """A Daraja error answer: HTTP ``status`` with an ``error_code`` and ``message``.

    ``request_id`` overrides the generated requestId (the query's "being processed" answer
    carries the CheckoutRequestID there). ``body`` replaces the envelope (OAuth's empty 400).
    """

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        *,
        request_id: str | None = None,
        body: bytes | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.request_id = request_id
        self.body = body


def bad_request(field: str) -> ApiError:
    return ApiError(400, BAD_REQUEST, f"Bad Request - Invalid {field}")


@dataclass(frozen=True)
class PushRequest:
    """A processrequest body that passed every check."""

    shortcode: str
    timestamp: str
    transaction_type: str
    amount: int
    party_a: str
    party_b: str
    phone: str
    callback_url: str
    account_reference: str
    description: str


def json_body(raw: bytes) -> Any:
    """The request body as JSON, or None when it is not JSON (form-encoded, garbage)."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _credentials(body: Any) -> tuple[str, str, str]:
    """BusinessShortCode, Password and Timestamp, checked as both push and query need them."""
    if not isinstance(body, dict):
        # Form-encoded bodies surface as this on the real API (data= instead of json=).
        raise bad_request("BusinessShortCode")
    shortcode = _digits(body.get("BusinessShortCode"), _SHORTCODE, "BusinessShortCode")
    password = body.get("Password")
    if not isinstance(password, str) or not password:
        raise bad_request("Password")
    return shortcode, password, _timestamp(body.get("Timestamp"))


def validate_push(body: Any, *, merchant: Merchant, knobs: SimulatorKnobs, now: datetime) -> PushRequest:
    """Check a processrequest body field by field, in the order Daraja reports them."""
    shortcode, password, timestamp = _credentials(body)
    transaction_type = body.get("TransactionType")
    if transaction_type not in (PAYBILL, TILL):
        raise bad_request("TransactionType")
    amount = _amount(body.get("Amount"), knobs.max_amount)
    party_a = _digits(body.get("PartyA"), _MSISDN, "PartyA")
    party_b = _digits(body.get("PartyB"), _SHORTCODE, "PartyB")
    phone = _digits(body.get("PhoneNumber"), _MSISDN, "PhoneNumber")
    callback_url = _callback_url(body.get("CallBackURL"))
    reference = _remark(body.get("AccountReference"), 12, "AccountReference", knobs)
    description = _remark(body.get("TransactionDesc"), 13, "TransactionDesc", knobs)
    check_merchant(shortcode, password, timestamp, merchant=merchant, knobs=knobs, now=now)
    return PushRequest(
        shortcode=shortcode,
        timestamp=timestamp,
        transaction_type=transaction_type,
        amount=amount,
        party_a=party_a,
        party_b=party_b,
        phone=phone,
        callback_url=callback_url,
        account_reference=reference,
        description=description,
    )


def validate_query(body: Any, *, merchant: Merchant, knobs: SimulatorKnobs, now: datetime) -> str:
    """Check a query body; return the CheckoutRequestID it asks about."""
    shortcode, password, timestamp = _credentials(body)
    checkout_id = body.get("CheckoutRequestID")
    if not isinstance(checkout_id, str) or not 1 <= len(checkout_id) <= 64:
        raise bad_request("CheckoutRequestID")
    check_merchant(shortcode, password, timestamp, merchant=merchant, knobs=knobs, now=now)
    return checkout_id


def check_merchant(
    shortcode: str,
    password: str,
    timestamp: str,
    *,
    merchant: Merchant,
    knobs: SimulatorKnobs,
    now: datetime,
) -> None:
    """Unknown shortcode, a Password that does not match, or (optionally) a stale Timestamp."""
    if shortcode != merchant.shortcode:
        raise ApiError(500, MERCHANT_ERROR, "Merchant does not exist")
    if password != build_password(shortcode, merchant.passkey, timestamp):
        raise ApiError(500, MERCHANT_ERROR, "Wrong credentials")
    window = knobs.timestamp_window_seconds
    if window is not None:
        sent_at = datetime.strptime(timestamp, "%Y%m%d%H%M%S").replace(tzinfo=NAIROBI)
        if abs(sent_at - to_nairobi(now)) > timedelta(seconds=window):
            raise bad_request("Timestamp")


def _digits(value: Any, pattern: re.Pattern[str], field: str) -> str:
    """Daraja takes these as JSON numbers or numeric strings alike."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise bad_request(field)
    if not pattern.match(text):
        raise bad_request(field)
    return text


def _timestamp(value: Any) -> str:
    if not isinstance(value, str) or not _TIMESTAMP.match(value):
        raise bad_request("Timestamp")
    try:
        datetime.strptime(value, "%Y%m%d%H%M%S")
    except ValueError:
        raise bad_request("Timestamp") from None
    return value


def _amount(value: Any, maximum: int) -> int:
    """Whole shillings only: decimals (even 20.0) are refused, as reported in the wild."""
    if isinstance(value, int) and not isinstance(value, bool):
        amount = value
    elif isinstance(value, str) and _POSITIVE_INT.match(value):
        amount = int(value)
    else:
        raise bad_request("Amount")
    if not 1 <= amount <= maximum:
        raise bad_request("Amount")
    return amount


def _callback_url(value: Any) -> str:
    if not isinstance(value, str) or not value or any(char.isspace() for char in value):
        raise bad_request("CallBackURL")
    try:
        parts = urlsplit(value)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        usable = False
    if not usable:
        raise bad_request("CallBackURL")
    return value


def _remark(value: Any, limit: int, field: str, knobs: SimulatorKnobs) -> str:
    if value is None or value == "":
        raise bad_request("Remarks")
    if not isinstance(value, str):
        raise bad_request(field)
    if knobs.strict_lengths and len(value) > limit:
        raise bad_request(field)
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
