"""Server-side admin sessions: signing out ends the session on the server.

Why a table of sessions rather than a per-admin "generation" counter: a counter can only
end *every* session of an admin at once, so signing out on the office PC would also sign
the owner out on their phone, and it cannot list where an admin is signed in. A row per
signed-in browser ends exactly one session on sign-out, all of them on "sign out
everywhere", a password change (all but the current one), a reset or a removal, and shows
the owner where each admin is signed in. It costs one primary-key read per admin page.

The browser's signed Flask cookie holds only a random 256-bit token; the table keeps its
SHA-256, so someone who reads the database cannot use what they read as a cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee

from portal.ledger.models import AdminSession, AdminUser

SESSION_HOURS = 12  # an owner's sign-in lasts a working day, then asks again
TOUCH_EVERY = timedelta(minutes=1)  # how often "last seen" is written (not on every page)


@dataclass(frozen=True)
class SignedIn:
    """Who is behind a session cookie, checked against the ledger on this request."""

    session_id: int
    user_id: int
    username: str
    role: str


@dataclass(frozen=True)
class SessionRow:
    id: int
    created_at: datetime
    last_seen_at: datetime
    address: str
    agent: str
    current: bool


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def start(user_id: int, address: str, agent: str, now: datetime) -> str:
    """Open a session for an admin who just proved who they are; returns the cookie token."""
    AdminSession.delete().where(AdminSession.created_at < now - timedelta(hours=SESSION_HOURS)).execute()
    token = secrets.token_urlsafe(32)
    AdminSession.create(
        token_hash=_digest(token),
        user=user_id,
        created_at=now,
        last_seen_at=now,
        address=address[:45],
        agent=(agent or "")[:200],
    )
    return token


def current(token: object, now: datetime) -> SignedIn | None:
    """The admin behind ``token`` if that session is still open and not older than a day's work."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    row = (
        AdminSession.select(AdminSession, AdminUser)
        .join(AdminUser)
        .where(AdminSession.token_hash == _digest(token))
        .first()
    )
    if row is None:
        return None
    if not timedelta(0) <= now - row.created_at < timedelta(hours=SESSION_HOURS):
        row.delete_instance()
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        AdminSession.update(last_seen_at=now).where(AdminSession.id == row.id).execute()
    return SignedIn(session_id=row.id, user_id=row.user.id, username=row.user.username, role=row.user.role)


def end(token: object) -> bool:
    """Sign-out: the session stops working everywhere its cookie was copied to."""
    if not isinstance(token, str):
        return False
    return bool(AdminSession.delete().where(AdminSession.token_hash == _digest(token)).execute())


def end_all(user_id: int, keep: str | None = None) -> int:
    """End every session of one admin (but the one whose token is ``keep``); returns how many."""
    query = AdminSession.delete().where(AdminSession.user == user_id)
    if keep:
        query = query.where(AdminSession.token_hash != _digest(keep))
    return int(query.execute())


def end_one(user_id: int, session_id: int) -> bool:
    """End one of an admin's own sessions (from the account page)."""
    deleted = AdminSession.delete().where(AdminSession.id == session_id, AdminSession.user == user_id).execute()
    return bool(deleted)


def sessions_of(user_id: int, now: datetime, token: object = None) -> list[SessionRow]:
    mine = _digest(token) if isinstance(token, str) else ""
    since = now - timedelta(hours=SESSION_HOURS)
    rows = (
        AdminSession.select()
        .where(AdminSession.user == user_id, AdminSession.created_at >= since)
        .order_by(AdminSession.last_seen_at.desc())
    )
    return [SessionRow(r.id, r.created_at, r.last_seen_at, r.address, r.agent, r.token_hash == mine) for r in rows]


def counts_by_user(now: datetime) -> dict[int, int]:
    since = now - timedelta(hours=SESSION_HOURS)
    query = (
        AdminSession.select(AdminSession.user, peewee.fn.COUNT(AdminSession.id).alias("n"))
        .where(AdminSession.created_at >= since)
        .group_by(AdminSession.user)
    )
    return {row.user_id: int(row.n) for row in query}
