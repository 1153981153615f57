"""Grants made directly in the ledger for the worker and grant-clock tests (no M-Pesa round
trip: not what those tests are about), confirmed online on the RouterOS emulator over TCP."""

from __future__ import annotations

from typing import Any

from portal.domain import grants
from portal.domain.outbox import process_outbox
from portal.ledger.models import Grant, Payment

_numbers = iter(range(1, 100_000))


def _paid_grant(services: Any, package: Any, router: str, mac: str, ip: str, seconds: int) -> Grant:
    n = next(_numbers)
    now = services.clock.now()
    with services.db.atomic():
        payment = Payment.create(
            public_id=f"t{n}",
            package=package,
            router=router,
            mac=mac,
            ip=ip,
            phone="254712345678",
            amount=package.price,
            status="paid",
            created_at=now,
            updated_at=now,
            paid_at=now,
        )
        grant, _login = grants.create_for_payment(services, payment, now, seconds=seconds)
    grants.publish_live(services, grant)
    return grant


def unconfirmed_grant(services: Any, package: Any, emulator: Any, *, seconds: int, router: str = "main") -> Grant:
    """A paid grant for a device on the Wi-Fi, before any router login."""
    n = next(_numbers)
    mac, ip = f"AA:BB:CC:01:{n // 256:02X}:{n % 256:02X}", f"10.6.{n // 250}.{n % 250 + 2}"
    emulator.device_join(mac, ip)
    return _paid_grant(services, package, router, mac, ip, seconds)


def grant_now(services: Any, package: Any, emulator: Any, *, seconds: int, router: str = "main") -> Grant:
    """A paid grant confirmed online on the router (no M-Pesa round trip: not what is tested)."""
    grant = unconfirmed_grant(services, package, emulator, seconds=seconds, router=router)
    process_outbox(services)
    grant = Grant.get_by_id(grant.id)
    assert grant.online_at == services.clock.now() and emulator.is_online(grant.mac)
    return grant


def stacked_purchase(services: Any, current: Grant, *, seconds: int) -> Grant:
    """A second purchase for the device of ``current`` while it has time left."""
    grant = _paid_grant(services, current.package, current.router, current.mac, current.ip, seconds)
    process_outbox(services)
    return Grant.get_by_id(grant.id)
