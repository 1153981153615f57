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
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from portal.domain.context import Services
from portal.ledger.bulk import update_each
from portal.ledger.models import Grant
from portal.ledger.prepared import Prepared, read_rows
from portal.ledger.queries import among
from portal.ledger.timeline import batched, record, record_many

log = logging.getLogger(__name__)


def moment(value: object) -> datetime | None:
    """A grant's optional time field as what it holds (peewee's field types hide the None)."""
    return value if isinstance(value, datetime) else None


_CHAIN: Prepared[Grant] = Prepared(
    lambda router, mac: (
        Grant.select()
        .where(Grant.router == router, Grant.mac == mac, Grant.status == "active")
        .order_by(Grant.starts_at, Grant.id)
    )
)


def device_chain(router: str, mac: str) -> list[Grant]:
    """The device's active grants in the order they run."""
    return _CHAIN.rows(router, mac)


def device_chains(router: str, macs: Iterable[str]) -> dict[str, list[Grant]]:
    """:func:`device_chain` for many devices, in one query."""
    chains: dict[str, list[Grant]] = {}
    wanted = list(dict.fromkeys(macs))
    if len(wanted) == 1:  # one device (a login): the query composed once
        chain = device_chain(router, wanted[0])
        return {wanted[0]: chain} if chain else {}
    if not wanted:
        return chains
    for grant in read_rows(
        Grant.select()
        .where(Grant.router == router, among(Grant.mac, wanted), Grant.status == "active")
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
    changed = _save_windows(_moved_windows(device_chain(router, mac), now))
    publish(services, changed)
    return changed


def _moved_windows(chain: list[Grant], now: datetime) -> list[tuple[Grant, datetime, datetime]]:
    """The windows of one device's chain that move: (grant, new start, new end).

    The first grant keeps its start if its clock runs or is stopped by a fault; one never
    confirmed starts "now" (provisionally). Every later grant starts when the one before
    it ends.
    """
    moved: list[tuple[Grant, datetime, datetime]] = []
    previous_end: datetime | None = None
    for grant in chain:
        if previous_end is not None:
            start = previous_end
        elif moment(grant.online_at) is None:
            start = now
        else:
            start = grant.starts_at
        end = start + _length(grant)
        previous_end = end
        if (start, end) != (grant.starts_at, grant.expires_at):
            moved.append((grant, start, end))
    return moved


def _save_windows(moved: list[tuple[Grant, datetime, datetime]]) -> list[Grant]:
    """Write the moved windows (one statement for all of them) and return their grants."""
    update_each(Grant, (Grant.starts_at, Grant.expires_at), ((start, end, grant.id) for grant, start, end in moved))
    for grant, start, end in moved:
        grant.starts_at, grant.expires_at = start, end  # type: ignore[assignment]
    return [grant for grant, _start, _end in moved]


def projected_end(router: str, mac: str, now: datetime) -> datetime | None:
    """When the device's time would end if it were confirmed online ``now`` (router backstop)."""
    return _projected_end_of(device_chain(router, mac), now)


def projected_ends(
    router: str, macs: Iterable[str], now: datetime, chains: Mapping[str, list[Grant]] | None = None
) -> dict[str, datetime]:
    """:func:`projected_end` for many devices (those with time left), in a few queries, or
    from their ``chains`` when the caller has just read them."""
    if chains is None:
        chains = device_chains(router, macs)
    else:
        chains = {mac: chains[mac] for mac in macs if mac in chains}
    ends = {mac: _projected_end_of(chain, now) for mac, chain in chains.items()}
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
    """:func:`confirm_online` for many devices of one router (``mac -> when``): a few
    statements for all of them (a reboot's thousands), their events written together, one
    Redis round trip. Run it inside a write transaction."""
    with batched():
        chains = device_chains(router, online_at)
        stopped = [(chain[0], online_at[mac]) for mac, chain in chains.items() if moment(chain[0].offline_since)]
        resumed = _resume_many(services, stopped, reason="back online")
        for head, _at in stopped:
            if head.id not in resumed:  # resumed by someone else meanwhile: as the ledger has it
                chains[head.mac] = device_chain(router, head.mac)
        moved: list[tuple[Grant, datetime, datetime]] = []
        starting: dict[datetime, list[int]] = defaultdict(list)  # clocks that start: when -> grant ids
        for mac, chain in chains.items():
            at = online_at[mac]
            moved.extend(_moved_windows(chain, at))  # a head never confirmed starts at ``at``
            if moment(chain[0].online_at) is None:
                record(chain[0].payment_id, "clock_started", services.clock, router=router, online_at=at.isoformat())
            for grant in chain:
                if moment(grant.online_at) is None:
                    grant.online_at = at  # type: ignore[assignment]
                    starting[at].append(grant.id)
        update_each(Grant, (Grant.online_at,), ((at, grant_id) for at, ids in starting.items() for grant_id in ids))
        changed = _save_windows(moved)
    publish(services, changed)
    return changed


def resume_clock(services: Services, grant: Grant, at: datetime, *, reason: str) -> None:
    """End a fault's stop without the device being online (the router is back, the device
    is not around): credit the time up to ``at`` and let the clock run again."""
    if moment(grant.offline_since) is None:
        return
    _resume_many(services, [(grant, at)], reason=reason)
    lay_out(services, grant.router, grant.mac, at)


def _resume_many(services: Services, stops: list[tuple[Grant, datetime]], *, reason: str) -> set[int]:
    """Credit each stopped grant's stop up to its moment (the ledger and the grant itself);
    returns the ids of those resumed (one no longer stopped, resumed by someone else, is
    not). One statement per distinct stop and credit: after a reboot, nearly all share both."""
    groups: dict[tuple[datetime, int, datetime], list[Grant]] = defaultdict(list)
    for grant, at in stops:
        since = moment(grant.offline_since)
        if since is not None:
            groups[(since, _credit(since, at), at)].append(grant)
    resumed: set[int] = set()
    for (since, seconds, at), grants in groups.items():
        done = {
            grant_id
            for (grant_id,) in Grant.update(credited_seconds=Grant.credited_seconds + seconds, offline_since=None)
            .where(among(Grant.id, [grant.id for grant in grants]), Grant.offline_since == since)
            .returning(Grant.id)
            .tuples()  # ids only: no model built per row of a reboot's thousands
        }
        credited = [grant for grant in grants if grant.id in done]
        for grant in credited:
            grant.credited_seconds += seconds
            grant.offline_since = None  # type: ignore[assignment]
        _record_credits(services, credited, seconds, since, at, reason)
        resumed |= done
        if seconds:
            log.info("%d grant(s): %d s credited each for a router fault (%s)", len(grants), seconds, reason)
    return resumed


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
        _record_credits(services, [grant], seconds, stopped_at, None, "router still not serving the device")
    lay_out(services, grant.router, grant.mac, now)


def _record_credits(
    services: Services, grants: Iterable[Grant], seconds: int, since: datetime, back_at: datetime | None, reason: str
) -> None:
    """The ``outage_credit`` event of each grant: ``seconds`` given back for the stop from
    ``since`` (to ``back_at``, None while the device is still not back)."""
    by_router: dict[str, list[int]] = defaultdict(list)
    for grant in grants:
        by_router[grant.router].append(grant.payment_id)
    for router, payment_ids in by_router.items():
        record_many(
            payment_ids,
            "outage_credit",
            services.clock,
            seconds=seconds,
            offline_since=since.isoformat(),
            back_at=None if back_at is None else back_at.isoformat(),
            reason=reason,
            router=router,
        )


def stop_clock(services: Services, grant: Grant, since: datetime, *, reason: str) -> bool:
    """A router fault kept the device off since ``since``: stop the grant's clock there.

    A grant that ran out during the fault without our logout ever reaching the router is
    made active again: its customer lost the end of it too. True if the clock stopped.
    """
    return bool(stop_clocks(services, [grant], since, reason=reason))


def stop_clocks(services: Services, grants: list[Grant], since: datetime, *, reason: str) -> int:
    """:func:`stop_clock` for many grants (a reboot's): one statement per distinct start of
    the stop. Returns how many clocks stopped."""
    groups: dict[datetime, list[Grant]] = defaultdict(list)
    for grant in grants:
        started: datetime = grant.starts_at
        at = max(since, started)
        if grant.expires_at > at:  # else it was over before the fault began
            groups[at].append(grant)
    stopped = 0
    running = (Grant.offline_since.is_null()) & (Grant.online_at.is_null(False))
    for at, members in groups.items():
        done = {
            grant_id
            for (grant_id,) in Grant.update(offline_since=at, status="active", ended_at=None)
            .where(among(Grant.id, [grant.id for grant in members]), running)
            .returning(Grant.id)
            .tuples()
        }
        stopped_now = [grant for grant in members if grant.id in done]
        revived = [grant for grant in stopped_now if grant.status != "active"]  # ran out in the fault
        faults: dict[tuple[str, bool], list[int]] = defaultdict(list)  # (router, revived) -> payments
        for grant in stopped_now:
            faults[(grant.router, grant.status != "active")].append(grant.payment_id)
        for (router, made_active), payment_ids in faults.items():
            record_many(
                payment_ids,
                "router_fault",
                services.clock,
                router=router,
                reason=reason,
                offline_since=at.isoformat(),
                revived=made_active or None,
            )
        for grant in revived:  # a stop alone moves no window; a grant made active again joins the chain
            lay_out(services, grant.router, grant.mac, services.clock.now())
        stopped += len(done)
    return stopped
