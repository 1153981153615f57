"""Identifiers in the shapes Daraja really uses (as in its published samples; tests/mpesa/corpus/).

CheckoutRequestID embeds the EAT time and the customer's number (``ws_CO_`` + DDMMYYYYHHmmss +
millis + 9-digit MSISDN tail), receipts encode the date in their first three characters, and
MerchantRequestID/requestId use the current "UUID tail + digits" form.
"""

from __future__ import annotations

import random
import secrets
import string
import threading
from collections.abc import Container
from datetime import datetime, timedelta

from portal.clock import to_nairobi

_ALPHANUMERIC = string.ascii_uppercase + string.digits
_TOKEN_CHARS = string.ascii_letters + string.digits
_DAY_CHARS = "123456789ABCDEFGHIJKLMNOPQRSTUV"  # 1..9, then A=10 .. V=31


class IdFactory:
    """Makes fresh, unique identifiers. Thread-safe."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._receipts: set[str] = set()

    def request_id(self) -> str:
        """A gateway ``requestId`` such as ``f1e2-4b95-a71d-b30d3cdbb7a7942864``."""
        with self._lock:
            return self._uuid_tail_id()

    def merchant_request_id(self) -> str:
        with self._lock:
            return self._uuid_tail_id()

    def checkout_request_id(self, moment: datetime, msisdn: str, taken: Container[str]) -> str:
        """``ws_CO_`` + EAT time with millis + the 9-digit national number, unique in ``taken``."""
        for offset_ms in range(100_000):
            when = to_nairobi(moment + timedelta(milliseconds=offset_ms))
            candidate = "ws_CO_" + when.strftime("%d%m%Y%H%M%S") + f"{when.microsecond // 1000:03d}" + msisdn[-9:]
            if candidate not in taken:
                return candidate
        raise RuntimeError("ran out of CheckoutRequestIDs for one instant")

    def receipt(self, moment: datetime) -> str:
        """A 10-character M-Pesa receipt whose first three characters encode the EAT date."""
        when = to_nairobi(moment)
        year_index = min(max(when.year - 2017, 0), 14)
        year, month = chr(ord("L") + year_index), chr(ord("A") + when.month - 1)
        prefix = year + month + _DAY_CHARS[when.day - 1]
        with self._lock:
            while True:
                receipt = prefix + "".join(self._random.choice(_ALPHANUMERIC) for _ in range(7))
                if receipt not in self._receipts:
                    self._receipts.add(receipt)
                    return receipt

    @staticmethod
    def access_token() -> str:
        """An opaque 28-character token, unguessable (it guards the simulated API)."""
        return "".join(secrets.choice(_TOKEN_CHARS) for _ in range(28))

    def _uuid_tail_id(self) -> str:
        hex_part = f"{self._random.getrandbits(96):024x}"
        digits = self._random.randint(100_000, 9_999_999)
        return f"{hex_part[:4]}-{hex_part[4:8]}-{hex_part[8:12]}-{hex_part[12:]}{digits}"
