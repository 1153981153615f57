"""m0005 (vouchers): a ledger at version 2 with rows in it upgrades, keeps every row, and
takes vouchers, their uses and agents afterwards."""

from __future__ import annotations

from portal.ledger import migrations
from portal.ledger.migrations import m0002_roles_and_payment_methods
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
from tests.ledger.old_ledger import NOW, upgrade_to


def test_a_version_2_ledger_with_rows_gains_the_voucher_tables(db, first_release):
    first_release.admin("boss")  # rows made by the first release
    first_release.payment(first_release.package(), "p1", status="paid")
    upgrade_to(db, 2)  # the release that stopped at version 2
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
