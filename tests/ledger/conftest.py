"""Fixtures for the ledger tests: an empty ledger, and one at version 1 (tests/ledger/old_ledger.py)."""

from __future__ import annotations

from collections.abc import Iterator

import peewee
import pytest

from portal.ledger.database import open_database
from tests.ledger.old_ledger import FirstRelease


@pytest.fixture
def db(ledger_url: str) -> Iterator[peewee.Database]:
    """This test's own empty ledger (SQLite, or PostgreSQL in the second pass)."""
    database = open_database(ledger_url)
    yield database
    database.close()


@pytest.fixture
def first_release(db: peewee.Database) -> FirstRelease:
    return FirstRelease(db)
