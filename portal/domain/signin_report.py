"""What the owner sees of sign-in attempts: the dashboard's "failed sign-ins" panel.

Read from the audit log (every failure is an ``admin.login_failed`` entry with the address and
the username tried; attempts told to wait are ``admin.login_held``, at most one per address a
minute), so it needs no table of its own and matches what the audit page lists.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from portal.domain.signin import WINDOW
from portal.ledger.models import AuditLog


@dataclass(frozen=True)
class FailedSignIns:
    """Failed sign-ins in the last day, from the audit log (the dashboard's panel)."""

    count: int = 0
    last_at: datetime | None = None
    held_back: int = 0  # audit lines for attempts answered "wait" (at most one per address a minute)
    addresses: list[tuple[str, int]] = field(default_factory=list)
    usernames: list[tuple[str, int]] = field(default_factory=list)


def failed_sign_ins(now: datetime, limit: int = 5000) -> FailedSignIns:
    rows = (
        AuditLog.select(AuditLog.at, AuditLog.action, AuditLog.detail)
        .where(AuditLog.action.in_(("admin.login_failed", "admin.login_held")), AuditLog.at > now - WINDOW)
        .order_by(AuditLog.at.desc())
        .limit(limit)
    )
    addresses: Counter[str] = Counter()
    usernames: Counter[str] = Counter()
    count = held = 0
    last_at = None
    for row in rows:
        if row.action == "admin.login_held":
            held += 1
            continue
        count += 1
        last_at = last_at or row.at
        try:
            detail = json.loads(row.detail or "{}")
        except ValueError:
            detail = {}
        if isinstance(detail, dict):
            addresses[str(detail.get("ip", "?"))[:45]] += 1
            usernames[str(detail.get("username", ""))[:40]] += 1
    return FailedSignIns(count, last_at, held, addresses.most_common(10), usernames.most_common(10))
