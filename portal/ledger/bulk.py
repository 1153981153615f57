"""Writing many rows at once: a router's reboot moves the windows of thousands of grants
and writes three events for each of their payments.

Building a peewee query costs far more than SQLite takes to run it, so a pass that writes
a row at a time spends its time composing SQL. :func:`update_each` composes one
``UPDATE ... WHERE id = ?`` and :func:`insert_each` one ``INSERT``, and each runs it for
every row (the driver's ``executemany``).
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
    key = model._meta.primary_key
    slots = [_Slot() for _ in (*fields, key)]
    assignments = {field: peewee.Value(slot, converter=False) for field, slot in zip(fields, slots, strict=False)}
    query = model.update(assignments).where(key == peewee.Value(slots[-1], converter=False))
    _run_each(query, slots, [*fields, key], rows)


def insert_each(model: type[peewee.Model], fields: Sequence[peewee.Field], rows: Iterable[Sequence[Any]]) -> None:
    """``INSERT INTO model (fields...)`` once per row (the fields' values in order). Run it
    inside the transaction it belongs to; the new rows' ids are not read back."""
    slots = [_Slot() for _ in fields]
    query = model.insert(
        {field: peewee.Value(slot, converter=False) for field, slot in zip(fields, slots, strict=True)}
    )
    _run_each(query.returning(), slots, fields, rows)  # no RETURNING: executemany hands no rows back


def _run_each(
    query: peewee.Query, slots: list[_Slot], fields: Sequence[peewee.Field], rows: Iterable[Sequence[Any]]
) -> None:
    given = [tuple(row) for row in rows]
    if not given:
        return
    sql, template = query.sql()
    places = [(template.index(slot), field.db_value) for slot, field in zip(slots, fields, strict=True)]
    bound_rows = []
    for row in given:
        bound = list(template)
        for (position, convert), value in zip(places, row, strict=True):
            bound[position] = convert(value)
        bound_rows.append(bound)
    query.model._meta.database.cursor().executemany(sql, bound_rows)
