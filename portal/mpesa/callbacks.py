"""Strict parsing of the STK Push result callback Daraja POSTs to our CallBackURL.

Callbacks are unsigned and anyone on the Wi-Fi can forge one, so this parser only answers
"is this a well-formed callback, and what does it claim?". Whether the claim matches a pending
payment (and is confirmed by STK Query) is the payment service's job. Any input at all either
parses or raises :class:`MalformedCallback`; nothing else escapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from portal import safe_json
from portal.mpesa.phones import InvalidPhone, normalize_phone

DEFAULT_MAX_BYTES = 16384
MAX_DEPTH = 16
MAX_NODES = 4096
MAX_ITEMS = 32
MAX_NUMBER_CHARS = 32
MAX_AMOUNT = Decimal(1_000_000)
MAX_RESULT_DESC = 512
MAX_PHONE_CHARS = 128  # room for a hex or base64 hash, never an essay

ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,64}\Z")
RESULT_CODE_PATTERN = re.compile(r"^[A-Za-z0-9_]{1,32}\Z")
RECEIPT_PATTERN = re.compile(r"^[A-Z0-9]{10}\Z")
_AMOUNT_TEXT = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,2})?\Z")
_CENT = Decimal("0.01")
_MISSING = object()


class MalformedCallback(ValueError):
    """The body is not a well-formed STK callback. ``reason`` is short and safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class StkCallback:
    """What one STK callback claims. ``result_code`` is always text ("0", "1032", "SFC_IC0003")."""

    merchant_request_id: str
    checkout_request_id: str
    result_code: str
    result_desc: str
    amount: Decimal | None = None
    receipt: str | None = None
    transaction_date: str | None = None
    phone: str | None = None  # normalised MSISDN when the callback's number is readable
    phone_uncomparable: bool = False  # a number was sent but is masked, hashed or odd

    @property
    def succeeded(self) -> bool:
        """True when the customer paid (ResultCode 0)."""
        return self.result_code == "0"


def parse_stk_callback(raw: bytes | str | Mapping[str, Any], *, max_bytes: int = DEFAULT_MAX_BYTES) -> StkCallback:
    """Parse a callback body (raw bytes, text, or an already-decoded JSON object)."""
    try:
        document = _load(raw, max_bytes)
        return _callback_from(document)
    except MalformedCallback:
        raise
    except Exception as err:  # last line of defence: hostile input must never crash a caller
        raise MalformedCallback("unreadable callback") from err


# -- decoding ---------------------------------------------------------------------------------


def _load(raw: object, max_bytes: int) -> Any:
    """Raw JSON or an already-decoded object, under the same limits (money as ``Decimal``)."""
    try:
        if isinstance(raw, (bytes, bytearray, memoryview, str)):
            return safe_json.loads(
                raw,
                max_depth=MAX_DEPTH,
                max_bytes=max_bytes,
                max_number_chars=MAX_NUMBER_CHARS,
                exact_numbers=True,
                unique_keys=True,
            )
        if isinstance(raw, Mapping):
            return safe_json.sanitize(raw, max_depth=MAX_DEPTH, max_nodes=MAX_NODES, max_number_chars=MAX_NUMBER_CHARS)
    except safe_json.JsonRefused as err:
        raise MalformedCallback(err.reason) from None
    raise MalformedCallback("body is not a JSON object")


# -- the callback itself ----------------------------------------------------------------------


def _callback_from(document: Any) -> StkCallback:
    if not isinstance(document, dict):
        raise MalformedCallback("body is not a JSON object")
    body = document.get("Body")
    if not isinstance(body, dict):
        raise MalformedCallback("missing Body")
    stk = body.get("stkCallback")
    if not isinstance(stk, dict):
        raise MalformedCallback("missing Body.stkCallback")

    merchant_request_id = _identifier(stk.get("MerchantRequestID"), "MerchantRequestID")
    checkout_request_id = _identifier(stk.get("CheckoutRequestID"), "CheckoutRequestID")
    result_code = _result_code(stk.get("ResultCode", _MISSING))
    result_desc = stk.get("ResultDesc", "")
    if not isinstance(result_desc, str) or len(result_desc) > MAX_RESULT_DESC:
        raise MalformedCallback("bad ResultDesc")

    items = _items_by_name(stk.get("CallbackMetadata", _MISSING))
    amount = _amount(items.get("Amount", _MISSING))
    receipt = _receipt(items.get("MpesaReceiptNumber", _MISSING))
    transaction_date = _transaction_date(items.get("TransactionDate", _MISSING))
    phone, phone_uncomparable = _phone(items.get("PhoneNumber", _MISSING))

    if result_code == "0" and (amount is None or receipt is None):
        raise MalformedCallback("success without Amount or MpesaReceiptNumber")
    return StkCallback(
        merchant_request_id=merchant_request_id,
        checkout_request_id=checkout_request_id,
        result_code=result_code,
        result_desc=result_desc,
        amount=amount,
        receipt=receipt,
        transaction_date=transaction_date,
        phone=phone,
        phone_uncomparable=phone_uncomparable,
    )


def _identifier(value: object, field: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise MalformedCallback(f"bad {field}")
    return value


def _result_code(value: object) -> str:
    if value is _MISSING or isinstance(value, bool):
        raise MalformedCallback("bad ResultCode")
    if isinstance(value, int):
        if not -(10**9) < value < 10**9:
            raise MalformedCallback("bad ResultCode")
        return str(value)
    if isinstance(value, str) and RESULT_CODE_PATTERN.match(value):
        return str(int(value)) if value.isdigit() else value
    raise MalformedCallback("bad ResultCode")


def _items_by_name(metadata: object) -> dict[str, object]:
    """Metadata items keyed by Name; items without a Value map to the _MISSING marker."""
    if metadata is _MISSING or metadata is None:
        return {}
    if not isinstance(metadata, dict) or not isinstance(metadata.get("Item"), list):
        raise MalformedCallback("bad CallbackMetadata")
    items = metadata["Item"]
    if len(items) > MAX_ITEMS:
        raise MalformedCallback("too many CallbackMetadata items")
    found: dict[str, object] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
            raise MalformedCallback("bad CallbackMetadata item")
        name = item["Name"]
        if name in found:
            raise MalformedCallback(f"duplicate item {name[:40]}")
        found[name] = item.get("Value", _MISSING)
    return found


def _amount(value: object) -> Decimal | None:
    if value is _MISSING or value is None:
        return None
    if isinstance(value, bool):
        raise MalformedCallback("bad Amount")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str) and _AMOUNT_TEXT.match(value.strip()):
        amount = Decimal(value.strip())
    else:
        raise MalformedCallback("bad Amount")
    try:
        if not amount.is_finite() or not Decimal(0) < amount <= MAX_AMOUNT:
            raise MalformedCallback("Amount out of range")
        if amount != amount.quantize(_CENT):
            raise MalformedCallback("Amount has fractions of a cent")
    except InvalidOperation:
        raise MalformedCallback("bad Amount") from None
    return amount


def _receipt(value: object) -> str | None:
    if value is _MISSING or value is None:
        return None
    if not isinstance(value, str) or not RECEIPT_PATTERN.match(value):
        raise MalformedCallback("bad MpesaReceiptNumber")
    return value


def _transaction_date(value: object) -> str | None:
    text = _digit_text(value, 14, "TransactionDate")
    if text is None:
        return None
    try:
        datetime.strptime(text, "%Y%m%d%H%M%S")
    except ValueError:
        raise MalformedCallback("bad TransactionDate") from None
    return text


def _phone(value: object) -> tuple[str | None, bool]:
    """``(msisdn, uncomparable)`` from the PhoneNumber item.

    Safaricom masks numbers in other callbacks and in its SMS (``2547*****149``,
    ``2547XXXXX149``), some answers carry a hash, and integrators have seen 11 digits and
    the local ``07...`` form. None of that makes a genuine success a forgery: a readable
    number is normalised for comparison; anything else is reported as uncomparable so the
    payment is confirmed by STK Query instead of by the phone.
    """
    if value is _MISSING or value is None:
        return None, False
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise MalformedCallback("bad PhoneNumber")
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value() or value.adjusted() >= MAX_NUMBER_CHARS:
            raise MalformedCallback("bad PhoneNumber")
        value = int(value)
    text = str(value).strip()
    if len(text) > MAX_PHONE_CHARS:
        raise MalformedCallback("bad PhoneNumber")
    try:
        return normalize_phone(text, safaricom_prefixes=()), False
    except InvalidPhone:
        return None, True


def _digit_text(value: object, length: int, field: str) -> str | None:
    """A number that may arrive as a JSON number or a string of exactly ``length`` digits."""
    if value is _MISSING or value is None:
        return None
    if isinstance(value, bool):
        raise MalformedCallback(f"bad {field}")
    if isinstance(value, int):
        text = str(value)
    elif (
        isinstance(value, Decimal)
        and value.is_finite()
        and value.adjusted() < MAX_NUMBER_CHARS
        and value == value.to_integral_value()
    ):
        text = str(int(value))
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise MalformedCallback(f"bad {field}")
    if len(text) != length or not (text.isascii() and text.isdigit()):
        raise MalformedCallback(f"bad {field}")
    return text
