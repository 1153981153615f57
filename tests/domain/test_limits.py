"""Push limits counted from the ledger's payment rows (real SQLite), not from Redis."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import peewee
import pytest

from portal.config import load_settings
from portal.domain import limits
from portal.domain.errors import TooManyRequests
from portal.ledger.models import Payment
from tests.backends import DATABASE_URL, query_plan

PHONE, MAC, SOURCE = "254712345678", "AA:BB:CC:00:00:01", "10.5.50.11"
LIMITS = {
    "phone_cooldown_seconds": 60,
    "phone_daily_cap": 3,
    "device_cooldown_seconds": 30,
    "device_daily_cap": 5,
    "global_pushes_per_minute": 6,
    "source_pushes_per_minute": 4,
    "shared_sources": ["192.168.88.0/24"],
}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"limits": LIMITS}


def pushed(
    package: Any, at: Any, *, phone: str = PHONE, mac: str = MAC, source: str = "", method: str = "mpesa"
) -> None:
    """A payment row as start_payment writes it just before the STK push."""
    Payment.create(
        public_id=secrets.token_urlsafe(12),
        package=package,
        router="main",
        mac=mac,
        ip="10.5.50.11",
        phone=phone,
        amount=package.price,
        source=source,
        method=method,
        created_at=at,
        updated_at=at,
    )


def refusal(services: Any, *, phone: str = PHONE, mac: str = MAC, source: str = SOURCE) -> tuple[str, Any] | None:
    try:
        limits.check_push(services, phone=phone, mac=mac, source=source, now=services.clock.now())
    except TooManyRequests as err:
        return err.key, err.params.get("seconds")
    return None


def test_cooldowns_come_from_the_newest_push_in_the_ledger(services: Any, package: Any, clock: Any) -> None:
    pushed(package, clock.now())
    clock.advance(20)
    assert refusal(services) == ("phone_cooldown", 41)
    assert refusal(services, phone="254722000111") == ("device_cooldown", 11)
    services.live.redis.flushall()  # Redis knows nothing of pushes: nothing changes
    assert refusal(services) == ("phone_cooldown", 41)
    clock.advance(41)
    assert refusal(services) is None


def test_daily_caps_count_the_last_24_hours_of_pushes(services: Any, package: Any, clock: Any) -> None:
    start = clock.now()
    for n in range(3):
        pushed(package, start + timedelta(hours=n), mac=f"AA:BB:CC:00:09:{n:02X}")
    clock.advance(3 * 3600)
    assert refusal(services) == ("phone_daily_cap", None)
    clock.set(start + timedelta(hours=24, seconds=1))  # the first push left the window
    assert refusal(services) is None
    for n in range(5):
        pushed(package, start + timedelta(hours=5 + n), phone=f"25472200{n:04d}")
    assert refusal(services, phone="254733000000") == ("device_daily_cap", None)


def test_payments_that_were_not_pushes_do_not_count(services: Any, package: Any, clock: Any) -> None:
    for method in ("voucher", "complimentary", "statement"):
        pushed(package, clock.now(), method=method)
    assert refusal(services) is None


def test_one_address_gets_its_share_and_the_rest_is_left_for_others(services: Any, package: Any, clock: Any) -> None:
    start = clock.now()
    for n in range(4):
        pushed(
            package,
            start + timedelta(seconds=n),
            phone=f"2547110000{n:02d}",
            mac=f"02:00:00:00:00:{n:02X}",
            source=SOURCE,
        )
    clock.advance(10)
    fresh = {"phone": "254722000111", "mac": "AA:BB:CC:00:00:77"}

    assert refusal(services, **fresh) == ("global_busy", 50)  # the first of the 4 leaves the minute at +60 s
    assert refusal(services, **fresh, source="10.5.50.12") is None  # another person's address
    assert refusal(services, **fresh, source="192.168.88.1") is None  # listed as shared
    assert refusal(services, **fresh, source="127.0.0.1") is None  # the router's own address: shared
    assert refusal(services, **fresh, source="") is None  # unknown (not from the web)
    for n in range(2):
        pushed(package, start + timedelta(seconds=5 + n), phone=f"2547220000{n:02d}", mac=f"02:00:00:00:01:{n:02X}")
    assert refusal(services, **fresh, source="10.5.50.12") == ("global_busy", 50)  # 6 of 6 in the minute


def test_is_shared_source(tmp_path: Any) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[limits]\nshared_sources = ["41.90.0.0/16"]\n[[routers]]\nname = "main"\nhost = "192.168.88.1"\n')
    settings = load_settings(path, environ={})

    assert [limits.is_shared_source(settings, s) for s in ("41.90.3.4", "192.168.88.1", "", "nonsense")] == [True] * 4
    assert [limits.is_shared_source(settings, s) for s in ("10.5.50.11", "41.91.0.1", "::1")] == [False] * 3


@pytest.mark.parametrize("key", ["phone", "mac", "source", None])
def test_every_count_is_one_index_range(services: Any, key: str | None) -> None:
    condition = getattr(Payment, key) == "x" if key else None
    sql, params = limits._pushes(condition, services.clock.now()).select(peewee.fn.COUNT(Payment.id)).sql()
    plan = query_plan(services.db, sql, params)
    if DATABASE_URL:  # PostgreSQL: an index on (…, created_at) serves the count
        assert "Index" in plan and "Seq Scan" not in plan and "created_at" in plan, plan
    else:
        assert "SEARCH" in plan and "SCAN" not in plan and "created_at>?" in plan, plan
