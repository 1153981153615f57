"""Writing many rows at once: a router's reboot moves the windows of thousands of grants
and writes three events for each of their payments.

Building a peewee query costs far more than SQLite takes to run it, so a pass that writes
a row at a time spends its time composing SQL. :func:`update_each` composes one
``UPDATE ... WHERE id = ?`` and :func:`insert_each` one ``INSERT``, and each runs it for
every row (the driver's ``executemany``). Rows alike but for one column (the same event on
thousands of payments) go in one ``INSERT ... SELECT`` over that column's values bound as one
array (:func:`insert_for_each`): no Python at all per row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import peewee
from peewee import __exception_wrapper__ as driver_errors

from portal.ledger.database import is_postgres


class _Slot:
    """A stand-in value whose position among a composed query's parameters is looked up."""


def update_each(model: type[peewee.Model], fields: Sequence[peewee.Field], rows: Iterable[Sequence[Any]]) -> None:
    """``UPDATE model SET fields... WHERE id = ...`` once per row; a row is the fields'
    values in order, then the primary key. Run it inside the transaction it belongs to."""
    _run_each(_composed("update", model, tuple(fields)), rows)


def insert_each(model: type[peewee.Model], fields: Sequence[peewee.Field], rows: Iterable[Sequence[Any]]) -> None:
    """``INSERT INTO model (fields...)`` once per row (the fields' values in order). Run it
    inside the transaction it belongs to; the new rows' ids are not read back."""
    _run_each(_composed("insert", model, tuple(fields)), rows)


def insert_for_each(
    model: type[peewee.Model],
    key: peewee.Field,
    keys: Sequence[Any],
    fields: Sequence[peewee.Field],
    values: Sequence[Any],
) -> None:
    """``INSERT INTO model (key, fields...)`` a row per value of ``keys``, every row with the
    same ``values`` for ``fields``: one statement, the keys bound as one array (SQLite's
    ``json_each``, PostgreSQL's ``unnest``); the columns not given take the model's plain
    defaults. Run it inside the transaction it belongs to. A column whose default is made by
    a call (a fresh token, say) must be given: one statement would give every row the same."""
    if not keys:
        return
    given = {key.name, *(field.name for field in fields)}
    defaults = [(field, default) for field, default in model._meta.defaults.items() if field.name not in given]
    made = [field.name for field, default in defaults if callable(default)]
    if made:
        raise ValueError(f"insert_for_each: give {', '.join(made)}: a default made by a call would repeat on every row")
    fields = (*fields, *(field for field, _default in defaults))
    values = (*values, *(default for _field, default in defaults))
    database, sql, template, places = _composed("insert for each", model, (key, *fields))
    converted = [key.db_value(value) for value in keys]
    array = converted if is_postgres(database) else json.dumps(converted)
    cursor = database.execute_sql(sql, _bound(template, places, (array, *values)))
    cursor.close()


_Composed = tuple[peewee.Database, str, list[Any], list[tuple[int, Callable[[Any], Any]]]]


def insert_one(model: type[peewee.Model], fields: Sequence[peewee.Field], row: Sequence[Any]) -> int:
    """``INSERT INTO model (fields...)`` for one row (its values in order); returns the new id
    (``RETURNING`` where the database has it, PostgreSQL; the driver's last row id elsewhere)."""
    database, sql, template, places = _composed("create", model, tuple(fields))
    cursor = database.execute_sql(sql, _bound(template, places, row))
    return int(cursor.fetchone()[0] if database.returning_clause else cursor.lastrowid)


_COMPOSED: dict[tuple[type, str, type, tuple[str, ...]], _Composed] = {}


def _composed(verb: str, model: type[peewee.Model], fields: tuple[peewee.Field, ...]) -> _Composed:
    """The statement for ``verb`` on ``fields``, composed once per kind of database."""
    database = model._meta.database
    key = (type(getattr(database, "obj", database)), verb, model, tuple(field.name for field in fields))
    found = _COMPOSED.get(key)
    if found is not None:
        return found
    columns = list(fields)
    slots = [_Slot() for _ in columns]
    values = {field: peewee.Value(slot, converter=False) for field, slot in zip(columns, slots, strict=True)}
    if verb == "update":
        primary_key = model._meta.primary_key
        slots.append(_Slot())
        columns.append(primary_key)
        query: peewee.Query = model.update(values).where(primary_key == peewee.Value(slots[-1], converter=False))
    elif verb == "insert for each":  # the first slot takes the keys' array
        query = model.insert_from(_each_of(database, slots[0], slots[1:]), columns).returning()
    elif verb == "create" and database.returning_clause:
        query = model.insert(values).returning(model._meta.primary_key)
    else:
        query = model.insert(values).returning()  # no RETURNING: executemany hands no rows back
    sql, template = query.sql()
    places = [(template.index(slot), field.db_value) for slot, field in zip(slots, columns, strict=True)]
    if verb == "insert for each":
        places[0] = (places[0][0], _as_it_is)  # the array: its keys were converted one by one
    found = _COMPOSED[key] = (database, sql, template, places)
    return found


def _each_of(database: peewee.Database, keys: _Slot, values: list[_Slot]) -> peewee.Select:
    """``SELECT key, value... FROM`` the keys' array, each key on a row of its own."""
    alike = [peewee.Value(slot, converter=False) for slot in values]
    array = peewee.Value(keys, converter=False, unpack=False)
    if is_postgres(database):
        source = peewee.NodeList((peewee.SQL("unnest("), array, peewee.SQL(") AS each_key")), glue="")
        return peewee.Select(from_list=[source], columns=[peewee.SQL("each_key"), *alike])
    source = peewee.NodeList((peewee.SQL("json_each("), array, peewee.SQL(")")), glue="")
    return peewee.Select(from_list=[source], columns=[peewee.SQL("value"), *alike])


def _as_it_is(value: Any) -> Any:
    return value


def _run_each(composed: _Composed, rows: Iterable[Sequence[Any]]) -> None:
    database, sql, template, places = composed
    bound_rows = [_bound(template, places, row) for row in rows]
    if bound_rows:
        with driver_errors:  # the driver's IntegrityError and the rest raised as peewee's, as execute_sql does
            database.cursor().executemany(sql, bound_rows)


def _bound(template: list[Any], places: list[tuple[int, Callable[[Any], Any]]], row: Sequence[Any]) -> list[Any]:
    """The statement's parameters with ``row``'s values converted as their columns store them."""
    bound = list(template)
    for (position, convert), value in zip(places, row, strict=True):
        bound[position] = convert(value)
    return bound
