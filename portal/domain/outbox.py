"""The router outbox: every router operation is a durable row, retried until it is done.

A grant's router call is written in the same transaction as the grant, then tried at
once; a router that is down or rebooting delays access instead of losing it, and the
worker retries with backoff (:func:`process_outbox`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.domain.context import Services
from portal.domain.grant_clock import confirm_online, moment, projected_end, projected_ends
from portal.ledger.database import write_transaction
from portal.ledger.models import Grant, OutboxItem, Package, PaymentEvent
from portal.ledger.prepared import Prepared, create, get_by_id
from portal.ledger.queries import among
from portal.ledger.timeline import batched, record
from router import DeviceGrant, RouterError, RouterUnreachable

log = logging.getLogger(__name__)

ROUTER_BACKSTOP_MARGIN_SECONDS = 120  # router's limit-uptime outlives our own expiry a little
#: A logout handed to a worker's router lane is not retried by the outbox sweep before this,
#: so the two never race; if the worker dies first, the sweep picks it up then.
LANE_LEASE_SECONDS = 30


@dataclass(frozen=True)
class Revocation:
    """One logout to do on a router: the outbox item that makes it durable."""

    outbox_id: int
    grant_id: int
    payment_id: int
    router: str
    mac: str


def queue(grant: Grant, action: str, now: datetime, *, not_before: datetime | None = None) -> OutboxItem:
    return create(
        OutboxItem,
        grant=grant,
        action=action,
        router=grant.router,
        mac=grant.mac,
        next_attempt_at=not_before or now,
        created_at=now,
    )


def device_has_time(router: str, mac: str) -> bool:
    """True while any grant of the device is active (running, connecting or stopped by a fault)."""
    return Grant.select().where(Grant.router == router, Grant.mac == mac, Grant.status == "active").exists()


def devices_with_time(router: str, macs: Sequence[str]) -> set[str]:
    """Which of ``macs`` on ``router`` still have an active grant (one query for a batch)."""
    wanted = set(macs)
    if not wanted:
        return set()
    rows = Grant.select(Grant.mac).where(Grant.router == router, among(Grant.mac, wanted), Grant.status == "active")
    return {mac for (mac,) in rows.tuples()}


def device_grant(grant: Grant, now: datetime) -> DeviceGrant:
    """What the router needs to know; the router's own limit is a backstop only.

    The limit covers the device's whole chain (stacked purchases) as if it came online
    now, plus a margin, so the router can never end a session before we do.
    """
    package = get_by_id(Package, grant.package_id)
    return _device_grant(grant, package, projected_end(grant.router, grant.mac, now), now)


def device_grants(
    router: str, grants: Sequence[Grant], now: datetime, chains: Mapping[str, list[Grant]] | None = None
) -> list[DeviceGrant]:
    """:func:`device_grant` for many grants of one router, in a few queries (a reboot's);
    ``chains`` (MAC -> its active grants in order), when the caller has just read them."""
    ends = projected_ends(router, [grant.mac for grant in grants], now, chains)
    wanted = {grant.package_id for grant in grants}
    packages = {package.id: package for package in Package.select().where(among(Package.id, wanted))} if wanted else {}
    return [_device_grant(grant, packages[grant.package_id], ends.get(grant.mac), now) for grant in grants]


def _device_grant(grant: Grant, package: Package, chain_end: datetime | None, now: datetime) -> DeviceGrant:
    end = chain_end or grant.expires_at
    remaining = math.ceil((end - now).total_seconds())
    return DeviceGrant(
        grant_id=str(grant.id),
        mac=grant.mac,
        ip=grant.ip,
        profile=package.profile_name,
        limit_uptime_seconds=max(remaining, 1) + ROUTER_BACKSTOP_MARGIN_SECONDS,
        rate_limit=package.rate_limit or None,
        shared_users=package.devices,
        limit_bytes_total=package.data_cap_bytes,
    )


def _backoff(services: Services, attempts: int) -> timedelta:
    worker = services.settings.worker
    delay = min(worker.outbox_base_delay_seconds * (2 ** max(attempts - 1, 0)), worker.outbox_max_delay_seconds)
    return timedelta(seconds=delay)


def device_lock(router: str, mac: str) -> str:
    """The lock a device's router operation holds from its ledger check to the router call.

    The web process logs a new purchase in while the worker logs the device's expired grant
    out: without it, a logout decided before the purchase was committed could land after
    its login and leave a paying customer offline. An outbox item acts on one device, so
    the same lock also keeps two processes from running one item at once.
    """
    return f"device:{router}:{mac}"


_WAITING_ITEM: Prepared[OutboxItem] = Prepared(
    lambda item_id: OutboxItem.select().where(OutboxItem.id == item_id, OutboxItem.done_at.is_null()).limit(1)
)


def run_outbox_item(services: Services, item: OutboxItem) -> bool:
    """Try one router operation now. True when it is done (or no longer needed); False when
    it must wait (router error, or another process is working on the same device).

    ``item`` as its caller has it (just queued or listed) names the device to lock; the row
    is read again under that lock."""
    with services.live.try_locks([device_lock(item.router, item.mac)]) as locked:
        return _run_outbox_item(services, item.id) if locked else False


def _run_outbox_item(services: Services, item_id: int) -> bool:
    now = services.clock.now()
    item = _WAITING_ITEM.first(item_id)
    if item is None:
        return True
    grant = get_by_id(Grant, item.grant_id)
    router = services.router(item.router)
    ran_out = moment(grant.online_at) is not None and moment(grant.offline_since) is None and grant.expires_at <= now
    if item.action == "authorize" and (grant.status != "active" or ran_out):
        _finish(item, now)
        return True
    if item.action == "revoke" and device_has_time(item.router, item.mac):
        _finish(item, now)  # a newer purchase (or this one, revived) covers the device: keep it online
        return True
    try:
        if router is None:
            raise RouterError(f"router {item.router!r} is not configured", router=item.router)
        if item.action == "authorize":
            kept_uptime = router.authorize(device_grant(grant, now))
            # A session kept from an earlier login (its process died before recording it)
            # has served the customer since that login: the clock starts there.
            online_at = services.clock.now() - timedelta(seconds=kept_uptime)
        else:
            router.revoke(item.mac)
    except RouterError as err:
        attempts = _retry_later(services, item, grant.payment_id, err, now)
        log.warning("router %s %s failed (attempt %d): %s", item.router, item.action, attempts, err.message)
        return False
    attempt = item.attempts + 1
    with write_transaction(services.db), batched():  # what the router did, in one write
        if item.action == "authorize":
            _SET_ROUTER_STATE.run("online", grant.id)
            confirm_online(services, grant.router, grant.mac, online_at)
            record(grant.payment_id, "router_authorized", services.clock, router=item.router, attempt=attempt)
        else:
            # A grant moved to another device since: its new device stays as it is.
            _SET_ROUTER_STATE_ON_DEVICE.run("removed", grant.id, item.mac)
            record(grant.payment_id, "router_revoked", services.clock, router=item.router, attempt=attempt)
        _done(item, grant, now)
    return True


def _done(item: OutboxItem, grant: Grant, now: datetime) -> None:
    """The router did it: the item is done (``attempts`` counts router calls made, this one
    included). Older logins of this grant still waiting (retries, a reconciliation's own)
    would only repeat a login: this one read the grant after them."""
    _ITEM_DONE.run(now, item.attempts + 1, item.id)
    if item.action == "authorize":
        _EARLIER_LOGINS_DONE.run(now, grant.id, item.id)


def logins_done(grant_ids: Collection[int], at: datetime) -> None:
    """The waiting logins of these grants are done: something else logged them in (a
    reconciliation's batch) under their devices' locks."""
    if grant_ids:
        OutboxItem.update(done_at=at).where(
            among(OutboxItem.grant, grant_ids), OutboxItem.action == "authorize", OutboxItem.done_at.is_null()
        ).execute()


def _finish(item: OutboxItem, now: datetime) -> None:
    _ITEM_FINISHED.run(now, item.id)


# The router-call path's writes, composed once (see portal/ledger/prepared.py).
_SET_ROUTER_STATE: Prepared[Grant] = Prepared(
    lambda state, grant_id: Grant.update(router_state=state).where(Grant.id == grant_id)
)
_SET_ROUTER_STATE_ON_DEVICE: Prepared[Grant] = Prepared(
    lambda state, grant_id, mac: Grant.update(router_state=state).where(Grant.id == grant_id, Grant.mac == mac)
)
_ITEM_DONE: Prepared[OutboxItem] = Prepared(
    lambda at, attempts, item_id: OutboxItem.update(done_at=at, attempts=attempts).where(OutboxItem.id == item_id)
)
_ITEM_FINISHED: Prepared[OutboxItem] = Prepared(
    lambda at, item_id: OutboxItem.update(done_at=at).where(OutboxItem.id == item_id)
)
_EARLIER_LOGINS_DONE: Prepared[OutboxItem] = Prepared(
    lambda at, grant_id, item_id: OutboxItem.update(done_at=at).where(
        OutboxItem.grant == grant_id,
        OutboxItem.action == "authorize",
        OutboxItem.done_at.is_null(),
        OutboxItem.id < item_id,
    )
)


def run_revocations(services: Services, router_name: str, revocations: Sequence[Revocation]) -> int:
    """Log out several devices on one router in one go; returns how many were done.

    Devices that got time again meanwhile (a new purchase) are left online. On a router
    error every item waits in the outbox with backoff. A device another process is working
    on right now (its lock is taken) is left to the outbox sweep, which checks it again.
    """
    now = services.clock.now()
    locks = {r.mac: device_lock(router_name, r.mac) for r in revocations}
    with services.live.take_locks(locks.values()) as taken:
        busy = [r.outbox_id for r in revocations if locks[r.mac] not in taken]
        if busy:
            OutboxItem.update(next_attempt_at=now).where(among(OutboxItem.id, busy)).execute()
        free = [r for r in revocations if locks[r.mac] in taken]
        return _revoke_locked(services, router_name, free, now)


def _revoke_locked(services: Services, router_name: str, revocations: Sequence[Revocation], now: datetime) -> int:
    """:func:`run_revocations` for devices whose locks are held."""
    covered = devices_with_time(router_name, [revocation.mac for revocation in revocations])
    todo = [revocation for revocation in revocations if revocation.mac not in covered]
    skipped = [revocation.outbox_id for revocation in revocations if revocation.mac in covered]
    if skipped:
        OutboxItem.update(done_at=now).where(among(OutboxItem.id, skipped)).execute()
    if not todo:
        return 0
    router = services.router(router_name)
    try:
        if router is None:
            raise RouterError(f"router {router_name!r} is not configured", router=router_name)
        router.revoke_many([revocation.mac for revocation in todo])
    except RouterError as err:
        with write_transaction(services.db):
            for revocation in todo:
                _failed(services, revocation, err, now)
        log.warning("router %s: %d logout(s) failed: %s", router_name, len(todo), err.message)
        return 0
    done_at = services.clock.now()
    with write_transaction(services.db):
        OutboxItem.update(done_at=done_at, attempts=OutboxItem.attempts + 1).where(
            among(OutboxItem.id, [revocation.outbox_id for revocation in todo])
        ).execute()
        Grant.update(router_state="removed").where(
            among(Grant.id, [revocation.grant_id for revocation in todo]),
            among(Grant.mac, [revocation.mac for revocation in todo]),
        ).execute()
        detail = json.dumps({"router": router_name}, sort_keys=True)
        PaymentEvent.insert_many(
            [{"payment": r.payment_id, "at": done_at, "kind": "router_revoked", "detail": detail} for r in todo]
        ).execute()
    return len(todo)


def _failed(services: Services, revocation: Revocation, err: RouterError, now: datetime) -> None:
    item = OutboxItem.get_or_none(OutboxItem.id == revocation.outbox_id)
    if item is not None:
        _retry_later(services, item, revocation.payment_id, err, now)


def _retry_later(services: Services, item: OutboxItem, payment_id: int, err: RouterError, now: datetime) -> int:
    """Count the failed attempt, schedule the next one with backoff, put the error on the
    payment's timeline; returns the attempts made so far."""
    attempts: int = item.attempts + 1
    OutboxItem.update(
        attempts=attempts,
        next_attempt_at=now + _backoff(services, attempts),
        last_error=f"{err.key}: {err.message}"[:300],
    ).where(OutboxItem.id == item.id).execute()
    record(
        payment_id,
        "router_error",
        services.clock,
        action=item.action,
        router=item.router,
        error=err.key,
        message=err.message,
        attempt=attempts,
    )
    return attempts


def due_items(services: Services, limit: int = 200) -> dict[str, list[int]]:
    """Outbox items whose time has come, by router (the worker hands each list to its lane)."""
    now = services.clock.now()
    due = (
        OutboxItem.select(OutboxItem.id, OutboxItem.router)
        .where(OutboxItem.done_at.is_null(), OutboxItem.next_attempt_at <= now)
        .order_by(OutboxItem.next_attempt_at)
        .limit(limit)
    )
    by_router: dict[str, list[int]] = {}
    for item in due:
        by_router.setdefault(item.router, []).append(item.id)
    return by_router


def waiting_for_router(router: str) -> list[int]:
    """Every undone item of one router, whatever its next attempt (the router is back)."""
    items = OutboxItem.select(OutboxItem.id).where(OutboxItem.router == router, OutboxItem.done_at.is_null())
    return [item.id for item in items.order_by(OutboxItem.id)]


def run_items(services: Services, item_ids: Sequence[int]) -> int:
    """Run one router's items: logouts in batches, the rest in order; after one finds the
    router unreachable the rest wait for their next attempt."""
    items = list(
        OutboxItem.select(OutboxItem, Grant.payment)
        .join(Grant)
        .where(among(OutboxItem.id, item_ids), OutboxItem.done_at.is_null())
        .order_by(OutboxItem.id)
    )
    done = 0
    revocations = [
        Revocation(item.id, item.grant_id, item.grant.payment_id, item.router, item.mac)
        for item in items
        if item.action == "revoke"
    ]
    by_router: dict[str, list[Revocation]] = {}
    for revocation in revocations:
        by_router.setdefault(revocation.router, []).append(revocation)
    for name, batch in by_router.items():
        done += run_revocations(services, name, batch)  # each device under its lock
    for item in items:
        if item.action == "revoke":
            continue
        if run_outbox_item(services, item):
            done += 1
        elif OutboxItem.get_by_id(item.id).last_error.startswith(RouterUnreachable.key):
            break  # one timeout per router per pass, not one per waiting customer
    return done


def process_outbox(services: Services, limit: int = 200) -> int:
    """Run every router operation whose time has come, router after router. Returns how many completed."""
    return sum(run_items(services, ids) for ids in due_items(services, limit).values())
