"""Watching each router for the faults that cost customers paid time: reboots and outages.

The worker probes every router often (:func:`probe`, one cheap ``/system/resource`` read):
its uptime tells when it booted, so a boot later than the last one seen is a reboot; a
failed probe starts an outage. When the router answers again after either,
:func:`stop_clocks_after_fault` stops the clock of every grant whose device the router no
longer serves (a session that outlived the fault proves the customer was served), from the
moment the fault began; reconciliation then logs them back in, and the time between is
credited (:mod:`portal.domain.grant_clock`).

When a fault began is known only between two facts: the router last answered at
``last_ok_at``, and it was down by the first failed probe (``down_since``) or by its boot
(``boot_at``). We take the earlier one, the router's last sign of life: a customer never
loses a paid second, and with a probe every second gets at most that second extra.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.domain.context import Services
from portal.domain.grant_clock import stop_clocks
from portal.ledger.database import write_transaction
from portal.ledger.models import Grant, RouterLink
from portal.ledger.prepared import read_rows
from portal.ledger.timeline import batched
from router import RouterError

log = logging.getLogger(__name__)

#: After a fault, devices that are not back on the hotspot yet keep their clock stopped this
#: long (phones reappear within seconds of a boot); then their time runs again.
RECOVERY_GRACE_SECONDS = 60
REBOOT_TOLERANCE = timedelta(seconds=2)  # uptime is whole seconds; boot times jitter by one


@dataclass(frozen=True)
class Watch:
    """What one probe found."""

    reachable: bool
    fault_since: datetime | None = None  # a fault that just ended began then
    reason: str = ""
    recovering: bool = False  # within the grace after a fault: reconcile on every probe
    reconciled: bool = False  # a full reconciliation (strangers too) ran after this probe


def probe(services: Services, name: str) -> Watch:
    """Ask the router for its uptime and compare with what was seen before."""
    router = services.router(name)
    now = services.clock.now()
    link = RouterLink.get_or_none(RouterLink.router == name)
    if link is None:
        link = RouterLink.create(router=name)
    if router is None:
        return Watch(False)
    try:
        uptime = router.system_uptime()
    except RouterError as err:
        if link.down_since is None:
            RouterLink.update(down_since=now).where(RouterLink.router == name).execute()
            log.warning("router %s unreachable: %s", name, err.message)
        return Watch(False)
    boot_at = now - timedelta(seconds=uptime)
    fault_since: datetime | None = None
    reason = ""
    last_ok = link.last_ok_at
    if link.boot_at is not None and boot_at > link.boot_at + REBOOT_TOLERANCE:
        fault_since = last_ok or min(boot_at, link.down_since or boot_at)
        reason = "router rebooted"
    elif link.down_since is not None:
        fault_since, reason = last_ok or link.down_since, "router unreachable"
    recovered_at = now if fault_since is not None else link.recovered_at
    RouterLink.update(last_ok_at=now, boot_at=boot_at, down_since=None, recovered_at=recovered_at).where(
        RouterLink.router == name
    ).execute()
    if fault_since is not None:
        log.warning("router %s is back (%s since %s)", name, reason, fault_since.isoformat())
    recovering = recovered_at is not None and now < recovered_at + timedelta(seconds=RECOVERY_GRACE_SECONDS)
    return Watch(True, fault_since, reason, recovering)


def stop_clocks_after_fault(services: Services, name: str, since: datetime, reason: str) -> int:
    """Stop the clock of every grant on ``name`` whose device lost its session in the fault.

    Raises RouterError if the router cannot list its sessions (try again next probe).
    """
    router = services.router(name)
    if router is None:
        return 0
    now = services.clock.now()
    served = {
        mac
        for mac, uptime in router.session_uptimes().items()
        if now - timedelta(seconds=uptime) <= since + timedelta(seconds=1)
    }
    # What finding the heads and stopping their clocks reads of each of a reboot's thousands
    # (the other columns cost their conversions for nothing).
    columns = (Grant.id, Grant.payment, Grant.router, Grant.mac, Grant.starts_at, Grant.expires_at, Grant.status)
    running = Grant.select(*columns).where(
        Grant.router == name,
        Grant.status == "active",
        Grant.online_at.is_null(False),
        Grant.offline_since.is_null(),
        Grant.starts_at < now,
    )
    # Ended during the fault without our logout reaching the router: its customer lost the
    # end of it. One that was over when the fault began (a stacked purchase handed over to
    # the next at that very second) is not the one running: the next one is.
    ended_in_fault = Grant.select(*columns).where(
        Grant.router == name,
        Grant.status == "expired",
        Grant.ended_at >= since,
        Grant.expires_at > since,
        Grant.router_state != "removed",
        Grant.online_at.is_null(False),
    )
    heads: dict[str, Grant] = {}
    for grant in [*read_rows(running), *read_rows(ended_in_fault)]:
        if grant.mac in served:
            continue
        current = heads.get(grant.mac)
        if current is None or (grant.starts_at, grant.id) < (current.starts_at, current.id):
            heads[grant.mac] = grant  # only the grant that was running: the ones after it move with it
    with write_transaction(services.db), batched():
        stopped = stop_clocks(services, list(heads.values()), since, reason=reason)
    if stopped:
        log.warning("router %s: %d customer(s) lost their session (%s); their time is kept", name, stopped, reason)
    return stopped


def recovery_window_over(services: Services, name: str, now: datetime) -> bool:
    """True when the grace after the router's last fault has passed (or there was none)."""
    link = RouterLink.get_or_none(RouterLink.router == name)
    if link is None or link.recovered_at is None:
        return True
    return now >= link.recovered_at + timedelta(seconds=RECOVERY_GRACE_SECONDS)


def remember_fault(name: str, since: datetime) -> None:
    """The fault could not be handled (the router failed again): keep it for the next probe."""
    RouterLink.update(down_since=since).where(RouterLink.router == name).execute()
