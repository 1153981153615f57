"""Venue-owner accounts for the admin UI and the audit trail of what they did."""

from __future__ import annotations

import json
import re
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from portal.clock import Clock
from portal.domain.context import Services
from portal.domain.errors import BadInput, TooManyRequests
from portal.ledger.models import AdminUser, AuditLog

MIN_PASSWORD = 10
LOGIN_WINDOW_SECONDS = 15 * 60
LOGIN_MAX_ATTEMPTS = 10


def create_admin(username: str, password: str, clock: Clock) -> AdminUser:
    """Create an admin, or reset the password of an existing one."""
    username = (username or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9_.@-]{3,40}", username):
        raise BadInput("username_invalid")
    if len(password or "") < MIN_PASSWORD:
        raise BadInput("password_too_short", minimum=MIN_PASSWORD)
    hashed = generate_password_hash(password)
    user = AdminUser.get_or_none(AdminUser.username == username)
    if user is None:
        user = AdminUser.create(username=username, password_hash=hashed, created_at=clock.now())
        audit(username, "admin.create", clock)
    else:
        user.password_hash = hashed
        user.save()
        audit(username, "admin.password_reset", clock)
    return user


def admin_role(username: str) -> str | None:
    """``owner`` or ``cashier``; None when there is no such admin (any more)."""
    role = AdminUser.select(AdminUser.role).where(AdminUser.username == username).scalar()
    return str(role) if role is not None else None


def authenticate(username: str, password: str, clock: Clock) -> AdminUser | None:
    user = AdminUser.get_or_none(AdminUser.username == (username or "").strip())
    if user is None:
        check_password_hash(generate_password_hash("x"), password or "")  # same time either way
        return None
    if not check_password_hash(user.password_hash, password or ""):
        return None
    user.last_login_at = clock.now()
    user.save()
    return user


def sign_in(services: Services, *, username: str, password: str, address: str) -> AdminUser:
    """Check an admin's password, within a per-address limit against guessing.

    Raises TooManyRequests (``admin_login_rate``) or BadInput (``admin_login_failed``);
    both outcomes and successes go to the audit log.
    """
    now = services.clock.now()
    attempts = services.live.hit(f"admin-login:{address}", now, LOGIN_WINDOW_SECONDS)
    if attempts > LOGIN_MAX_ATTEMPTS:
        raise TooManyRequests("admin_login_rate", seconds=LOGIN_WINDOW_SECONDS)
    user = authenticate(username, password, services.clock)
    if user is None:
        audit("-", "admin.login_failed", services.clock, username=username, ip=address)
        raise BadInput("admin_login_failed")
    audit(user.username, "admin.login", services.clock, ip=address)
    return user


def audit(actor: str, action: str, clock: Clock, **detail: Any) -> AuditLog:
    return AuditLog.create(
        at=clock.now(),
        actor=actor[:40],
        action=action[:60],
        detail=json.dumps(detail, default=str, sort_keys=True) if detail else "",
    )
