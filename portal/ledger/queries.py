"""Read-only questions about the ledger that several business rules ask."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import peewee

from portal.ledger.models import Grant

PER_PAGE = 50
#: Values bound in one ``IN (...)`` (SQLite allows 999 per statement, with room left for the rest).
IN_LIST_LIMIT = 400
T = TypeVar("T")


def active_grant_for_device(router: str, mac: str, now: datetime) -> Grant | None:
    """The grant that currently covers this device (the one ending last), if any."""
    return (
        Grant.select()
        .where(
            (Grant.router == router),
            (Grant.mac == mac),
            (Grant.status == "active"),
            (Grant.expires_at > now),
        )
        .order_by(Grant.expires_at.desc())
        .first()
    )


def active_grants(now: datetime) -> peewee.SelectQuery:
    """Grants with time left (``status`` active and not yet due)."""
    return Grant.select().where(Grant.status == "active", Grant.expires_at > now)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a longer list."""

    items: list[T]
    page: int
    total: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def paginate(query: peewee.SelectQuery, page: int, per_page: int = PER_PAGE) -> Page[Any]:
    return Page(items=list(query.paginate(page, per_page)), page=page, total=query.count(), per_page=per_page)
