"""The optional second factor for owners: an authenticator app (TOTP, RFC 6238) and
one-time recovery codes.

TOTP comes from ``pyotp`` (a small, well-kept implementation of RFC 6238/4226); the time
is the injected clock's. A code is accepted for the step before, the current step and the
step after (phone clocks drift), and never twice: the newest accepted step is stored and
moved forward with a conditional UPDATE, so two requests racing with the same code cannot
both win.

Recovery codes are 80 random bits each, so a plain SHA-256 is enough to store them (a slow
password hash protects *guessable* secrets; these are not, and checking ten scrypt hashes
per attempt would hand an attacker our CPU). Each works once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

import pyotp

from portal.clock import Clock
from portal.domain.accounts import admin_by_id, audit, password_matches
from portal.domain.errors import BadInput
from portal.ledger.database import database
from portal.ledger.models import AdminRecoveryCode, AdminUser

ISSUER = "pay2connect"
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols: 5 bits each, no 0/O or 1/I


def new_secret() -> str:
    """A fresh 160-bit base32 secret for the setup page (not stored until confirmed)."""
    return pyotp.random_base32()


def valid_secret(secret: object) -> bool:
    return isinstance(secret, str) and re.fullmatch(r"[A-Z2-7]{32}", secret) is not None


def provisioning_uri(secret: str, username: str, venue: str) -> str:
    """The ``otpauth://`` URI the authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=f"{ISSUER} {venue}".strip())


def normalise(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").upper()[:40]


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    if not re.fullmatch(r"[0-9]{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    base = totp.timecode(now)
    for offset in (0, -1, 1):
        if hmac.compare_digest(totp.at(now, counter_offset=offset), code):
            return base + offset
    return None


def _recovery_hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def _new_recovery_codes(user_id: int) -> list[str]:
    codes = ["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16)) for _ in range(RECOVERY_CODES)]
    AdminRecoveryCode.delete().where(AdminRecoveryCode.user == user_id).execute()
    AdminRecoveryCode.insert_many([{"user": user_id, "code_hash": _recovery_hash(c)} for c in codes]).execute()
    return ["-".join(c[i : i + 4] for i in range(0, 16, 4)) for c in codes]


def enable(user_id: int, secret: str, code: str, clock: Clock) -> list[str]:
    """Turn the second factor on once the app shows the right code; returns recovery codes (shown once)."""
    user = admin_by_id(user_id)
    if user.role != "owner":
        raise BadInput("totp_owners_only")
    if user.totp_secret:
        raise BadInput("totp_already_on")
    if not valid_secret(secret):
        raise BadInput("totp_setup_expired")
    step = _matching_step(secret, normalise(code), clock.now())
    if step is None:
        raise BadInput("code_wrong")
    with database.atomic():
        AdminUser.update(totp_secret=secret, totp_last_step=step).where(AdminUser.id == user_id).execute()
        codes = _new_recovery_codes(user_id)
        audit(user.username, "admin.totp_enable", clock)
    return codes


def disable(user_id: int, password: str, clock: Clock) -> None:
    """Turn the second factor off (the admin's own password is required)."""
    user = admin_by_id(user_id)
    if not password_matches(user.password_hash, password or ""):
        raise BadInput("current_password_wrong")
    with database.atomic():
        AdminUser.update(totp_secret=None, totp_last_step=0).where(AdminUser.id == user_id).execute()
        AdminRecoveryCode.delete().where(AdminRecoveryCode.user == user_id).execute()
        audit(user.username, "admin.totp_disable", clock)


def replace_recovery_codes(user_id: int, password: str, clock: Clock) -> list[str]:
    user = admin_by_id(user_id)
    if not user.totp_secret:
        raise BadInput("totp_not_on")
    if not password_matches(user.password_hash, password or ""):
        raise BadInput("current_password_wrong")
    with database.atomic():
        codes = _new_recovery_codes(user_id)
        audit(user.username, "admin.recovery_codes_new", clock)
    return codes


def recovery_codes_left(user_id: int) -> int:
    query = AdminRecoveryCode.select().where(AdminRecoveryCode.user == user_id, AdminRecoveryCode.used_at.is_null())
    return int(query.count())


def verify(user: AdminUser, code: str, clock: Clock) -> bool:
    """Is ``code`` the app's current code (not used before) or an unused recovery code?

    Using it uses it up: the step moves forward, the recovery code is marked used.
    """
    if not user.totp_secret:
        return False
    now = clock.now()
    code = normalise(code)
    step = _matching_step(user.totp_secret, code, now)
    if step is not None:
        moved = (
            AdminUser.update(totp_last_step=step)
            .where(AdminUser.id == user.id, AdminUser.totp_last_step < step)
            .execute()
        )
        return bool(moved)
    if not re.fullmatch(f"[{_RECOVERY_ALPHABET}]{{16}}", code):
        return False
    used = (
        AdminRecoveryCode.update(used_at=now)
        .where(
            AdminRecoveryCode.user == user.id,
            AdminRecoveryCode.code_hash == _recovery_hash(code),
            AdminRecoveryCode.used_at.is_null(),
        )
        .execute()
    )
    if used:
        audit(user.username, "admin.recovery_code_used", clock, left=recovery_codes_left(user.id))
    return bool(used)
