"""Schema migrations on a real SQLite file: fresh ledgers, old ledgers adopted, data kept."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import timedelta

import peewee
import pytest

from portal.ledger import migrations
from portal.ledger.migrations import m0001_baseline
from portal.ledger.models import MODELS, Package
from tests.backends import query_plan
from tests.ledger.old_ledger import NOW, upgrade_to


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


def test_a_ledger_from_before_migrations_is_adopted_with_its_data(db, first_release):
    """The first release created its tables without a schema_migration record."""
    first_release.package("old", price=5, duration_seconds=600)
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


def test_version_2_keeps_admins_as_owners_and_payments_as_mpesa(db, first_release):
    first_release.admin("boss")
    first_release.payment(first_release.package(), "p1")
    migrations.upgrade(db)
    from portal.ledger.models import AdminUser, Payment

    assert AdminUser.get(AdminUser.username == "boss").role == "owner"
    assert Payment.get(Payment.public_id == "p1").method == "mpesa"


def test_push_limits_version_keeps_payments_and_indexes_the_counts(db, first_release):
    """m0003: payments from before have source "", and the limits' counts use indexes."""
    first_release.payment(first_release.package(), "p1")
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


def test_version_4_upgrades_a_version_2_ledger_with_rows(db, first_release):
    package = first_release.package()
    first_release.payment(
        package, "p2", mac="AA:BB:CC:00:00:02", ip="10.5.50.3", status="paid", receipt="UC1AB2CD3E", paid_at=NOW
    )
    upgrade_to(db, 2)
    migrations.upgrade(db)
    from portal.ledger.models import OperatorSwitch, Payment, StatementImport, StatementLine

    assert migrations.current_version(db) == migrations.latest_version()
    payment = Payment.get(Payment.public_id == "p2")
    assert (payment.receipt, payment.method, payment.status) == ("UC1AB2CD3E", "mpesa", "paid")
    assert OperatorSwitch.select().count() == 0  # payments are on after the upgrade
    imported = StatementImport.create(imported_at=NOW, actor="owner", sha256="x" * 64)
    StatementLine.create(receipt="UC1AB2CD3E", statement_import=imported, completed_at=NOW, paid_in_cents=2000)
    assert StatementLine.get().resolved_payment is None


def test_grant_clock_version_keeps_grant_times_and_starts_the_clock_of_confirmed_grants(db, first_release):
    package = first_release.package()
    rows = {}
    for n, state in enumerate(("online", "pending", "removed")):
        payment = first_release.payment(package, f"p{n}", mac=f"AA:BB:CC:00:00:0{n}")
        rows[state] = first_release.row(
            m0001_baseline.Grant,
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
        first_release.row(
            m0001_baseline.OutboxItem,
            grant=rows[state],
            action="authorize",
            router="main",
            mac=payment.mac,
            next_attempt_at=NOW,
            created_at=NOW,
        )
        first_release.row(m0001_baseline.PaymentEvent, payment=payment, at=NOW, kind="paid")
    upgrade_to(db, 2)
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
