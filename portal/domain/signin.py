"""Signing in to /admin: guessing is slow, and an attacker cannot lock the owner out.

**What is counted.** Only failures: a wrong password or a wrong code, one row each in
``sign_in_failure`` (in the ledger, so every web process sees it and losing Redis does not
hand an attacker a fresh budget) with the address, the username tried and, when the browser
carried one, its trusted-browser id. A correct sign-in is never counted.

**How long to wait.** A key (an address, a username, a trusted browser) may fail
``FREE_FAILURES`` times within ``WINDOW``; after that every further attempt must wait
``FIRST_DELAY`` after the key's last failure, doubling with each failure, at most
``MAX_DELAY``. An early attempt is answered at once with 429 and ``Retry-After``: nothing
sleeps, no password is hashed, nothing is counted (a flood costs the server almost
nothing; one audit line per address per minute records it).

**Three gates, checked in this order.**

1. *A trusted browser* (one that signed in as this username before: it carries a token
   signed with the secret key and the admin's current password hash, so changing the
   password revokes it) is held back only by its own failures. The owner behind the same
   NAT, proxy or mobile network address as the attacker still gets in.
2. Otherwise *the address*, by its failures whatever username they tried. This is the
   attacker's own budget: spending it holds back nobody else.
3. Otherwise *the username*, by the failures against it from anywhere, which slows an
   attacker who has many addresses. While it holds, two kinds of attempt are still checked:
   from an address with no failure at all in the window (the owner at a new place: every
   address the attacker used has failed), and an attempt that carries an authenticator
   code (password and code must both be right, and every failure gets the same answer, so
   this path tells nobody whether a password was right; each failure still counts against
   the attacker's address at gate 2).

So the owner has three ways in that an attacker elsewhere cannot close: a browser they
signed in with before, any new address, and their authenticator code. What an attacker
gets: from one address about a hundred guesses a day; with many addresses, one more guess
per fresh address while the username is held. An IPv6 address counts as its /64 (one
subscriber's network), or a single machine could bring billions of "new" addresses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee

from portal.domain import totp
from portal.domain.accounts import audit, find_admin, password_matches, spend_hash_time
from portal.domain.context import Services
from portal.domain.errors import BadInput, TooManyRequests
from portal.ledger.models import AdminUser, SignInFailure

FREE_FAILURES = 5
FIRST_DELAY = 1  # seconds, after the FREE_FAILURES-th failure
MAX_DELAY = 15 * 60
WINDOW = timedelta(hours=24)
TRUSTED_BROWSER_DAYS = 90
HELD_AUDIT_SECONDS = 60


@dataclass(frozen=True)
class Attempt:
    """One sign-in attempt as the web layer saw it."""

    username: str
    address: str
    password: str = ""
    code: str = ""
    browser_token: str = ""  # the trusted-browser cookie, if the browser sent one


@dataclass(frozen=True)
class Outcome:
    """A correct password: either signed in (``needs_code`` False) or on to the code step."""

    user: AdminUser
    needs_code: bool
    browser_token: str = ""  # a fresh trusted-browser token to store (after a full sign-in)


def address_key(address: str) -> str:
    """The address as sign-in limits count it: IPv4 as is, IPv6 by its /64."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return (address or "unknown")[:45]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


# -- the delay schedule --------------------------------------------------------------------


def delay_after(failures: int) -> int:
    """Seconds to wait after the last of ``failures`` failures (0: no wait)."""
    if failures < FREE_FAILURES:
        return 0
    return min(FIRST_DELAY * 2 ** min(failures - FREE_FAILURES, 20), MAX_DELAY)


def _failures(where: peewee.Expression, now: datetime) -> tuple[int, datetime | None]:
    row = (
        SignInFailure.select(peewee.fn.COUNT(SignInFailure.id), peewee.fn.MAX(SignInFailure.at))
        .where(where, SignInFailure.at > now - WINDOW)
        .tuples()
        .first()
    )
    count, last = row if row else (0, None)
    if isinstance(last, str):  # SQLite hands aggregates back as text
        last = SignInFailure.at.python_value(last)
    return int(count or 0), last


def wait_seconds(where: peewee.Expression, now: datetime) -> int:
    count, last = _failures(where, now)
    wait = delay_after(count)
    if not wait or last is None:
        return 0
    left = (last + timedelta(seconds=wait) - now).total_seconds()
    return max(0, math.ceil(left))


def _record_failure(services: Services, attempt: Attempt, device: str | None, reason: str) -> None:
    now = services.clock.now()
    SignInFailure.create(at=now, address=attempt.address[:45], username=attempt.username[:40], device=device)
    SignInFailure.delete().where(SignInFailure.at < now - 2 * WINDOW).execute()
    audit("-", "admin.login_failed", services.clock, username=attempt.username, ip=attempt.address, reason=reason)


def _held(services: Services, attempt: Attempt, seconds: int, scope: str) -> TooManyRequests:
    now = services.clock.now()
    try:
        first_this_minute = services.live.hit(f"admin-login-held:{attempt.address}", now, HELD_AUDIT_SECONDS) == 1
    except Exception:  # noqa: BLE001 - without Redis the limit still holds (it is in the ledger); audit anyway
        first_this_minute = True
    if first_this_minute:
        audit("-", "admin.login_held", services.clock, username=attempt.username, ip=attempt.address, scope=scope)
    return TooManyRequests("admin_login_held", seconds=seconds, scope=scope)


# -- trusted browsers ----------------------------------------------------------------------


def _browser_mac(services: Services, payload: str, password_hash: str) -> str:
    key = services.settings.portal.secret_key.encode()
    return hmac.new(key, f"{payload}|{password_hash}".encode(), hashlib.sha256).hexdigest()[:32]


def browser_token(services: Services, user: AdminUser) -> str:
    """A token for a browser that just signed in fully ("" when no secret key is set)."""
    if not services.settings.portal.secret_key:
        return ""
    payload = f"{user.id}.{int(services.clock.now().timestamp())}.{secrets.token_hex(8)}"
    return f"{payload}.{_browser_mac(services, payload, user.password_hash)}"


def trusted_browser(services: Services, token: str, user: AdminUser | None) -> str | None:
    """The browser's id when ``token`` is a valid trusted-browser token for ``user``."""
    parts = (token or "").split(".")
    if user is None or not services.settings.portal.secret_key or len(parts) != 4 or len(token) > 120:
        return None
    user_id, issued, device, mac = parts
    if user_id != str(user.id) or not issued.isdigit():
        return None
    expected = _browser_mac(services, ".".join(parts[:3]), user.password_hash)
    if not hmac.compare_digest(expected, mac):
        return None
    age = services.clock.now().timestamp() - int(issued)
    return device if 0 <= age < TRUSTED_BROWSER_DAYS * 86400 else None


# -- signing in ----------------------------------------------------------------------------


def sign_in(services: Services, attempt: Attempt) -> Outcome:
    """Step one: username and password (and the code, when the form carried one).

    Raises TooManyRequests (``admin_login_held``; ``seconds`` to wait, ``scope``) or
    BadInput (``admin_login_failed``). See the module docstring for the gates.
    """
    now = services.clock.now()
    attempt = dataclasses.replace(attempt, address=address_key(attempt.address))
    user = find_admin(attempt.username)
    device = trusted_browser(services, attempt.browser_token, user)
    code_required = False
    if device is not None:
        wait = wait_seconds(SignInFailure.device == device, now)
        if wait:
            raise _held(services, attempt, wait, "browser")
    else:
        wait = wait_seconds(SignInFailure.address == attempt.address, now)
        if wait:
            raise _held(services, attempt, wait, "address")
        wait = wait_seconds(SignInFailure.username == attempt.username, now)
        if wait and _failures(SignInFailure.address == attempt.address, now)[0]:
            if not attempt.code:
                raise _held(services, attempt, wait, "username")
            code_required = True  # checked, but only password *and* code together get in
    if user is None:
        spend_hash_time(attempt.password)
        _record_failure(services, attempt, device, "password")
        raise BadInput("admin_login_failed")
    if not password_matches(user.password_hash, attempt.password):
        _record_failure(services, attempt, device, "password")
        raise BadInput("admin_login_failed")
    if user.totp_secret:
        if attempt.code:
            if not totp.verify(user, attempt.code, services.clock):
                _record_failure(services, attempt, device, "code")
                raise BadInput("admin_login_failed")
        else:
            return Outcome(user=user, needs_code=True)
    elif code_required:
        _record_failure(services, attempt, device, "code")  # no app on this account: the code cannot be right
        raise BadInput("admin_login_failed")
    return _signed_in(services, attempt, user, device)


def sign_in_code(services: Services, attempt: Attempt) -> Outcome:
    """Step two, after a correct password: the authenticator (or a recovery) code."""
    now = services.clock.now()
    attempt = dataclasses.replace(attempt, address=address_key(attempt.address))
    user = find_admin(attempt.username)
    device = trusted_browser(services, attempt.browser_token, user)
    if device is not None:
        wait = wait_seconds(SignInFailure.device == device, now)
    else:
        wait = wait_seconds(SignInFailure.address == attempt.address, now)
    if wait:
        raise _held(services, attempt, wait, "browser" if device else "address")
    if user is None or not totp.verify(user, attempt.code, services.clock):
        _record_failure(services, attempt, device, "code")
        raise BadInput("admin_login_failed")
    return _signed_in(services, attempt, user, device)


def _signed_in(services: Services, attempt: Attempt, user: AdminUser, device: str | None) -> Outcome:
    """Forgive this browser's (or this address's) own mistakes for this username, and record the sign-in."""
    if device is not None:
        SignInFailure.delete().where(SignInFailure.device == device).execute()
    else:
        SignInFailure.delete().where(
            SignInFailure.address == attempt.address,
            SignInFailure.username == user.username,
            SignInFailure.device.is_null(),
        ).execute()
    AdminUser.update(last_login_at=services.clock.now()).where(AdminUser.id == user.id).execute()
    audit(user.username, "admin.login", services.clock, ip=attempt.address, trusted_browser=device is not None)
    return Outcome(user=user, needs_code=False, browser_token=browser_token(services, user))


def recheck_wait(services: Services, address: str) -> int:
    """Seconds a signed-in admin must wait before their password is checked again (0: none).

    Forms that ask for the current password (change it, turn the app off) are held by the
    same address budget as sign-in, so a stolen session cookie is no unlimited password oracle.
    """
    return wait_seconds(SignInFailure.address == address_key(address), services.clock.now())


def recheck_failed(services: Services, username: str, address: str) -> None:
    attempt = Attempt(username=username, address=address_key(address))
    _record_failure(services, attempt, None, "current password")
