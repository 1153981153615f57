"""When a grant's paid time runs: from the router's confirmation, stopped by router faults.

The rules (DESIGN.md, "Packages"):

- Paid time starts when the router confirms the device online (:func:`confirm_online`),
  not at payment. Until then the grant's window is provisional ("if it came online now").
- A device's grants form a chain: a purchase made while time is left starts when the
  previous one ends, so stacked purchases extend rather than overlap.
- Time the router could not serve a live customer because of a fault we detect (reboot,
  outage) is credited back: :func:`stop_clock` when the fault is found, :func:`resume_clock`
  when the device is back (or the router is back and the device is not around). Each
  credit is an event on the payment's timeline.

:func:`lay_out` recomputes the chain's windows from those facts, so ``expires_at`` is
always ``starts_at + granted_seconds + credited_seconds`` and the Redis expiry index (the
worker's timer) follows every change.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from peewee import chunked

from portal.domain.context import Services
from portal.ledger.models import Grant
from portal.ledger.queries import IN_LIST_LIMIT
from portal.ledger.timeline import batched, record

log = logging.getLogger(__name__)


def moment(value: object) -> datetime | None:
    """A grant's optional time field as what it holds (peewee's field types hide the None)."""
    return value if isinstance(value, datetime) else None


def device_chain(router: str, mac: str) -> list[Grant]:
    """The device's active grants in the order they run."""
    return list(
        Grant.select()
        .where(Grant.router == router, Grant.mac == mac, Grant.status == "active")
        .order_by(Grant.starts_at, Grant.id)
    )


def device_chains(router: str, macs: Iterable[str]) -> dict[str, list[Grant]]:
    """:func:`device_chain` for many devices, a query per :data:`IN_LIST_LIMIT` of them."""
    chains: dict[str, list[Grant]] = {}
    for part in chunked(dict.fromkeys(macs), IN_LIST_LIMIT):
        for grant in (
            Grant.select()
            .where(Grant.router == router, Grant.mac.in_(part), Grant.status == "active")
            .order_by(Grant.mac, Grant.starts_at, Grant.id)
        ):
            chains.setdefault(grant.mac, []).append(grant)
    return chains


def publish(services: Services, grants: Iterable[Grant]) -> None:
    """Put the grants' windows in the Redis expiry index (one round trip)."""
    services.live.put_sessions((g.id, g.router, g.mac, g.expires_at) for g in grants)


def _length(grant: Grant) -> timedelta:
    return timedelta(seconds=grant.granted_seconds + grant.credited_seconds)


def lay_out(services: Services, router: str, mac: str, now: datetime) -> list[Grant]:
    """Recompute the windows of the device's chain; save and publish the changed ones."""
    changed = _lay_out_chain(device_chain(router, mac), now)
    publish(services, changed)
    return changed


def _lay_out_chain(chain: list[Grant], now: datetime) -> list[Grant]:
    """Recompute the windows of one device's chain; save the changed ones and return them.

    The first grant keeps its start if its clock runs or is stopped by a fault; one never
    confirmed starts "now" (provisionally). Every later grant starts when the one before
    it ends.
    """
    changed: list[Grant] = []
    previous_end: datetime | None = None
    for grant in chain:
        old_start: datetime = grant.starts_at
        old_end: datetime = grant.expires_at
        if previous_end is not None:
            start = previous_end
        elif moment(grant.online_at) is None:
            start = now
        else:
            start = old_start
        end = start + _length(grant)
        previous_end = end
        if (start, end) != (old_start, old_end):
            Grant.update(starts_at=start, expires_at=end).where(Grant.id == grant.id).execute()
            grant.starts_at, grant.expires_at = start, end  # type: ignore[assignment]
            changed.append(grant)
    return changed


def projected_end(router: str, mac: str, now: datetime) -> datetime | None:
    """When the device's time would end if it were confirmed online ``now`` (router backstop)."""
    return _projected_end_of(device_chain(router, mac), now)


def projected_ends(router: str, macs: Iterable[str], now: datetime) -> dict[str, datetime]:
    """:func:`projected_end` for many devices (those with time left), in a few queries."""
    ends = {mac: _projected_end_of(chain, now) for mac, chain in device_chains(router, macs).items()}
    return {mac: end for mac, end in ends.items() if end is not None}


def _projected_end_of(chain: list[Grant], now: datetime) -> datetime | None:
    end: datetime | None = None
    for grant in chain:
        stopped_at = moment(grant.offline_since)
        own_start: datetime = grant.starts_at
        if end is None:
            if moment(grant.online_at) is None:
                start = now
            elif stopped_at is not None:
                start = own_start + (now - min(stopped_at, now))
            else:
                start = own_start
        else:
            start = end
        end = start + _length(grant)
    return end


def _credit(since: datetime, until: datetime) -> int:
    """Whole seconds to give back for ``since``..``until`` (rounded up: never a lost second)."""
    return max(0, math.ceil((until - since).total_seconds() - 1e-6))


def confirm_online(services: Services, router: str, mac: str, at: datetime) -> list[Grant]:
    """The router confirmed the device online at ``at``: start clocks, credit a fault's time."""
    return confirm_online_many(services, router, {mac: at})


def confirm_online_many(services: Services, router: str, online_at: Mapping[str, datetime]) -> list[Grant]:
    """:func:`confirm_online` for many devices of one router (``mac -> when``): their chains
    read in a few queries, their events written together, one Redis round trip. Run it
    inside a write transaction."""
    changed: list[Grant] = []
    with batched():
        for mac, chain in device_chains(router, online_at).items():
            changed.extend(_confirm_chain(services, router, chain, online_at[mac]))
    publish(services, changed)
    return changed


def _confirm_chain(services: Services, router: str, chain: list[Grant], at: datetime) -> list[Grant]:
    head = chain[0]
    if moment(head.online_at) is None:
        Grant.update(starts_at=at).where(Grant.id == head.id).execute()
        head.starts_at = at  # type: ignore[assignment]
        record(head.payment_id, "clock_started", services.clock, router=router, online_at=at.isoformat())
    unconfirmed = [grant for grant in chain if moment(grant.online_at) is None]
    if unconfirmed:
        Grant.update(online_at=at).where(Grant.id.in_([grant.id for grant in unconfirmed])).execute()
        for grant in unconfirmed:
            grant.online_at = at  # type: ignore[assignment]
    if moment(head.offline_since) is not None and not _resume(services, head, at, reason="back online"):
        chain = device_chain(router, head.mac)  # resumed by someone else meanwhile: as the ledger has it
    return _lay_out_chain(chain, at)


def resume_clock(services: Services, grant: Grant, at: datetime, *, reason: str) -> None:
    """End a fault's stop without the device being online (the router is back, the device
    is not around): credit the time up to ``at`` and let the clock run again."""
    if moment(grant.offline_since) is None:
        return
    _resume(services, grant, at, reason=reason)
    lay_out(services, grant.router, grant.mac, at)


def _resume(services: Services, grant: Grant, at: datetime, *, reason: str) -> bool:
    """Credit the stop of ``grant`` up to ``at`` (the ledger and ``grant`` itself); False if
    it was not stopped (any more)."""
    since = moment(grant.offline_since)
    if since is None:
        return False
    seconds = _credit(since, at)
    updated = (
        Grant.update(credited_seconds=Grant.credited_seconds + seconds, offline_since=None)
        .where(Grant.id == grant.id, Grant.offline_since == since)
        .execute()
    )
    if updated:
        grant.credited_seconds += seconds
        grant.offline_since = None  # type: ignore[assignment]
        record(
            grant.payment_id,
            "outage_credit",
            services.clock,
            seconds=seconds,
            offline_since=since.isoformat(),
            back_at=at.isoformat(),
            reason=reason,
            router=grant.router,
        )
        log.info("grant %s: %d s credited for a router fault on %s", grant.id, seconds, grant.router)
    return bool(updated)


def bank_stopped(services: Services, grant: Grant, now: datetime) -> None:
    """A stopped grant's provisional end came while its clock is still stopped: push it on.

    A grant never confirmed simply starts "now" again; one stopped by a fault has the
    time so far credited (an event) and stays stopped.
    """
    stopped_at = moment(grant.offline_since)
    if moment(grant.online_at) is not None and stopped_at is not None and stopped_at < now:
        seconds = _credit(stopped_at, now)
        Grant.update(credited_seconds=Grant.credited_seconds + seconds, offline_since=now).where(
            Grant.id == grant.id
        ).execute()
        record(
            grant.payment_id,
            "outage_credit",
            services.clock,
            seconds=seconds,
            offline_since=stopped_at.isoformat(),
            back_at=None,
            reason="router still not serving the device",
            router=grant.router,
        )
    lay_out(services, grant.router, grant.mac, now)


def stop_clock(services: Services, grant: Grant, since: datetime, *, reason: str) -> bool:
    """A router fault kept the device off since ``since``: stop the grant's clock there.

    A grant that ran out during the fault without our logout ever reaching the router is
    made active again: its customer lost the end of it too. True if the clock stopped.
    """
    started: datetime = grant.starts_at
    since = max(since, started)
    if grant.expires_at <= since:
        return False  # it was over before the fault began
    revived = grant.status != "active"
    updated = (
        Grant.update(offline_since=since, status="active", ended_at=None)
        .where(Grant.id == grant.id, Grant.offline_since.is_null(), Grant.online_at.is_null(False))
        .execute()
    )
    if not updated:
        return False
    record(
        grant.payment_id,
        "router_fault",
        services.clock,
        router=grant.router,
        reason=reason,
        offline_since=since.isoformat(),
        revived=revived or None,
    )
    if revived:  # a stop alone moves no window; a grant made active again joins the chain
        lay_out(services, grant.router, grant.mac, services.clock.now())
    return True
