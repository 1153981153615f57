"""Grants: paid time for one device, in the ledger, in Redis, and on the router.

A *grant* is what customers and owners call a *session*: one purchase's access for one
device until ``expires_at`` (wall clock). The ledger row is the truth; its live mirror in
Redis is a :class:`~portal.live.LiveGrant`; the router is told through the outbox.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from portal.domain.context import Services
from portal.domain.errors import NotFound
from portal.domain.outbox import queue, run_outbox_item
from portal.ledger.models import Grant, OutboxItem, Payment
from portal.ledger.queries import active_grant_for_device
from portal.ledger.timeline import record

log = logging.getLogger(__name__)


def _later(first: datetime, second: datetime) -> datetime:
    return first if first >= second else second


def grant_by_id(grant_id: int) -> Grant:
    """Raises NotFound (``grant_not_found``)."""
    grant = Grant.get_or_none(Grant.id == grant_id)
    if grant is None:
        raise NotFound("grant_not_found")
    return grant


def create_for_payment(services: Services, payment: Payment, now: datetime) -> Grant:
    """Create the grant for a payment that just became paid (call inside its transaction).

    A second purchase for a device that still has time is stacked after the current
    grant, so a double payment extends the session instead of being lost.
    """
    package = payment.package
    current = active_grant_for_device(payment.router, payment.mac, now)
    starts_at = _later(now, current.expires_at) if current else now
    grant = Grant.create(
        payment=payment,
        package=package,
        router=payment.router,
        mac=payment.mac,
        ip=payment.ip,
        starts_at=starts_at,
        expires_at=starts_at + timedelta(seconds=package.duration_seconds),
    )
    if current is not None:
        record(
            payment.id,
            "extended",
            services.clock,
            previous_grant=current.id,
            previous_payment=current.payment_id,
            new_expiry=grant.expires_at.isoformat(),
        )
    queue(grant, "authorize", now)
    return grant


def publish_live(services: Services, grant: Grant) -> None:
    services.live.put_session(grant.id, grant.router, grant.mac, grant.expires_at)


def end_grant(services: Services, grant: Grant, *, reason: str) -> bool:
    """End a grant before its time (admin kick). True if it was active."""
    now = services.clock.now()
    changed = (
        Grant.update(status="revoked", ended_at=now).where(Grant.id == grant.id, Grant.status == "active").execute()
    )
    services.live.drop_session(grant.id, grant.router, grant.mac)
    if changed:
        record(grant.payment_id, "revoked", services.clock, reason=reason)
        item = queue(grant, "revoke", now)
        run_outbox_item(services, item.id)
    return bool(changed)


def extend_grant(services: Services, grant: Grant, seconds: int, *, reason: str) -> Grant:
    """Give an active grant more time (admin goodwill) and refresh the router backstop."""
    now = services.clock.now()
    new_expiry = _later(grant.expires_at, now) + timedelta(seconds=seconds)
    Grant.update(expires_at=new_expiry).where(Grant.id == grant.id).execute()
    grant = Grant.get_by_id(grant.id)
    publish_live(services, grant)
    record(grant.payment_id, "extended_by_admin", services.clock, seconds=seconds, reason=reason)
    item = queue(grant, "authorize", now)
    run_outbox_item(services, item.id)
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
    run_outbox_item(services, item.id)
    return grant
