"""What a Daraja request carries: the merchant's credentials, the STK Password and Timestamp,
the AccountReference and TransactionDesc cleaned to Daraja's rules, and the CallBackURL."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from portal.clock import to_nairobi

PAYBILL = "CustomerPayBillOnline"
TILL = "CustomerBuyGoodsOnline"
TRANSACTION_TYPES = frozenset({PAYBILL, TILL})

#: Daraja insists on a CallBackURL. Use this when the portal has no public callback address
#: (a venue box behind NAT): the push still works and the worker confirms by STK Query.
NO_CALLBACK_URL = "https://no-callback.invalid/stk"

_SHORTCODE = re.compile(r"^[0-9]{5,8}\Z")
_NOT_REFERENCE_CHARS = re.compile(r"[^A-Za-z0-9 ]")


@dataclass(frozen=True)
class DarajaCredentials:
    """Everything needed to call Daraja for one merchant. Secrets are kept out of ``repr``."""

    base_url: str
    consumer_key: str = field(repr=False)
    consumer_secret: str = field(repr=False)
    shortcode: str
    passkey: str = field(repr=False)
    transaction_type: str = PAYBILL
    party_b: str = ""

    def __post_init__(self) -> None:
        for name in ("base_url", "consumer_key", "consumer_secret", "shortcode", "passkey"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            raise ValueError("base_url must start with http:// or https://")
        if not _SHORTCODE.match(self.shortcode):
            raise ValueError("shortcode must be 5 to 8 digits")
        if self.transaction_type not in TRANSACTION_TYPES:
            raise ValueError(f"transaction_type must be one of {sorted(TRANSACTION_TYPES)}")
        if self.transaction_type == TILL and not _SHORTCODE.match(self.party_b):
            raise ValueError("party_b (the till number) is required for CustomerBuyGoodsOnline")

    @property
    def stk_party_b(self) -> str:
        """PartyB for a push: the shortcode for a PayBill, the till number for a Till."""
        return self.party_b if self.transaction_type == TILL else self.shortcode


def build_password(shortcode: str, passkey: str, timestamp: str) -> str:
    """``base64(shortcode + passkey + timestamp)``, the STK Password."""
    return base64.b64encode(f"{shortcode}{passkey}{timestamp}".encode("ascii")).decode("ascii")


def daraja_timestamp(moment: datetime) -> str:
    """14-digit ``YYYYMMDDHHmmss`` in East Africa Time, as Daraja expects."""
    if moment.tzinfo is None:
        raise ValueError("daraja_timestamp needs an aware datetime")
    return to_nairobi(moment).strftime("%Y%m%d%H%M%S")


def clean_reference(text: str, limit: int, field_name: str = "text") -> str:
    """Fit our own label into an AccountReference/TransactionDesc: ASCII letters, digits and
    spaces, at most ``limit`` characters. Punctuation is dropped; non-ASCII is refused."""
    if not isinstance(text, str):
        raise ValueError(f"{field_name} must be text")
    if not text.isascii():
        raise ValueError(f"{field_name} must be plain ASCII")
    cleaned = " ".join(_NOT_REFERENCE_CHARS.sub("", text).split())[:limit].rstrip()
    if not cleaned:
        raise ValueError(f"{field_name} is empty")
    return cleaned


def checked_callback_url(url: str) -> str:
    if url == "":
        return NO_CALLBACK_URL
    if not isinstance(url, str) or any(char.isspace() for char in url):
        raise ValueError("callback_url must be an absolute URL without spaces")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("callback_url must be an absolute http(s) URL")
    return url
