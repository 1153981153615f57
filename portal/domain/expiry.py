"""Expiry: ending grants at their due time, and refilling Redis from the ledger.

The worker's timer (:mod:`portal.worker.timer`) sleeps until :func:`next_due` and then
calls :func:`end_due`, which ends in the ledger every grant whose time has come (one
transaction for the whole batch) and returns the router logouts to do, each already a
durable outbox item. The worker hands them to the router's lane
(:func:`portal.domain.outbox.run_revocations`); :func:`expire_due` does both inline.

The ledger is the truth: the due grants are read from the Redis index *and* from the
ledger, so a grant missing from Redis is still ended on time, and a stale Redis entry
(the grant was extended, credited or moved) is corrected instead of acted on. A grant
is never ended before its ``expires_at``; one whose clock is stopped (not confirmed
online yet, or a router fault) has its provisional end pushed on instead.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from datetime import datetime, timedelta

from portal.domain.context import Services
from portal.domain.grant_clock import bank_stopped
from portal.domain.outbox import LANE_LEASE_SECONDS, Revocation, devices_with_time, run_revocations
from portal.ledger.database import write_transaction
from portal.ledger.models import Grant, OutboxItem, PaymentEvent
from portal.ledger.prepared import read_rows
from portal.ledger.queries import among
from portal.live import LiveGrant

log = logging.getLogger(__name__)

BATCH = 500


def next_due(services: Services) -> datetime | None:
    """The earliest end of an active grant, from Redis and from the ledger (the ledger wins
    when Redis lost a grant)."""
    candidates = []
    try:
        candidates.append(services.live.next_due())
    except Exception:  # noqa: BLE001 - Redis down: the ledger alone still knows
        pass
    ledger = Grant.select(Grant.expires_at).where(Grant.status == "active").order_by(Grant.expires_at).limit(1).first()
    candidates.append(ledger.expires_at if ledger else None)
    known = [due for due in candidates if due is not None]
    return min(known) if known else None


def _due_ids(services: Services, now: datetime) -> set[int]:
    ids: set[int] = set()
    try:
        ids.update(services.live.due_grant_ids(now, limit=BATCH))
    except Exception:  # noqa: BLE001 - Redis down: the ledger alone still knows
        pass
    ledger = Grant.select(Grant.id).where(Grant.status == "active", Grant.expires_at <= now).limit(BATCH)
    ids.update(grant.id for grant in ledger)
    return ids


def end_due(services: Services, now: datetime) -> tuple[int, list[Revocation]]:
    """End every grant due at ``now`` (up to a batch), in one transaction.

    Returns how many due grants were looked at and the router logouts to do.
    """
    ids = sorted(_due_ids(services, now))
    revocations: list[Revocation] = []
    dropped: list[Grant] = []
    with write_transaction(services.db):
        due = read_rows(Grant.select().where(among(Grant.id, ids))) if ids else []  # read under the write lock
        ending: list[Grant] = []
        for grant in due:
            if grant.status != "active":
                dropped.append(grant)  # ended elsewhere; Redis was stale
            elif grant.expires_at > now:
                services.live.put_session(grant.id, grant.router, grant.mac, grant.expires_at)  # the ledger wins
            elif not grant.running:
                bank_stopped(services, grant, now)
            else:
                ending.append(grant)
        if ending:
            Grant.update(status="expired", ended_at=now).where(among(Grant.id, [g.id for g in ending])).execute()
            PaymentEvent.insert_many(
                [
                    {
                        "payment": grant.payment_id,
                        "at": now,
                        "kind": "expired",
                        "detail": json.dumps({"late_seconds": round((now - grant.expires_at).total_seconds(), 3)}),
                    }
                    for grant in ending
                ]
            ).execute()
            dropped.extend(ending)
            revocations = _queue_logouts(ending, now)
    services.live.drop_sessions([(grant.id, grant.router, grant.mac) for grant in dropped])
    return len(due), revocations


def _queue_logouts(ended: list[Grant], now: datetime) -> list[Revocation]:
    """Durable logout items for the ended grants whose device has no other time left."""
    by_router: dict[str, list[Grant]] = defaultdict(list)
    for grant in ended:
        by_router[grant.router].append(grant)
    leaving: list[Grant] = []
    for router, grants in by_router.items():
        covered = devices_with_time(router, [grant.mac for grant in grants])  # a stacked purchase goes on
        leaving.extend(grant for grant in grants if grant.mac not in covered)
    if not leaving:
        return []
    lease = now + timedelta(seconds=LANE_LEASE_SECONDS)
    OutboxItem.insert_many(
        [
            {
                "grant": grant.id,
                "action": "revoke",
                "router": grant.router,
                "mac": grant.mac,
                "next_attempt_at": lease,
                "created_at": now,
            }
            for grant in leaving
        ]
    ).execute()
    items = OutboxItem.select(OutboxItem.id, OutboxItem.grant).where(
        among(OutboxItem.grant, [grant.id for grant in leaving]),
        OutboxItem.action == "revoke",
        OutboxItem.done_at.is_null(),
    )
    item_of = {item.grant_id: item.id for item in items}
    return [Revocation(item_of[g.id], g.id, g.payment_id, g.router, g.mac) for g in leaving if g.id in item_of]


def expire_due(services: Services) -> int:
    """End every due grant and log the devices out, inline (tests, ``worker --once``).

    Returns how many devices were logged out.
    """
    logged_out = 0
    for _round in range(100):
        seen, revocations = end_due(services, services.clock.now())
        by_router: dict[str, list[Revocation]] = defaultdict(list)
        for revocation in revocations:
            by_router[revocation.router].append(revocation)
        for name, batch in by_router.items():
            logged_out += run_revocations(services, name, batch)
        if seen < BATCH:
            break
    return logged_out


def restore_live_if_lost(services: Services) -> int | None:
    """Rebuild the Redis mirror from the ledger if Redis lost it (flushed, restarted empty).

    Returns how many sessions were restored, or None when nothing was lost (or Redis is
    down: the ledger alone keeps expiry going until it is back).
    """
    try:
        if not services.live.mirror_lost():
            return None
        count = rebuild_live(services)
    except Exception as err:  # noqa: BLE001 - Redis down: the ledger alone keeps expiry going
        log.warning("cannot check the live mirror in Redis: %s", err)
        return None
    log.warning("Redis lost its live state: %d session(s) rebuilt from the ledger", count)
    return count


def rebuild_live(services: Services) -> int:
    """Refill Redis from the ledger (after a Redis loss or at start)."""

    def active() -> list[LiveGrant]:
        # A stacked (future) grant shares the device; publish in expiry order so the
        # device key ends on the grant that lasts longest.
        grants = Grant.select().where(Grant.status == "active").order_by(Grant.expires_at)
        return [LiveGrant(g.id, g.router, g.mac, g.expires_at) for g in grants]

    return services.live.rebuild(active)
