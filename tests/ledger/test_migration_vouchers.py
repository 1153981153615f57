"""m0005 (vouchers): a ledger at version 2 with rows in it upgrades, keeps every row, and
takes vouchers, their uses and agents afterwards."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from portal.ledger import migrations
from portal.ledger.database import open_database
from portal.ledger.migrations import m0001_baseline, m0002_roles_and_payment_methods
from portal.ledger.models import (
    AdminUser,
    AgentFloatEntry,
    Package,
    Payment,
    Voucher,
    VoucherAgent,
    VoucherBatch,
    VoucherUse,
)

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield database
    database.close()


def test_a_version_2_ledger_with_rows_gains_the_voucher_tables(db, monkeypatch):
    with monkeypatch.context() as first_release:  # rows made by the first release
        first_release.setattr(migrations, "MODULES", migrations.MODULES[:1])
        migrations.upgrade(db)
    with db.bind_ctx(m0001_baseline.TABLES):
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
            status="paid",
            created_at=NOW,
            updated_at=NOW,
        )
    with monkeypatch.context() as older_release:  # the release that stopped at version 2
        older_release.setattr(migrations, "MODULES", migrations.MODULES[:2])
        migrations.upgrade(db)
        assert migrations.current_version(db) == 2
    assert "voucher" not in db.get_tables()
    applied = migrations.upgrade(db)
    assert "vouchers" in [m.name for m in applied]
    assert migrations.current_version(db) == migrations.latest_version()
    assert "m0005_vouchers" in migrations.MODULES
    assert m0002_roles_and_payment_methods.NAME in [m.name for m in migrations.all_migrations()]

    assert [p.public_id for p in Payment.select()] == ["p1"] and Payment.get().method == "mpesa"
    assert AdminUser.get().role == "owner" and Package.get().name == "1h"
    for table in ("voucher_agent", "voucher_batch", "voucher", "voucher_use", "agent_float_entry"):
        assert table in db.get_tables(), table

    boss = AdminUser.get()
    agent = VoucherAgent.create(admin=boss, name="Agent", commission_bp=1000, created_at=NOW)
    batch = VoucherBatch.create(
        package=Package.get(), count=1, price=20, key_id="abc", created_at=NOW, created_by="boss", agent=agent
    )
    voucher = Voucher.create(batch=batch, code_hash="f" * 64)
    VoucherUse.create(voucher=voucher, payment=Payment.get(), router="main", mac="AA:BB:CC:00:00:01", at=NOW)
    AgentFloatEntry.create(agent=agent, at=NOW, amount=-20, kind="issue", batch=batch, actor="boss")
    assert VoucherUse.get().voucher.batch.agent.name == "Agent"
    assert migrations.upgrade(db) == []  # again: nothing to do, nothing lost
    assert Voucher.select().count() == 1
