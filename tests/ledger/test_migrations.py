"""Schema migrations on a real SQLite file: fresh ledgers, old ledgers adopted, data kept."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import UTC, datetime

import peewee
import pytest

from portal.ledger import migrations
from portal.ledger.database import open_database
from portal.ledger.migrations import m0001_baseline
from portal.ledger.models import MODELS, Package
from tests.backends import query_plan

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(ledger_url):
    database = open_database(ledger_url)
    yield database
    database.close()


def test_a_new_ledger_is_built_to_the_latest_version(db):
    assert migrations.current_version(db) == 0
    applied = migrations.upgrade(db)
    assert [m.version for m in applied] == list(range(1, migrations.latest_version() + 1))
    assert migrations.current_version(db) == migrations.latest_version()
    assert {m._meta.table_name for m in MODELS} <= set(db.get_tables())
    migrations.check_current(db)


def test_upgrading_twice_changes_nothing(db):
    migrations.upgrade(db)
    Package.create(name="1 hour", price=10, duration_seconds=3600, created_at=NOW)
    assert migrations.upgrade(db) == []
    assert Package.select().count() == 1


def test_a_ledger_from_before_migrations_is_adopted_with_its_data(db):
    """The first release created its tables without a schema_migration record."""
    with db.bind_ctx(m0001_baseline.TABLES):
        db.create_tables(m0001_baseline.TABLES)
        m0001_baseline.Package.create(name="old", price=5, duration_seconds=600, created_at=NOW)
    assert migrations.current_version(db) == 1
    with pytest.raises(migrations.SchemaBehind) if migrations.latest_version() > 1 else nullcontext():
        migrations.check_current(db)
    migrations.upgrade(db)
    assert migrations.current_version(db) == migrations.latest_version()
    assert [p.name for p in Package.select()] == ["old"]


def test_a_ledger_from_a_newer_release_is_refused(db):
    migrations.upgrade(db)
    with db.bind_ctx([migrations.SchemaMigration]):
        migrations.SchemaMigration.create(version=999, name="future", applied_at=NOW)
    with pytest.raises(migrations.SchemaAhead):
        migrations.check_current(db)
    with pytest.raises(migrations.SchemaAhead):
        migrations.upgrade(db)


def test_version_2_keeps_admins_as_owners_and_payments_as_mpesa(db):
    with db.bind_ctx(m0001_baseline.TABLES):
        db.create_tables(m0001_baseline.TABLES)
        m0001_baseline.AdminUser.create(username="boss", password_hash="x", created_at=NOW)
        package = m0001_baseline.Package.create(name="1h", price=20, duration_seconds=3600, created_at=NOW)
        m0001_baseline.Payment.create(
            public_id="p1",
            package=package,
            router="main",
            mac="AA:BB:CC:00:00:01",
            ip="10.5.50.2",
            phone="254712345678",
            amount=20,
            created_at=NOW,
            updated_at=NOW,
        )
    migrations.upgrade(db)
    from portal.ledger.models import AdminUser, Payment

    assert AdminUser.get(AdminUser.username == "boss").role == "owner"
    assert Payment.get(Payment.public_id == "p1").method == "mpesa"


def test_push_limits_version_keeps_payments_and_indexes_the_counts(db):
    """m0003: payments from before have source "", and the limits' counts use indexes."""
    with db.bind_ctx(m0001_baseline.TABLES):
        db.create_tables(m0001_baseline.TABLES)
        package = m0001_baseline.Package.create(name="1h", price=20, duration_seconds=3600, created_at=NOW)
        m0001_baseline.Payment.create(
            public_id="p1",
            package=package,
            router="main",
            mac="AA:BB:CC:00:00:01",
            ip="10.5.50.2",
            phone="254712345678",
            amount=20,
            created_at=NOW,
            updated_at=NOW,
        )
    migrations.upgrade(db)
    from portal.ledger.models import Payment

    assert Payment.get(Payment.public_id == "p1").source == ""
    indexed = {tuple(index.columns) for index in db.get_indexes("payment")}
    assert {(key, "method", "created_at") for key in ("phone", "mac", "source")} <= indexed
    assert ("method", "created_at") in indexed
    plan = query_plan(
        db,
        "SELECT COUNT(*) FROM payment WHERE phone = ? AND method = ? AND created_at > ?",
        ("254712345678", "mpesa", NOW.replace(tzinfo=None)),
    )
    if isinstance(db, peewee.PostgresqlDatabase):  # on a handful of rows it may pick either index
        assert "Index" in plan and "Seq Scan" not in plan, plan
    else:
        assert "payment_phone_method_created_at" in plan, plan


def test_version_4_upgrades_a_version_2_ledger_with_rows(db):
    from portal.ledger.migrations import m0002_roles_and_payment_methods

    with db.bind_ctx(m0001_baseline.TABLES):
        db.create_tables(m0001_baseline.TABLES)
        package = m0001_baseline.Package.create(name="1h", price=20, duration_seconds=3600, created_at=NOW)
        m0001_baseline.Payment.create(
            public_id="p2",
            package=package,
            router="main",
            mac="AA:BB:CC:00:00:02",
            ip="10.5.50.3",
            phone="254712345678",
            amount=20,
            status="paid",
            receipt="UC1AB2CD3E",
            created_at=NOW,
            updated_at=NOW,
            paid_at=NOW,
        )
    m0002_roles_and_payment_methods.apply(db)
    with db.bind_ctx([migrations.SchemaMigration]):
        db.create_tables([migrations.SchemaMigration])
        for version, name in ((1, "baseline"), (2, "roles and payment methods")):
            migrations.SchemaMigration.create(version=version, name=name, applied_at=NOW)
    assert migrations.current_version(db) == 2
    migrations.upgrade(db)
    from portal.ledger.models import OperatorSwitch, Payment, StatementImport, StatementLine

    assert migrations.current_version(db) == migrations.latest_version()
    payment = Payment.get(Payment.public_id == "p2")
    assert (payment.receipt, payment.method, payment.status) == ("UC1AB2CD3E", "mpesa", "paid")
    assert OperatorSwitch.select().count() == 0  # payments are on after the upgrade
    imported = StatementImport.create(imported_at=NOW, actor="owner", sha256="x" * 64)
    StatementLine.create(receipt="UC1AB2CD3E", statement_import=imported, completed_at=NOW, paid_in_cents=2000)
    assert StatementLine.get().resolved_payment is None


def test_grant_clock_version_keeps_grant_times_and_starts_the_clock_of_confirmed_grants(db, monkeypatch):
    from datetime import timedelta

    with db.bind_ctx(m0001_baseline.TABLES):
        db.create_tables(m0001_baseline.TABLES)
        package = m0001_baseline.Package.create(name="1h", price=20, duration_seconds=3600, created_at=NOW)
        rows = {}
        for n, state in enumerate(("online", "pending", "removed")):
            payment = m0001_baseline.Payment.create(
                public_id=f"p{n}",
                package=package,
                router="main",
                mac=f"AA:BB:CC:00:00:0{n}",
                ip="10.5.50.2",
                phone="254712345678",
                amount=20,
                created_at=NOW,
                updated_at=NOW,
            )
            rows[state] = m0001_baseline.Grant.create(
                payment=payment,
                package=package,
                router="main",
                mac=payment.mac,
                ip=payment.ip,
                starts_at=NOW,
                expires_at=NOW + timedelta(seconds=3600 + 600 * n),  # the last one was extended by an admin
                router_state=state,
                status="active" if state != "removed" else "expired",
            ).id
            # Rows that reference the grant (and so the payment): a table rebuild would break them.
            m0001_baseline.OutboxItem.create(
                grant=rows[state],
                action="authorize",
                router="main",
                mac=payment.mac,
                next_attempt_at=NOW,
                created_at=NOW,
            )
            m0001_baseline.PaymentEvent.create(payment=payment, at=NOW, kind="paid")
    with monkeypatch.context() as at_version_2:
        at_version_2.setattr(migrations, "MODULES", migrations.MODULES[:2])
        migrations.upgrade(db)
    assert migrations.current_version(db) == 2
    migrations.upgrade(db)
    assert migrations.current_version(db) == migrations.latest_version()
    from portal.ledger.models import Grant, RouterLink

    online, pending, removed = (Grant.get_by_id(rows[state]) for state in ("online", "pending", "removed"))
    assert (online.online_at, online.granted_seconds, online.credited_seconds) == (NOW, 3600, 0)
    assert (pending.online_at, pending.granted_seconds, pending.offline_since) == (None, 4200, None)
    assert (removed.online_at, removed.granted_seconds) == (NOW, 4800)
    for grant in (online, pending, removed):
        assert grant.expires_at == grant.starts_at + timedelta(seconds=grant.granted_seconds + grant.credited_seconds)
    assert RouterLink.select().count() == 0
    index_columns = {tuple(index.columns) for index in db.get_indexes("grant")}
    assert ("status", "expires_at") in index_columns and ("router", "mac", "status") in index_columns
