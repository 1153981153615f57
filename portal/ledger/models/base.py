"""What every ledger model shares: the database it lives in, and datetimes stored as UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import peewee

from portal.ledger.database import database


class UTCDateTimeField(peewee.DateTimeField):
    """Stores naive UTC, hands back aware UTC datetimes."""

    def db_value(self, value: datetime | None) -> Any:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return super().db_value(value)

    def python_value(self, value: Any) -> datetime | None:
        if isinstance(value, str):  # SQLite's text
            return self._from_text(value)
        return _as_utc(super().python_value(value))

    def _from_text(self, text: str) -> datetime | None:
        """Naive UTC as stored, read with its zone in one call (a tenth of the cost of parsing
        and then setting the zone: a reboot reads thousands); any other text as before."""
        try:
            aware = datetime.fromisoformat(text + "+00:00")
            if aware.tzinfo is not None:  # (a date alone takes the suffix for a time)
                return aware
        except ValueError:
            pass
        try:  # fromisoformat is many times faster than strptime
            return _as_utc(datetime.fromisoformat(text))
        except ValueError:
            return _as_utc(super().python_value(text))


def _as_utc(value: Any) -> Any:
    """A naive datetime as UTC; anything else as it is."""
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False
