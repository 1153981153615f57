"""Fixtures for the business-rule tests that read a bare ledger (no web, no Redis)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portal.ledger.database import open_database
from portal.ledger.models import Package, create_tables
from tests.domain.ledger_rows import NOW


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[None]:
    db = open_database(ledger_url)
    create_tables()
    yield
    db.close()


@pytest.fixture
def hour(ledger: None) -> Package:
    return Package.create(name="1 hour", price=20, duration_seconds=3600, created_at=NOW)


@pytest.fixture
def day_pass(ledger: None) -> Package:
    return Package.create(name="Day pass", price=100, duration_seconds=86400, created_at=NOW)
