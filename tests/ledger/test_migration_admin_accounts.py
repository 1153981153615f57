"""Schema migration m0006 (admin accounts) on a real SQLite ledger at version 2 with rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from werkzeug.security import generate_password_hash

from portal.ledger import migrations
from portal.ledger.database import open_database
from portal.ledger.migrations import m0001_baseline, m0002_roles_and_payment_methods

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield database
    database.close()


def ledger_at_version_2(db) -> None:
    """Build version 2 the way releases did: baseline, then m0002, recorded as done."""
    with db.bind_ctx(m0001_baseline.TABLES):
        db.create_tables(m0001_baseline.TABLES)
        m0001_baseline.AdminUser.create(
            username="boss", password_hash=generate_password_hash("old-long-password"), created_at=NOW
        )
        m0001_baseline.AuditLog.create(at=NOW, actor="boss", action="admin.login", detail="")
    m0002_roles_and_payment_methods.apply(db)
    with db.bind_ctx([migrations.SchemaMigration]):
        db.create_tables([migrations.SchemaMigration])
        for version, name in ((1, "baseline"), (2, m0002_roles_and_payment_methods.NAME)):
            migrations.SchemaMigration.create(version=version, name=name, applied_at=NOW)


def test_admins_from_version_2_keep_signing_in_with_their_password_alone(db) -> None:
    ledger_at_version_2(db)
    assert migrations.current_version(db) == 2
    applied = migrations.upgrade(db)
    assert "admin accounts" in [m.name for m in applied]
    assert migrations.current_version(db) == migrations.latest_version()
    assert {"admin_session", "admin_recovery_code", "sign_in_failure"} <= set(db.get_tables())

    from portal.clock import ManualClock
    from portal.domain import admin_sessions, totp
    from portal.domain.accounts import password_matches
    from portal.ledger.models import AdminUser, AuditLog

    boss = AdminUser.get(AdminUser.username == "boss")
    assert (boss.role, boss.totp_secret, boss.totp_last_step) == ("owner", None, 0)
    assert password_matches(boss.password_hash, "old-long-password")  # the old hash still verifies
    assert not totp.verify(boss, "123456", ManualClock(NOW))  # no second factor asked for
    token = admin_sessions.start(boss.id, "127.0.0.1", "test", NOW)
    assert admin_sessions.current(token, NOW).username == "boss"
    assert AuditLog.select().count() == 1
    assert migrations.upgrade(db) == []  # a second run changes nothing
