"""Datetimes in the ledger (portal/ledger/models/base.py): stored as naive UTC, read back aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from portal.ledger.models.base import UTCDateTimeField

FIELD = UTCDateTimeField()


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2026-03-02 10:11:12.123456", datetime(2026, 3, 2, 10, 11, 12, 123456, tzinfo=UTC)),
        ("2026-03-02 10:11:12", datetime(2026, 3, 2, 10, 11, 12, tzinfo=UTC)),
        ("2026-03-02", datetime(2026, 3, 2, tzinfo=UTC)),  # a date alone: midnight UTC, never naive
        ("2026-03-02 13:11:12+03:00", datetime(2026, 3, 2, 13, 11, 12, tzinfo=timezone(timedelta(hours=3)))),
        (datetime(2026, 3, 2, 10, 11, 12), datetime(2026, 3, 2, 10, 11, 12, tzinfo=UTC)),  # a driver's datetime
        (None, None),
    ],
)
def test_stored_values_are_read_as_aware_utc(stored, expected):
    found = FIELD.python_value(stored)
    assert found == expected
    assert found is None or found.tzinfo is not None


def test_what_is_written_reads_back_as_the_same_moment():
    moment = datetime(2026, 3, 2, 13, 0, tzinfo=timezone(timedelta(hours=3)))
    stored = FIELD.db_value(moment)
    assert stored.tzinfo is None
    assert FIELD.python_value(str(stored)) == moment == FIELD.python_value(stored)
