"""Schema migration m0006 (admin accounts) on a real ledger at version 2 with rows."""

from __future__ import annotations

from werkzeug.security import generate_password_hash

from portal.ledger import migrations
from portal.ledger.migrations import m0001_baseline
from tests.ledger.old_ledger import NOW, upgrade_to


def test_admins_from_version_2_keep_signing_in_with_their_password_alone(db, first_release) -> None:
    first_release.admin("boss", generate_password_hash("old-long-password"))
    first_release.row(m0001_baseline.AuditLog, at=NOW, actor="boss", action="admin.login", detail="")
    upgrade_to(db, 2)
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
