"""Queries composed once (portal/ledger/prepared.py): the same rows as peewee's own, fewer SQL compositions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import peewee
import pytest

from portal.ledger.models import Grant, Package, Payment, create_tables
from portal.ledger.prepared import Prepared, by_id, create, get_by_id, read_rows

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def grants(db: peewee.Database) -> list[Grant]:
    create_tables()
    package = Package.create(name="1 hour", price=20, duration_seconds=3600, created_at=NOW)
    made = []
    for n in range(6):
        payment = Payment.create(
            public_id=f"p{n}", package=package, router="main", mac=f"AA:00:00:00:00:0{n % 2}", ip="10.0.0.2",
            phone="254700000000", amount=20, status="paid", created_at=NOW, updated_at=NOW, paid_at=NOW,
        )  # fmt: skip
        start = NOW + timedelta(minutes=10 * n)
        made.append(
            Grant.create(
                payment=payment,
                package=package,
                router="main",
                mac=payment.mac,
                ip=payment.ip,
                starts_at=start,
                expires_at=start + timedelta(hours=1),
                granted_seconds=3600,
                status="active" if n < 5 else "expired",
            )
        )
    return made


CHAIN: Prepared[Grant] = Prepared(
    lambda router, mac: (
        Grant.select()
        .where(Grant.router == router, Grant.mac == mac, Grant.status == "active")
        .order_by(Grant.starts_at, Grant.id)
    )
)


def test_rows_are_the_ones_peewee_reads_with_the_values_bound_each_run(grants):
    for mac in ("AA:00:00:00:00:00", "AA:00:00:00:00:01", "AA:00:00:00:00:09"):
        expected = list(
            Grant.select()
            .where(Grant.router == "main", Grant.mac == mac, Grant.status == "active")
            .order_by(Grant.starts_at, Grant.id)
        )
        found = CHAIN.rows("main", mac)
        assert [grant.__data__ for grant in found] == [grant.__data__ for grant in expected]
    assert len(CHAIN.rows("main", "AA:00:00:00:00:00")) == 3  # grants 0, 2, 4 (active)


def test_an_aware_datetime_is_bound_as_its_column_stores_it(grants):
    """The column's own conversion applies to a bound value (aware UTC to the stored form)."""
    later: Prepared[Grant] = Prepared(lambda since: Grant.select().where(Grant.starts_at >= since).order_by(Grant.id))
    in_nairobi = (NOW + timedelta(minutes=30)).astimezone(ZoneInfo("Africa/Nairobi"))
    assert [grant.id for grant in later.rows(in_nairobi)] == [grant.id for grant in grants[3:]]


def test_a_value_used_twice_is_bound_in_both_places(grants):
    either: Prepared[Grant] = Prepared(
        lambda mac: Grant.select().where((Grant.mac == mac) | (Grant.ip == mac)).order_by(Grant.id)
    )
    assert len(either.rows("AA:00:00:00:00:01")) == 3


def test_by_id_and_get_by_id_match_peewee_and_a_missing_row_raises_its_error(grants):
    grant = grants[2]
    assert get_by_id(Grant, grant.id).__data__ == Grant.get_by_id(grant.id).__data__
    assert by_id(Grant, 10_000) is None
    with pytest.raises(Grant.DoesNotExist):
        get_by_id(Grant, 10_000)


def test_a_joined_read_brings_its_related_row(grants):
    with_payment: Prepared[Grant] = Prepared(
        lambda grant_id: Grant.select(Grant.id, Payment.id, Payment.paid_at).join(Payment).where(Grant.id == grant_id)
    )
    (found,) = with_payment.rows(grants[1].id)
    assert found.payment.paid_at == NOW


def test_the_sql_is_composed_once_however_often_it_runs(grants, monkeypatch):
    composed: list[Any] = []
    real = peewee.Context.sql

    def counting(self: peewee.Context, obj: Any) -> Any:
        if isinstance(obj, peewee.Select):
            composed.append(obj)
        return real(self, obj)

    by_mac: Prepared[Grant] = Prepared(lambda mac: Grant.select().where(Grant.mac == mac))
    monkeypatch.setattr(peewee.Context, "sql", counting)
    for _ in range(5):
        assert by_mac.rows("AA:00:00:00:00:01")
    assert len(composed) == 1


def test_a_bound_value_count_that_does_not_match_is_refused(grants):
    with pytest.raises(ValueError):
        CHAIN.rows("main")


def test_a_composed_update_converts_its_values_as_the_columns_store_them_and_counts_rows(grants):
    """A SET value is converted by its column (an aware datetime in another zone, stored as
    peewee's own update stores it); ``run`` returns the rows changed."""
    set_online: Prepared[Grant] = Prepared(
        lambda at, mac: Grant.update(online_at=at).where(Grant.mac == mac, Grant.status == "active")
    )
    at = (NOW + timedelta(minutes=7)).astimezone(ZoneInfo("Africa/Nairobi"))
    assert set_online.run(at, "AA:00:00:00:00:01") == 2  # grants 1 and 3 (5 has expired)
    assert set_online.run(at, "AA:00:00:00:00:09") == 0
    Grant.update(online_at=at).where(Grant.id == grants[0].id).execute()  # peewee's own, for comparison
    stored = {row["id"]: row["online_at"] for row in Grant.select(Grant.id, Grant.online_at).dicts()}
    assert stored[grants[1].id] == stored[grants[3].id] == stored[grants[0].id] == NOW + timedelta(minutes=7)
    database = getattr(Grant._meta.database, "obj", Grant._meta.database)
    raw = database.execute_sql(
        f'SELECT online_at FROM "grant" WHERE id IN ({database.param}, {database.param})', (grants[0].id, grants[1].id)
    )
    first, second = (row[0] for row in raw.fetchall())
    assert first == second  # the same stored form, not the driver's own datetime text


def test_create_inserts_the_row_peewee_would_with_defaults_and_returns_its_id(grants):
    payment, other = (
        Payment.create(public_id=f"new{n}", package=grants[0].package_id, router="main", mac="AA:00:00:00:00:07",
                       ip="10.0.0.9", phone="254700000000", amount=20, created_at=NOW, updated_at=NOW)
        for n in range(2)
    )  # fmt: skip
    made = create(
        Grant, payment=payment, package=grants[0].package_id, router="main", mac="AA:00:00:00:00:07",
        ip="10.0.0.9", starts_at=NOW, expires_at=NOW + timedelta(hours=1), granted_seconds=3600,
    )  # fmt: skip
    reference = Grant.create(
        payment=other, package=grants[0].package_id, router="main", mac="AA:00:00:00:00:08",
        ip="10.0.0.9", starts_at=NOW, expires_at=NOW + timedelta(hours=1), granted_seconds=3600,
    )  # fmt: skip
    assert made.id == reference.id - 1
    stored, expected = Grant.get_by_id(made.id).__data__, Grant.get_by_id(reference.id).__data__
    assert {k: v for k, v in stored.items() if k not in ("id", "mac", "payment")} == {
        k: v for k, v in expected.items() if k not in ("id", "mac", "payment")
    }
    assert stored["status"] == "active"  # a default, filled in
    assert made.payment_id == payment.id and not made.is_dirty()


def test_create_raises_peeweees_integrity_error_and_writes_nothing(grants):
    before = Payment.select().count()
    with pytest.raises(peewee.IntegrityError):
        create(Payment, public_id="p0", package=grants[0].package_id, router="main", mac="AA:00:00:00:00:00",
               ip="10.0.0.2", phone="254700000000", amount=20, created_at=NOW, updated_at=NOW)  # fmt: skip
    assert Payment.select().count() == before


def test_rows_read_again_are_peewees_models_as_its_constructor_leaves_them(grants):
    """From the second run on, a plain read fills the models itself: the same fields and
    values, nothing dirty, the related row still loaded on demand, saved as peewee saves."""
    by_mac: Prepared[Grant] = Prepared(lambda mac: Grant.select().where(Grant.mac == mac).order_by(Grant.id))
    by_mac.rows("AA:00:00:00:00:00")  # the first run: peewee's own reading
    for _ in range(2):
        found = by_mac.rows("AA:00:00:00:00:01")
        expected = list(Grant.select().where(Grant.mac == "AA:00:00:00:00:01").order_by(Grant.id))
        assert [type(grant) for grant in found] == [Grant] * 3
        assert [grant.__data__ for grant in found] == [grant.__data__ for grant in expected]
        assert all(not grant.is_dirty() and grant.__rel__ == {} for grant in found)
        assert found[0].payment.public_id == "p1" and found[0].payment_id == expected[0].payment_id
        assert found[0].expires_at.tzinfo is UTC and isinstance(found[0].granted_seconds, int)
    found[0].granted_seconds = 1800
    assert found[0].dirty_fields == [Grant.granted_seconds]
    found[0].save()
    assert Grant.get_by_id(found[0].id).granted_seconds == 1800


def test_reads_that_are_not_plain_models_stay_peewees_on_every_run(grants):
    """A join, a chosen column list with a function, tuples and an empty first run: each run
    reads the same as peewee does."""
    with_payment: Prepared[Grant] = Prepared(
        lambda grant_id: Grant.select(Grant.id, Payment.id, Payment.paid_at).join(Payment).where(Grant.id == grant_id)
    )
    counted: Prepared[Any] = Prepared(
        lambda mac: (
            Grant.select(peewee.fn.COUNT(Grant.id), peewee.fn.MAX(Grant.starts_at)).where(Grant.mac == mac).tuples()
        )
    )
    some: Prepared[Grant] = Prepared(
        lambda mac: Grant.select(Grant.id, Grant.mac.alias("device")).where(Grant.mac == mac).order_by(Grant.id)
    )
    assert some.rows("AA:00:00:00:00:09") == []  # a first run that finds nothing
    for grant in grants[:3]:
        (joined,) = with_payment.rows(grant.id)
        assert joined.payment.paid_at == NOW and joined.payment.id == grant.payment_id
        assert counted.rows(grant.mac) == [(3, grants[4 if grant.mac.endswith("0") else 5].starts_at)]
        same_device = [(other.id, other.mac) for other in grants if other.mac == grant.mac]
        assert [(row.id, row.device) for row in some.rows(grant.mac)] == same_device


def test_read_rows_reads_what_peewee_reads_for_a_query_composed_each_time(grants):
    """Models, tuples and joins alike; a read that finds nothing is an empty list."""
    macs = ["AA:00:00:00:00:00", "AA:00:00:00:00:01", "AA:00:00:00:00:09"]
    plain = Grant.select().where(Grant.mac.in_(macs)).order_by(Grant.mac, Grant.starts_at)
    found = read_rows(plain)
    assert [grant.__data__ for grant in found] == [grant.__data__ for grant in plain.clone()]
    assert all(type(grant) is Grant and not grant.is_dirty() for grant in found)
    assert read_rows(Grant.select().where(Grant.mac.in_(macs[2:]))) == []
    named = Grant.select(Grant.id, Grant.mac).where(Grant.mac.in_(macs)).order_by(Grant.id).namedtuples()
    assert [(row.id, row.mac) for row in read_rows(named)] == [(grant.id, grant.mac) for grant in grants]
    joined = Grant.select(Grant.id, Payment.public_id).join(Payment).where(Grant.id.in_([grants[1].id]))
    assert [grant.payment.public_id for grant in read_rows(joined)] == ["p1"]


def test_a_plain_read_hands_back_each_value_with_the_type_peewee_gives_it(grants):
    """Ids, counts, foreign keys and text come from the driver as they are (no conversion
    run); booleans, datetimes and empty columns still read as peewee reads them."""
    payment_by_public_id: Prepared[Payment] = Prepared(
        lambda public_id: Payment.select().where(Payment.public_id == public_id)
    )
    payment_by_public_id.rows("p0")  # the first run: peewee's own reading
    Payment.update(receipt_consent=True).where(Payment.public_id == "p1").execute()
    for public_id in ("p1", "p2"):
        (found,) = payment_by_public_id.rows(public_id)
        expected = Payment.get(Payment.public_id == public_id)
        assert found.__data__ == expected.__data__
        assert {name: type(value) for name, value in found.__data__.items()} == {
            name: type(value) for name, value in expected.__data__.items()
        }
        assert type(found.receipt_consent) is bool and found.receipt is None and type(found.package_id) is int
        assert found.paid_at == NOW and found.paid_at.tzinfo is UTC
    CHAIN.rows("main", "AA:00:00:00:00:01")  # a first run of its own in case none came before
    grant = CHAIN.rows("main", "AA:00:00:00:00:01")[0]
    assert type(grant.payment_id) is int and type(grant.mac) is str and grant.payment.public_id == "p1"
