"""Router reconciliation: make each router match the ledger in both directions.

After a reboot or drift: our users the ledger no longer covers are removed, paying
devices the router forgot are logged in again. Users without our comment prefix (the
owner's own) are never touched.
"""

from __future__ import annotations

import logging

from portal.domain.context import Services
from portal.domain.outbox import queue, run_outbox_item
from portal.ledger.models import Grant
from router import RouterError

log = logging.getLogger(__name__)


def reconcile_router(services: Services, name: str) -> dict[str, int]:
    """Make one router match the ledger in both directions. Raises RouterError if unreachable."""
    router = services.router(name)
    if router is None:
        return {}
    now = services.clock.now()
    active = {
        g.mac: g
        for g in Grant.select()
        .where(Grant.router == name, Grant.status == "active", Grant.expires_at > now)
        .order_by(Grant.expires_at)
    }
    removed = restored = 0
    for user in router.managed_users():
        if user.mac and user.mac not in active:
            router.revoke(user.mac)
            removed += 1
    online = {s.mac for s in router.active_sessions()}
    for mac, grant in active.items():
        if mac in online:
            continue
        host = router.host_for_mac(mac)
        if host is None:
            continue  # device is away; it gets logged in when it comes back to the splash page
        if host.ip != grant.ip:
            Grant.update(ip=host.ip).where(Grant.id == grant.id).execute()
        item = queue(Grant.get_by_id(grant.id), "authorize", now)
        if run_outbox_item(services, item.id):
            restored += 1
    return {"removed": removed, "restored": restored}


def reconcile_routers(services: Services) -> int:
    """Reconcile every router; an unreachable one is skipped this round. Returns the fixes."""
    fixed = 0
    for name in services.routers:
        try:
            result = reconcile_router(services, name)
        except RouterError as err:
            log.warning("reconcile %s skipped: %s", name, err.message)
            continue
        fixed += sum(result.values())
    return fixed
