"""Kenyan mobile numbers: normalise what customers type, and mask numbers for logs.

Customers type ``0712 345 678``, ``+254712345678``, ``712-345-678``, ``2540712345678`` and even
full-width or Arabic-Indic digits. Everything becomes the 12-digit MSISDN ``2547XXXXXXXX`` or
``2541XXXXXXXX`` that Daraja wants, *before* any rate limit or lookup keys on it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MSISDN_PATTERN = re.compile(r"^254[17][0-9]{8}\Z")

#: Safaricom national prefixes (the digits after the leading 0) as Safaricom lists its lines.
#: Prefixes grow and numbers get ported: NotSafaricom carries the number for a caller to decide.
#: 0700-0729, 0740-0743, 0745, 0746, 0748, 0757-0759, 0768-0769, 0790-0799, 0110-0115.
SAFARICOM_PREFIXES: tuple[str, ...] = tuple(
    [str(n) for n in range(700, 730)]
    + ["740", "741", "742", "743", "745", "746", "748"]
    + ["757", "758", "759", "768", "769"]
    + [str(n) for n in range(790, 800)]
    + [str(n) for n in range(110, 116)]
)

# Characters people put between digits. Anything else (letters, '*', '#') is not a number.
_SEPARATORS = frozenset(" -.()/\u00a0\u2010\u2011\u2012\u2013\u2014\u2212")
_MAX_INPUT_LENGTH = 40


class InvalidPhone(ValueError):
    """The text cannot be a Kenyan mobile number."""

    key = "phone_invalid"


class NotSafaricom(InvalidPhone):
    """A well-formed Kenyan mobile number outside the Safaricom prefix table.

    ``msisdn`` holds the normalised number, so a caller may warn and carry on rather than
    block: prefixes grow and numbers get ported.
    """

    key = "phone_not_safaricom"

    def __init__(self, message: str, *, msisdn: str) -> None:
        super().__init__(message)
        self.msisdn = msisdn


def normalize_phone(raw: str, *, safaricom_prefixes: Iterable[str] | None = None) -> str:
    """Return ``254`` + 9 digits for any common spelling of a Kenyan mobile number.

    ``safaricom_prefixes`` overrides :data:`SAFARICOM_PREFIXES`; entries may be written
    ``"712"``, ``"0712"`` or ``"254712"``. An empty iterable turns the Safaricom check off.
    Raises :class:`InvalidPhone`, or :class:`NotSafaricom` for another network's number.
    """
    if not isinstance(raw, str):
        raise InvalidPhone("phone number must be text")
    text = raw.strip()
    if not text or len(text) > _MAX_INPUT_LENGTH:
        raise InvalidPhone("phone number is empty or too long")

    international = text.startswith("+")
    digits = _digits_only(text[1:] if international else text)

    if digits.startswith("00"):
        international = True
        digits = digits[2:]
    if international and not digits.startswith("254"):
        raise InvalidPhone("not a Kenyan (+254) number")
    if digits.startswith("254") and len(digits) >= 12:
        digits = digits[3:]
    if len(digits) == 10 and digits.startswith("0"):
        digits = digits[1:]
    if len(digits) != 9 or digits[0] not in "17":
        raise InvalidPhone("not a Kenyan mobile number")

    msisdn = "254" + digits
    prefixes = SAFARICOM_PREFIXES if safaricom_prefixes is None else _national(safaricom_prefixes)
    if prefixes and not digits.startswith(tuple(prefixes)):
        raise NotSafaricom("not a Safaricom number", msisdn=msisdn)
    return msisdn


def mask_phone(msisdn: str) -> str:
    """Hide the middle of a phone number for logs: ``254712345678`` -> ``2547****5678``."""
    text = str(msisdn)
    if len(text) < 10:
        return "****"
    return f"{text[:4]}****{text[-4:]}"


def _digits_only(text: str) -> str:
    """Turn any decimal digits (ASCII, full-width, Arabic-Indic...) into ASCII, drop separators."""
    out: list[str] = []
    for char in text:
        if char.isdecimal():
            out.append(str(unicodedata.digit(char)))
        elif char in _SEPARATORS or char.isspace():
            continue
        else:
            raise InvalidPhone("phone number contains something other than digits")
    return "".join(out)


def _national(prefixes: Iterable[str]) -> tuple[str, ...]:
    """Configured prefixes in national form without the leading 0 ("0712" -> "712")."""
    result: list[str] = []
    for prefix in prefixes:
        digits = "".join(ch for ch in str(prefix) if ch in "0123456789")
        if digits.startswith("254"):
            digits = digits[3:]
        elif digits.startswith("0"):
            digits = digits[1:]
        if digits:
            result.append(digits)
    return tuple(result)


def mask_checkout_id(checkout_request_id: str) -> str:
    """Hide the customer's number inside a CheckoutRequestID (its last 9 digits) for logs."""
    text = str(checkout_request_id)
    return text[:-9] + "*" * 5 + text[-4:] if len(text) > 12 and text[-9:].isdigit() else text
