"""The ledger on a real SQLite file: WAL, foreign keys, idempotent table creation."""

from __future__ import annotations

from datetime import UTC, datetime

import peewee
import pytest

from portal.ledger.database import open_database, redact_url
from portal.ledger.models import MODELS, Package, Payment, create_tables

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'sub' / 'ledger.db'}")
    create_tables()
    yield db
    db.close()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(ledger, tmp_path):
    assert (tmp_path / "sub" / "ledger.db").exists()
    assert ledger.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ledger.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1


def test_create_tables_twice_is_harmless(ledger):
    Package.create(name="1 hour", price=10, duration_seconds=3600, created_at=NOW)
    create_tables()
    create_tables()
    assert Package.select().count() == 1
    assert set(ledger.get_tables()) == {m._meta.table_name for m in MODELS} | {"schema_migration"}


def test_datetimes_come_back_aware_utc(ledger):
    package = Package.create(name="x", price=1, duration_seconds=60, created_at=NOW)
    assert Package.get_by_id(package.id).created_at == NOW


def _payment(package, **extra):
    values = {
        "public_id": "p1",
        "package": package,
        "router": "main",
        "mac": "AA:00:00:00:00:01",
        "ip": "10.0.0.2",
        "phone": "254712345678",
        "amount": 10,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(extra)
    return Payment.create(**values)


def test_receipts_and_checkout_ids_are_unique(ledger):
    package = Package.create(name="x", price=10, duration_seconds=60, created_at=NOW)
    _payment(package, receipt="TC13ABC4XY", checkout_request_id="ws_CO_1")
    with pytest.raises(peewee.IntegrityError):
        _payment(package, public_id="p2", receipt="TC13ABC4XY")
    with pytest.raises(peewee.IntegrityError):
        _payment(package, public_id="p3", checkout_request_id="ws_CO_1")


def test_foreign_keys_are_enforced(ledger):
    with pytest.raises(peewee.IntegrityError):
        _payment(999, public_id="p9")


def test_database_url_passwords_are_redacted():
    assert redact_url("postgresql://app:s3cret@db:5432/p2c") == "postgresql://app:***@db:5432/p2c"
    assert redact_url("sqlite:////var/lib/x.db") == "sqlite:////var/lib/x.db"
