"""Router reconciliation: make each router match the ledger in both directions.

After a reboot or drift: our users the ledger no longer covers are removed, paying
devices the router forgot are logged in again. Users without our comment prefix (the
owner's own) are never touched. Each pass first probes the router
(:mod:`portal.domain.router_watch`), so a reboot or an outage found there stops the clocks
of the customers it cut off before they are restored; their time is credited back.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import NamedTuple

from portal.domain.context import Services
from portal.domain.grant_clock import confirm_online, confirm_online_many, device_chains, moment, resume_clock
from portal.domain.observe import record_first_logins
from portal.domain.outbox import device_grants, device_lock, devices_with_time, logins_done, queue, run_outbox_item
from portal.domain.router_watch import Watch, probe, recovery_window_over, remember_fault, stop_clocks_after_fault
from portal.ledger.database import write_transaction
from portal.ledger.models import Grant, Payment
from portal.ledger.queries import among
from portal.ledger.timeline import batched, record_many
from router import RouterError

log = logging.getLogger(__name__)


def reconcile_router(services: Services, name: str, *, strangers: bool = True) -> dict[str, int]:
    """Make one router match the ledger in both directions. Raises RouterError if unreachable.

    ``strangers=False`` only puts paying devices back (the passes while a router recovers:
    its users did not change, and listing them all on every probe is what a reboot of
    thousands of customers cannot afford); the regular pass removes strangers.
    """
    router = services.router(name)
    if router is None:
        return {}
    now = services.clock.now()
    # The router first, then the ledger: a grant is committed before its router user is
    # made, so a user of ours seen here has its grant in the ledger read after it (read the
    # other way round, a purchase landing in between was removed as a stranger).
    users = router.managed_users() if strangers else []
    online = router.session_uptimes()
    heads = _running_heads(name, now)
    removed = _remove_strangers(services, name, {user.mac for user in users if user.mac and user.mac not in heads})
    grace_over = recovery_window_over(services, name, now)
    lost_macs: list[str] = []
    for mac, head in heads.items():
        if mac in online:
            if head.never_online or head.stopped:
                with write_transaction(services.db):  # back by itself (cookie, MAC login), or a
                    # login whose process died before recording it: online since its login
                    confirm_online(services, name, mac, _logged_in_at(head.id, now, online[mac]))
        elif not _ran_out(head):
            lost_macs.append(mac)
    chains = device_chains(name, lost_macs)  # read once: their heads, and their ends for the router
    lost = [chains[mac][0] for mac in lost_macs if mac in chains]
    # Customers a fault cut off (their clocks stopped) come back in one pass, and with them
    # the purchases whose first login is still waiting (paid while the router booted); a
    # device that walked away is not looked for in every pass's full listings.
    stopped = [grant for grant in lost if moment(grant.offline_since) is not None]
    waiting = [grant for grant in lost if moment(grant.online_at) is None] if stopped else []
    restored = _restore_in_one_pass(services, name, stopped + waiting, now, chains)
    for grant in lost:
        if grant.mac in restored:
            continue
        mac = grant.mac
        host = router.host_for_mac(mac)
        if host is None:
            if grant.offline_since is not None and grace_over:
                resume_clock(services, grant, now, reason="router back; device not on the hotspot")
            continue  # device is away; it gets logged in when it comes back to the splash page
        if host.ip != grant.ip:
            Grant.update(ip=host.ip).where(Grant.id == grant.id).execute()
        item = queue(Grant.get_by_id(grant.id), "authorize", now)
        if run_outbox_item(services, item):
            restored.add(mac)
    return {"removed": removed, "restored": len(restored)}


def _remove_strangers(services: Services, name: str, macs: set[str]) -> int:
    """Remove the router users of ours whose device has no time left, all in a few commands
    (a grant that ended while its logout was on its way shows up here too); returns how many.

    Under the devices' locks: a purchase logged in by the web process meanwhile is either
    seen here (kept) or logs in after this removal; a device whose lock is busy waits for
    the next pass.
    """
    router = services.router(name)
    if router is None or not macs:
        return 0
    locks = {device_lock(name, mac): mac for mac in sorted(macs)}
    with services.live.take_locks(locks) as taken:
        mine = [mac for lock, mac in locks.items() if lock in taken]
        kept = devices_with_time(name, mine)
        gone = [mac for mac in mine if mac not in kept]
        if gone:
            router.revoke_many(gone)
    return len(gone)


def clocks_stopped(name: str) -> bool:
    """Whether a fault on ``name`` still keeps a customer's clock stopped (a device not back yet)."""
    return (
        Grant.select()
        .where(Grant.router == name, Grant.status == "active", Grant.offline_since.is_null(False))
        .exists()
    )


class _Head(NamedTuple):
    """What a pass needs of a device's running grant, its times compared by the database:
    thousands a pass, read without making a model or a datetime of any."""

    id: int
    never_online: bool
    stopped: bool  # its clock stopped by a fault
    past_end: bool


def _running_heads(name: str, now: datetime) -> dict[str, _Head]:
    """MAC -> its running grant (the first of a stack) on router ``name``."""
    heads: dict[str, _Head] = {}
    rows = (
        Grant.select(
            Grant.id,
            Grant.mac,
            Grant.online_at.is_null(),
            Grant.offline_since.is_null(False),
            Grant.expires_at <= now,
        )
        .where(Grant.router == name, Grant.status == "active")
        .order_by(Grant.starts_at, Grant.id)
        .tuples()
    )
    for grant_id, mac, never_online, stopped, past_end in rows:
        if mac not in heads:
            heads[mac] = _Head(grant_id, bool(never_online), bool(stopped), bool(past_end))
    return heads


def _ran_out(head: _Head) -> bool:
    """A running grant already past its end: the expiry timer logs it out, nobody logs it in."""
    return not head.never_online and not head.stopped and head.past_end


def _restore_in_one_pass(
    services: Services, name: str, grants: list[Grant], now: datetime, chains: dict[str, list[Grant]]
) -> set[str]:
    """Log the devices of ``grants`` back in with one router pass (after a reboot most are the
    plain case: our user is there, the session is gone); their clocks run again from now,
    or start now for a purchase never logged in (its waiting logins are done). Returns
    their MACs; the rest go through the outbox one by one.

    Each device's lock is held from the router pass to the ledger's record of it, as an
    outbox item holds it: a device whose purchase the web process is logging in right now
    is left to that login (its limit covers the new purchase; the one computed here would
    not), and one whose lock is busy waits for the next pass.
    """
    router = services.router(name)
    if router is None or not grants:
        return set()
    locks = {device_lock(name, grant.mac): grant for grant in grants}
    first_logins: list[int] = []  # payments logged in for the first time

    def record(macs: list[str]) -> None:
        """A part the router confirmed online, recorded while it logs the next part in."""
        online_at = services.clock.now()
        confirmed = set(macs)
        back = [grant for grant in mine if grant.mac in confirmed]
        first = {grant.id for grant in back if moment(grant.online_at) is None}
        with write_transaction(services.db), batched():
            Grant.update(router_state="online").where(among(Grant.id, [grant.id for grant in back])).execute()
            logins_done(first, online_at)
            confirm_online_many(services, name, dict.fromkeys(macs, online_at))
            for after, payment_ids in (
                ("login waiting", [grant.payment_id for grant in back if grant.id in first]),
                ("session lost", [grant.payment_id for grant in back if grant.id not in first]),
            ):
                record_many(payment_ids, "router_authorized", services.clock, router=name, restored_after=after)
        first_logins.extend(grant.payment_id for grant in back if grant.id in first)

    with services.live.take_locks(locks) as taken:
        mine = [grant for lock, grant in locks.items() if lock in taken]
        restored = set(router.restore_many(device_grants(name, mine, now, chains), record))
    record_first_logins(services, first_logins)
    return restored


def _logged_in_at(grant_id: int, now: datetime, uptime_seconds: int) -> datetime:
    """When a session found live began, never before the grant was paid for (a session of an
    earlier purchase the router still runs is this one's only from its payment)."""
    login = now - timedelta(seconds=uptime_seconds)
    paid_at = Payment.get_by_id(Grant.get_by_id(grant_id).payment_id).paid_at
    return max(login, paid_at) if isinstance(paid_at, datetime) else now


def watch_and_reconcile(services: Services, name: str, *, reconcile: bool = True) -> Watch:
    """Probe the router; after a fault stop the clocks it cost, then reconcile when asked
    to (or always after a fault, and while the router recovers). Never raises for router
    trouble. The answer says whether a full reconciliation ran (the regular one can wait)."""
    watch = probe(services, name)
    if not watch.reachable:
        return watch
    try:
        if watch.fault_since is not None:
            try:
                stop_clocks_after_fault(services, name, watch.fault_since, watch.reason)
            except RouterError:
                remember_fault(name, watch.fault_since)  # found again on the next probe
                raise
        if reconcile or watch.fault_since is not None:
            reconcile_router(services, name)
            return replace(watch, reconciled=True)
        if watch.recovering and clocks_stopped(name):  # devices coming back after the fault:
            reconcile_router(services, name, strangers=False)  # put them back at once
    except RouterError as err:
        log.warning("reconcile %s skipped: %s", name, err.message)
    return watch


def reconcile_routers(services: Services) -> int:
    """Probe and reconcile every router; an unreachable one is skipped this round."""
    fixed = 0
    for name in services.routers:
        watch = watch_and_reconcile(services, name)
        fixed += int(watch.fault_since is not None)
    return fixed
