"""Recipients: Kenyan mobile numbers for SMS, mail addresses for email, and how to hide both
in logs.

``mask_phone`` gives the same ``2547****5678`` shape as ``portal.mpesa.phones.mask_phone``;
it is repeated here because ``portal.notify`` and ``portal.mpesa`` are sibling layers that
must not import each other.
"""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.headerregistry import Address

_SEPARATORS = re.compile(r"[\s\-.()/]")
_KENYAN = re.compile(r"^(?:\+?254|0)?([17][0-9]{8})\Z")
#: What Africa's Talking (and our simulator) accept in the ``to`` field.
GATEWAY_NUMBER = re.compile(r"^\+?254[17][0-9]{8}\Z")
_PHONE_LIKE = re.compile(r"\+?\d[\d\s\-]{7,}\d")


class InvalidRecipient(ValueError):
    """The text cannot be a recipient of this channel."""


def to_msisdn(raw: str) -> str:
    """``0712 345 678``, ``+254712345678``, ``254712345678`` -> ``254712345678``."""
    text = _SEPARATORS.sub("", raw.strip()) if isinstance(raw, str) else ""
    match = _KENYAN.match(text)
    if not match or len(raw) > 40:
        raise InvalidRecipient("not a Kenyan mobile number")
    return "254" + match.group(1)


def mask_phone(number: str) -> str:
    """``254712345678`` -> ``2547****5678``; anything short -> ``****``."""
    text = str(number)
    if len(text) < 10:
        return "****"
    return f"{text[:4]}****{text[-4:]}"


def scrub_phones(text: str) -> str:
    """Mask every run of digits that could be a phone number inside free text (error bodies
    from a gateway may echo the number back)."""
    return _PHONE_LIKE.sub(lambda m: mask_phone(_SEPARATORS.sub("", m.group(0))), text)


def check_email(raw: str) -> str:
    """Return ``raw`` stripped when it is one plain ``user@domain`` address."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text or len(text) > 254 or any(ch in text for ch in '\r\n<>,;"') or " " in text:
        raise InvalidRecipient("not a single mail address")
    try:
        address = Address(addr_spec=text)
    except (HeaderParseError, ValueError, IndexError):
        raise InvalidRecipient("not a single mail address") from None
    if not address.username or "." not in address.domain:
        raise InvalidRecipient("not a single mail address")
    return text


def mask_email(address: str) -> str:
    """``owner@venue.co.ke`` -> ``o***@venue.co.ke``."""
    local, at, domain = str(address).rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"
