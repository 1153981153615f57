"""Grants: paid time for one device, in the ledger, in Redis, and on the router.

A *grant* is what customers and owners call a *session*: one purchase's access for one
device. Its clock starts when the router confirms the device online and is stopped by
router faults (:mod:`portal.domain.grant_clock`). The ledger row is the truth; its live
mirror in Redis is a :class:`~portal.live.LiveGrant` (the worker's expiry timer follows
it); the router is told through the outbox.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import NamedTuple

from portal.domain.context import Services
from portal.domain.errors import NotFound
from portal.domain.grant_clock import device_chain, lay_out, publish
from portal.domain.outbox import queue, run_outbox_item
from portal.ledger.models import Grant, OutboxItem, Package, Payment
from portal.ledger.prepared import create, get_by_id
from portal.ledger.queries import active_grant_for_device
from portal.ledger.timeline import record

log = logging.getLogger(__name__)


def grant_by_id(grant_id: int) -> Grant:
    """Raises NotFound (``grant_not_found``)."""
    grant = Grant.get_or_none(Grant.id == grant_id)
    if grant is None:
        raise NotFound("grant_not_found")
    return grant


class NewGrant(NamedTuple):
    """A grant just created and the router login queued for it (run it after the commit)."""

    grant: Grant
    login: OutboxItem


def create_for_payment(services: Services, payment: Payment, now: datetime, *, seconds: int | None = None) -> NewGrant:
    """Create the grant for a payment that just became paid (call inside its transaction).

    It gives ``seconds`` (default: the package's duration) of time counted from the moment
    the router confirms the device online; until then its window is provisional and the
    customer sees "paid, connecting". A second purchase for a device that still has time
    is stacked after the current grant, so a double payment extends the session instead
    of being lost. Queues the router authorization; the caller publishes it to Redis
    (:func:`publish_live`) after the commit and runs the outbox item (``login``; it is read
    again under the device's lock, so one the worker ran meanwhile is not run twice).
    """
    package = get_by_id(Package, payment.package_id)
    length = package.duration_seconds if seconds is None else seconds
    chain = device_chain(payment.router, payment.mac)
    previous_end: datetime = chain[-1].expires_at if chain else now
    starts_at = max(now, previous_end)
    grant = create(
        Grant,
        payment=payment,
        package=package,
        router=payment.router,
        mac=payment.mac,
        ip=payment.ip,
        starts_at=starts_at,
        expires_at=starts_at + timedelta(seconds=length),
        granted_seconds=length,
    )
    if chain:
        current = chain[-1]
        record(
            payment.id,
            "extended",
            services.clock,
            previous_grant=current.id,
            previous_payment=current.payment_id,
            new_expiry=grant.expires_at.isoformat(),
        )
    return NewGrant(grant, queue(grant, "authorize", now))


def publish_live(services: Services, grant: Grant) -> None:
    publish(services, [grant])


def end_grant(services: Services, grant: Grant, *, reason: str) -> bool:
    """End a grant before its time (admin kick). True if it was active."""
    now = services.clock.now()
    changed = (
        Grant.update(status="revoked", ended_at=now).where(Grant.id == grant.id, Grant.status == "active").execute()
    )
    services.live.drop_session(grant.id, grant.router, grant.mac)
    if changed:
        record(grant.payment_id, "revoked", services.clock, reason=reason)
        lay_out(services, grant.router, grant.mac, now)  # a purchase stacked behind it moves up
        item = queue(grant, "revoke", now)
        run_outbox_item(services, item)
    return bool(changed)


def extend_grant(services: Services, grant: Grant, seconds: int, *, reason: str) -> Grant:
    """Give an active grant more time (admin goodwill) and refresh the router backstop."""
    now = services.clock.now()
    if grant.expires_at <= now and grant.running:
        # Ran out but not ended yet: the extension counts from now, as before.
        grant.granted_seconds += round((now - grant.expires_at).total_seconds())
    Grant.update(granted_seconds=grant.granted_seconds + seconds).where(Grant.id == grant.id).execute()
    lay_out(services, grant.router, grant.mac, now)
    grant = Grant.get_by_id(grant.id)
    publish_live(services, grant)
    record(grant.payment_id, "extended_by_admin", services.clock, seconds=seconds, reason=reason)
    item = queue(grant, "authorize", now)
    run_outbox_item(services, item)
    return grant


def resume_device(services: Services, router: str, mac: str, ip: str) -> Grant | None:
    """A device with time left came back to the splash page: log it in again."""
    now = services.clock.now()
    grant = active_grant_for_device(router, mac, now)
    if grant is None:
        return None
    if grant.ip != ip:
        Grant.update(ip=ip).where(Grant.id == grant.id).execute()
        grant = Grant.get_by_id(grant.id)
    pending = (
        OutboxItem.select()
        .where(OutboxItem.grant == grant, OutboxItem.action == "authorize", OutboxItem.done_at.is_null())
        .first()
    )
    item = pending or queue(grant, "authorize", now)
    run_outbox_item(services, item)
    return grant
