"""Writing many rows at once: a router's reboot moves the windows of thousands of grants.

Building a peewee query costs far more than SQLite takes to run it, so a pass that writes
a row at a time spends its time composing SQL. :func:`update_each` composes one
``UPDATE ... WHERE id = ?`` and runs it for every row (the driver's ``executemany``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import peewee


class _Slot:
    """A stand-in value whose position among a composed query's parameters is looked up."""


def update_each(model: type[peewee.Model], fields: Sequence[peewee.Field], rows: Iterable[Sequence[Any]]) -> None:
    """``UPDATE model SET fields... WHERE id = ...`` once per row; a row is the fields'
    values in order, then the primary key. Run it inside the transaction it belongs to."""
    values = [tuple(row) for row in rows]
    if not values:
        return
    slots = [_Slot() for _ in fields]
    key = _Slot()
    assignments = {field: peewee.Value(slot, converter=False) for field, slot in zip(fields, slots, strict=True)}
    query = model.update(assignments).where(model._meta.primary_key == peewee.Value(key, converter=False))
    sql, params = query.sql()
    order = [params.index(slot) for slot in (*slots, key)]  # where each value goes
    converters = [*(field.db_value for field in fields), model._meta.primary_key.db_value]
    prepared = []
    for row in values:
        bound: list[Any] = [None] * len(order)
        for position, convert, value in zip(order, converters, row, strict=True):
            bound[position] = convert(value)
        prepared.append(bound)
    model._meta.database.cursor().executemany(sql, prepared)
