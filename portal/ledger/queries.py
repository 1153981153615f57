"""Read-only questions about the ledger that several business rules ask."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import peewee

from portal.ledger.database import is_postgres
from portal.ledger.models import Grant

PER_PAGE = 50
T = TypeVar("T")


def among(field: peewee.Field, values: Iterable[Any]) -> peewee.Node:
    """``field IN values`` for any number of values, bound as one parameter: a JSON array
    SQLite reads with ``json_each``, an array for PostgreSQL's ``= ANY``.

    ``field.in_(values)`` makes peewee compose a node and SQLite bind a variable per value
    (at most 999 in older builds): a router's reboot asks about thousands of grants, and
    composing those lists took longer than running the statements. (``json_each`` is built
    into SQLite from 3.38; Debian 12, the install target, ships 3.40.)
    """
    items = [field.db_value(value) for value in values]
    database = field.model._meta.database
    if is_postgres(database):
        return peewee.NodeList(
            (field, peewee.SQL("= ANY("), peewee.Value(items, converter=False, unpack=False), peewee.SQL(")"))
        )
    listed = peewee.Value(json.dumps(items), converter=False, unpack=False)
    return peewee.NodeList((field, peewee.SQL("IN (SELECT value FROM json_each("), listed, peewee.SQL("))")))


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
