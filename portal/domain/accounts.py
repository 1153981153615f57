"""Admin accounts: who may sign in to /admin, with which role, and the audit trail.

Passwords are hashed with Werkzeug's ``generate_password_hash`` (scrypt, memory-hard, a
random salt per hash); every hash an older release wrote still verifies because the method
is stored in the hash itself. Every change here is written to the audit log, and every
change of password or removal ends that admin's sessions on the server.

The rule that keeps a venue manageable: there is always at least one owner. Removing or
demoting an owner happens in one transaction that locks the owners' rows, so two owners
removing each other at the same moment cannot leave nobody in charge.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee
from werkzeug.security import check_password_hash, generate_password_hash

from portal.clock import Clock
from portal.domain import admin_sessions
from portal.domain.errors import BadInput, NotFound
from portal.ledger.database import database
from portal.ledger.models import ROLES, AdminUser, AuditLog

MIN_PASSWORD = 10
MAX_PASSWORD = 200  # hashing a megabyte-long "password" is a cheap way to burn our CPU
USERNAME = re.compile(r"[A-Za-z0-9_.@-]{3,40}")


def audit(actor: str, action: str, clock: Clock, **detail: Any) -> AuditLog:
    return AuditLog.create(
        at=clock.now(),
        actor=actor[:40],
        action=action[:60],
        detail=json.dumps(detail, default=str, sort_keys=True) if detail else "",
    )


# -- passwords ----------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    return check_password_hash(stored_hash, password)


@functools.cache
def _decoy_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


def spend_hash_time(password: str) -> None:
    """Take as long as a real check, so timing does not tell which usernames exist."""
    check_password_hash(_decoy_hash(), password)


def check_new_password(password: str) -> str:
    password = password or ""
    if len(password) < MIN_PASSWORD:
        raise BadInput("password_too_short", minimum=MIN_PASSWORD)
    if len(password) > MAX_PASSWORD:
        raise BadInput("password_too_long", maximum=MAX_PASSWORD)
    return password


def one_time_password() -> str:
    """A password an owner hands to someone (shown once): 4 groups of 4, about 80 bits."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


# -- looking admins up --------------------------------------------------------------------


@dataclass(frozen=True)
class AdminRow:
    id: int
    username: str
    role: str
    created_at: datetime
    last_login_at: datetime | None
    totp_on: bool
    sessions: int


def admin_role(username: str) -> str | None:
    """``owner`` or ``cashier``; None when there is no such admin (any more)."""
    role = AdminUser.select(AdminUser.role).where(AdminUser.username == username).scalar()
    return str(role) if role is not None else None


def find_admin(username: str) -> AdminUser | None:
    return AdminUser.get_or_none(AdminUser.username == (username or "").strip())


def admin_by_id(admin_id: int) -> AdminUser:
    user = AdminUser.get_or_none(AdminUser.id == admin_id)
    if user is None:
        raise NotFound("admin_not_found")
    return user


def list_admins(now: datetime) -> list[AdminRow]:
    live = admin_sessions.counts_by_user(now)
    return [
        AdminRow(
            id=u.id,
            username=u.username,
            role=u.role,
            created_at=u.created_at,
            last_login_at=u.last_login_at,
            totp_on=bool(u.totp_secret),
            sessions=live.get(u.id, 0),
        )
        for u in AdminUser.select().order_by(AdminUser.username)
    ]


# -- changes ------------------------------------------------------------------------------


def _check_username(username: str) -> str:
    username = (username or "").strip()
    if not USERNAME.fullmatch(username):
        raise BadInput("username_invalid")
    return username


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise BadInput("role_invalid", roles=", ".join(ROLES))
    return role


def create_admin(username: str, password: str, clock: Clock, role: str | None = None, actor: str = "-") -> AdminUser:
    """Create an admin, or reset the password (and set the role) of an existing one.

    Used by ``pay2connect admin create`` and the demo. A new admin is an owner unless
    ``role`` says otherwise; an existing admin keeps their role unless ``role`` is given.
    """
    username = _check_username(username)
    hashed = hash_password(check_new_password(password))
    if role is not None:
        _check_role(role)
    with database.atomic():
        user = AdminUser.get_or_none(AdminUser.username == username)
        if user is None:
            user = AdminUser.create(
                username=username, password_hash=hashed, created_at=clock.now(), role=role or "owner"
            )
            audit(actor if actor != "-" else username, "admin.create", clock, username=username, role=user.role)
            return user
        if role is not None and role != user.role:
            _change_role(user, role)
            audit(actor, "admin.role", clock, username=username, role=role)
        user.password_hash = hashed
        user.save()
        ended = admin_sessions.end_all(user.id)
        audit(actor if actor != "-" else username, "admin.password_reset", clock, username=username, sessions=ended)
    return user


def add_admin(actor: str, username: str, role: str, clock: Clock) -> tuple[AdminUser, str]:
    """An owner adds an admin; returns the new admin and their one-time password (shown once)."""
    username = _check_username(username)
    _check_role(role)
    password = one_time_password()
    with database.atomic():
        if AdminUser.select().where(AdminUser.username == username).exists():
            raise BadInput("username_taken", username=username)
        user = AdminUser.create(
            username=username, password_hash=hash_password(password), created_at=clock.now(), role=role
        )
        audit(actor, "admin.create", clock, username=username, role=role)
    return user, password


def _owners_locked() -> list[int]:
    """The owners' ids, their rows locked until the transaction ends (where the database can)."""
    query = AdminUser.select(AdminUser.id).where(AdminUser.role == "owner")
    if not isinstance(database.obj, peewee.SqliteDatabase):
        query = query.for_update()  # SQLite takes one writer at a time anyway
    return [row.id for row in query]


def _change_role(user: AdminUser, role: str) -> None:
    """Within a transaction: set the role, refusing to leave the venue without an owner."""
    owners = _owners_locked()
    if user.role == "owner" and role != "owner" and owners == [user.id]:
        raise BadInput("last_owner")
    user.role = role
    user.save()


def set_role(actor: str, admin_id: int, role: str, clock: Clock) -> AdminUser:
    _check_role(role)
    with database.atomic():
        user = admin_by_id(admin_id)
        if user.role == role:
            return user
        before = user.role
        _change_role(user, role)
        audit(actor, "admin.role", clock, username=user.username, role=[before, role])
    return user


def remove_admin(actor: str, admin_id: int, clock: Clock) -> str:
    """Remove an admin and end every session of theirs. Returns the username."""
    with database.atomic():
        user = admin_by_id(admin_id)
        if user.role == "owner" and _owners_locked() == [user.id]:
            raise BadInput("last_owner")
        ended = admin_sessions.end_all(user.id)
        user.delete_instance(recursive=True)
        audit(actor, "admin.remove", clock, username=user.username, role=user.role, sessions=ended)
    return str(user.username)


def change_password(user_id: int, current: str, new: str, keep_session: str | None, clock: Clock) -> int:
    """Anyone changes their own password (the current one is required).

    Every other session of theirs ends (a stolen cookie stops working); the one they are
    using (``keep_session``, its token) stays. Returns how many sessions ended.
    """
    user = admin_by_id(user_id)
    if not password_matches(user.password_hash, current or ""):
        raise BadInput("current_password_wrong")
    new = check_new_password(new)
    if new == current:
        raise BadInput("password_unchanged")
    with database.atomic():
        user.password_hash = hash_password(new)
        user.save()
        ended = admin_sessions.end_all(user.id, keep=keep_session)
        audit(user.username, "admin.password_change", clock, sessions=ended)
    return ended


def reset_password(actor: str, admin_id: int, clock: Clock) -> tuple[str, str]:
    """An owner resets another admin's password; returns (username, one-time password).

    Every session of that admin ends; the new password is shown once and never stored.
    """
    password = one_time_password()
    with database.atomic():
        user = admin_by_id(admin_id)
        user.password_hash = hash_password(password)
        user.save()
        ended = admin_sessions.end_all(user.id)
        audit(actor, "admin.password_reset", clock, username=user.username, sessions=ended)
    return str(user.username), password
