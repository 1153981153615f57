"""Venue-owner accounts for the admin UI and the audit trail of what they did."""
from __future__ import annotations

import json
import re
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from portal.clock import Clock
from portal.domain.errors import BadInput
from portal.ledger.models import AdminUser, AuditLog

MIN_PASSWORD = 10


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


def audit(actor: str, action: str, clock: Clock, **detail: Any) -> AuditLog:
    return AuditLog.create(
        at=clock.now(),
        actor=actor[:40],
        action=action[:60],
        detail=json.dumps(detail, default=str, sort_keys=True) if detail else "",
    )
