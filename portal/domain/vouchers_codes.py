"""Voucher codes: how they are made, read back from a customer, and hashed for storage.

**Alphabet.** 32 symbols, ``23456789ABCDEFGHJKLMNPQRSTUVWXYZ``: digits and capitals without
``0 O 1 I``, which people misread on paper. Each symbol carries 5 bits; codes come from
:mod:`secrets` (the OS CSPRNG) and are printed in groups of four: ``K7QM-3XHD-9RWT``.
Customers may type them in any case, with or without spaces or dashes.

**Why 12 symbols is enough** (``[vouchers] code_length``, 10-24, default 12)::

    codes possible      32**12 = 2**60 ~ 1.15e18
    live codes          say 100,000 unused vouchers in the ledger at once (a large venue)
    checks allowed      max_checks_per_hour = 300, all devices together
                        -> 300 * 24 * 365 = 2.6e6 checks a year
    chance that a year of guessing at the cap finds any code
                        2.6e6 * 1e5 / 1.15e18 ~ 2.3e-7  (one in four million)
    even with no rate limit at all, 1,000 checks a second for a year (3.2e10 checks)
                        3.2e10 * 1e5 / 1.15e18 ~ 2.7e-3

Ten symbols (50 bits) at the default caps still gives 2.6e6 * 1e5 / 1.1e15 ~ 2.3e-4 a year,
which is why the configuration refuses anything shorter.

**Storage.** Only ``HMAC-SHA256(voucher_key, code)`` is stored, where ``voucher_key`` is
derived from ``[portal] secret_key``. A stolen database alone gives no code back and cannot
be brute-forced offline without the secret. Codes appear in clear exactly once: on the sheet
(or CLI output) made at creation.

**Key rotation.** Each batch records the ``key_id`` (a fingerprint of the key) that hashed
its codes. To change ``secret_key``, put the old value in ``[vouchers]
previous_secret_keys``: a code is looked up under the current key and every previous one
(one indexed query, still one check against the rate limit). ``pay2connect vouchers list``
shows each batch's key; once no live voucher uses an old key, drop it from the list.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from portal.config import Settings
from portal.domain.errors import BadInput

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
GROUP = 4
_KEY_LABEL = b"pay2connect voucher codes v1"
_TYPO_FIX = str.maketrans({"-": "", " ": "", "\t": "", ".": "", "_": ""})


def new_code(length: int) -> str:
    """A fresh code of ``length`` symbols, not yet grouped."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def grouped(code: str) -> str:
    """``K7QM3XHD9RWT`` -> ``K7QM-3XHD-9RWT`` (how it is printed)."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def normalize(raw: object, length: int) -> str:
    """What the customer typed, as the code it must be; BadInput ``voucher_invalid`` otherwise.

    Only the format is checked here (public knowledge), never whether the code exists.
    """
    text = str(raw or "")[:200].upper().translate(_TYPO_FIX)
    if len(text) != length or any(ch not in ALPHABET for ch in text):
        raise BadInput("voucher_invalid", length=length)
    return text


@dataclass(frozen=True)
class VoucherKey:
    """One HMAC key, and the short fingerprint batches record to say which key they used."""

    secret: bytes

    @property
    def key_id(self) -> str:
        return hmac.new(self.secret, b"key-id", hashlib.sha256).hexdigest()[:12]

    def hash(self, code: str) -> str:
        return hmac.new(self.secret, code.encode("ascii"), hashlib.sha256).hexdigest()


def derive_key(secret_key: str) -> VoucherKey:
    """The voucher key for a ``portal.secret_key`` value (a separate key, never the secret itself)."""
    return VoucherKey(hmac.new(secret_key.encode("utf-8"), _KEY_LABEL, hashlib.sha256).digest())


def current_key(settings: Settings) -> VoucherKey:
    """The key new codes are hashed with. BadInput ``voucher_no_secret`` without a secret_key
    (a random per-process key would make every printed code worthless after a restart)."""
    if len(settings.portal.secret_key) < 16:
        raise BadInput("voucher_no_secret")
    return derive_key(settings.portal.secret_key)


def lookup_keys(settings: Settings) -> list[VoucherKey]:
    """Every key a presented code is hashed with: the current one first, then older ones."""
    secrets_in_use = [settings.portal.secret_key, *settings.vouchers.previous_secret_keys]
    return [derive_key(s) for s in secrets_in_use if len(s) >= 16]
