"""Queries composed once and run many times: the hot paths' reads, updates and inserts.

peewee composes a query's SQL every time it runs, and for a model with twenty columns that
costs far more than SQLite takes to answer: reading a grant by id spent about 265 µs
composing and 10 µs in SQLite (measured). A paid callback reads a dozen rows, so the web
process spent most of its time writing the same SQL again. A :class:`Prepared` query is
composed on first use (per kind of database: SQLite and PostgreSQL differ) with its values
left open, then each run binds new values and hands the rows to peewee as usual.

Only fixed-shape queries fit (no ``IN`` lists whose length varies). :meth:`Prepared.run`
runs a composed UPDATE; :func:`create` is ``Model.create`` with its INSERT
composed once per model and set of fields.

Reading the rows back had the same waste: peewee works out which field each column of the
cursor is (and its conversion) anew for every query run, then builds each model through
``__init__`` and a ``setattr`` per column. A paid callback runs a dozen of these reads:
matching the columns was a tenth of the web process's CPU and building the models another
(cProfile, thread CPU time, bench/soak.py). A :class:`Prepared` query keeps peewee's
matching from its first run and, for a plain read of one model's own columns,
fills each model's fields directly, as peewee's constructor leaves them (nothing dirty).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import peewee

from portal.ledger.bulk import insert_one
from portal.ledger.database import database

M = TypeVar("M", bound=peewee.Model)


class _Slot:
    """Where a value goes among a composed query's parameters."""


class _Param(peewee.Value):
    """A value left open; notes the conversion its column would apply (a datetime's UTC)."""

    def __init__(self) -> None:
        self.slot = _Slot()
        self.convert: Callable[[Any], Any] | None = None
        super().__init__(self.slot, converter=False)

    def __sql__(self, ctx: peewee.Context) -> peewee.Context:
        self.convert = ctx.state.converter
        return ctx.value(self.slot, False)


class Prepared(Generic[M]):
    """A query composed once: ``Prepared(lambda mac: Grant.select().where(Grant.mac == mac))``,
    then ``.rows("AA:...")`` or ``.first("AA:...")``; for an UPDATE, ``.run(...)``."""

    def __init__(self, build: Callable[..., Any]) -> None:
        self._build = build
        self._arity = len(inspect.signature(build).parameters)
        self._composed: dict[type, tuple[peewee.ModelSelect, str, list[Any], list[tuple[list[int], Any]]]] = {}
        self._readers: dict[type, _Reader] = {}  # per kind of database, from its first run

    def _compose(self) -> tuple[peewee.ModelSelect, str, list[Any], list[tuple[list[int], Any]]]:
        kind = type(database.obj)
        composed = self._composed.get(kind)
        if composed is None:
            params = [_Param() for _ in range(self._arity)]
            query = self._build(*params)
            sql, values = query.sql()
            if isinstance(query, peewee.Update):  # peewee leaves a SET value that is a node to convert itself
                for field, value in query._update.items():
                    if isinstance(value, _Param) and isinstance(field, peewee.Field):
                        value.convert = field.db_value
            slots = [([i for i, value in enumerate(values) if value is param.slot], param.convert) for param in params]
            composed = self._composed[kind] = (query, sql, values, slots)
        return composed

    def _execute(self, values: tuple[Any, ...]) -> tuple[Any, Any]:
        query, sql, template, slots = self._compose()
        bound = list(template)
        for (positions, convert), value in zip(slots, values, strict=True):
            for position in positions:
                bound[position] = convert(value) if convert is not None else value
        return query, query.model._meta.database.execute_sql(sql, bound)

    def rows(self, *values: Any) -> list[M]:
        query, cursor = self._execute(values)
        kind = type(database.obj)
        reader = self._readers.get(kind)
        if reader is None:
            reader = self._readers[kind] = _Reader.matching(query, cursor)
        return reader.read(query, cursor)

    def run(self, *values: Any) -> int:
        """Run a composed UPDATE; returns how many rows it changed."""
        _query, cursor = self._execute(values)
        return int(cursor.rowcount)

    def first(self, *values: Any) -> M | None:
        found = self.rows(*values)
        return found[0] if found else None


class _Reader:
    """How one composed query's cursor columns become rows: peewee's own matching of columns
    to fields (and their conversions), worked out once; each run then reuses it."""

    _MATCHED = ("ncols", "columns", "converters", "fields", "tuple_class", "constructor")
    #: Wrappers whose whole set-up is that matching (a join's wrapper works out more: peewee
    #: does its set-up every run).
    _REUSABLE = (
        peewee.ModelObjectCursorWrapper,
        peewee.ModelDictCursorWrapper,
        peewee.ModelTupleCursorWrapper,
        peewee.ModelNamedTupleCursorWrapper,
    )

    def __init__(self, model: type[peewee.Model], wrapper: Any) -> None:
        self._matched = (
            {name: getattr(wrapper, name) for name in self._MATCHED if hasattr(wrapper, name)}
            if type(wrapper) in self._REUSABLE
            else None
        )
        self._model = model
        # A plain read of the model's own fields: each column is one field, named as the
        # field (what peewee's constructor would ``setattr``), so the values go straight to
        # ``__data__``. Anything else (joins, aliases, functions, tuples) goes through peewee.
        plain = (
            type(wrapper) is peewee.ModelObjectCursorWrapper
            and wrapper.constructor is model
            and all(
                field is not None and field.model is model and column == field.name
                for column, field in zip(wrapper.columns, wrapper.fields, strict=True)
            )
            and len(set(wrapper.columns)) == wrapper.ncols
        )
        self._plain = (
            [
                (column, None if _as_stored(field) else convert)
                for column, field, convert in zip(wrapper.columns, wrapper.fields, wrapper.converters, strict=True)
            ]
            if plain
            else None
        )

    @classmethod
    def matching(cls, query: Any, cursor: Any) -> _Reader:
        """peewee's matching for ``query``'s columns, from the executed ``cursor``'s
        description (no row read: the cursor is still whole for :meth:`read`)."""
        wrapper = query._get_cursor_wrapper(cursor)
        if type(wrapper) in cls._REUSABLE:
            wrapper.initialize()
        return cls(query.model, wrapper)

    def read(self, query: Any, cursor: Any) -> list[Any]:
        if self._plain is None:
            wrapper = query._get_cursor_wrapper(cursor)
            if self._matched is not None:
                wrapper.__dict__.update(self._matched)
                wrapper.initialized = True
            return list(wrapper)
        model, plain, new = self._model, self._plain, object.__new__
        found = []
        for row in cursor.fetchall():
            instance = new(model)
            instance.__data__ = {
                name: (value if convert is None else convert(value))
                for (name, convert), value in zip(plain, row, strict=True)
            }
            instance._dirty = set()
            instance.__rel__ = {}
            found.append(instance)
        cursor.close()
        return found


def _as_stored(field: peewee.Field) -> bool:
    """Whether the driver already hands the column back as peewee would make it: an
    integer (ids, counts, a foreign key to an id) as ``int``, text as ``str`` (SQLite and
    PostgreSQL both). peewee's conversion would only call ``int()`` or ``str()`` again, and
    for a foreign key look through the model it points to first: a fifth of the CPU of
    reading a reboot's thousands of grants (py-spy, bench/restore.py)."""
    while isinstance(field, peewee.ForeignKeyField):
        field = field.rel_field
    return type(field) in _STORED_AS_READ


_STORED_AS_READ = (
    peewee.AutoField,
    peewee.BigAutoField,
    peewee.IntegerField,
    peewee.BigIntegerField,
    peewee.CharField,
    peewee.TextField,
)


def read_rows(query: peewee.ModelSelect) -> list[Any]:
    """``list(query)`` for a query composed anew each time (an ``IN`` list of thousands of
    devices): the columns matched once for its rows, a plain read's models filled directly
    as :class:`Prepared` fills them."""
    cursor = query.model._meta.database.execute(query)
    return _Reader.matching(query, cursor).read(query, cursor)


_BY_ID: dict[type, Prepared[Any]] = {}


def by_id(model: type[M], key: int) -> M | None:
    """``model.get_or_none(id == key)``, composed once per model."""
    prepared = _BY_ID.get(model)
    if prepared is None:
        key_field = model._meta.primary_key
        prepared = _BY_ID[model] = Prepared(lambda value: model.select().where(key_field == value).limit(1))
    return prepared.first(key)


def get_by_id(model: type[M], key: int) -> M:
    """``model.get_by_id(key)``, composed once per model; raises ``model.DoesNotExist``."""
    found = by_id(model, key)
    if found is None:
        raise model.DoesNotExist(f"{model.__name__} {key} does not exist")
    return found


def create(model: type[M], **values: Any) -> M:
    """``model.create(**values)``: the row with its defaults filled in, inserted, its id set.
    The INSERT is composed once per model, set of fields and kind of database."""
    row = model(**values)
    data = row.__data__  # the values given and the fields' defaults
    fields = [model._meta.fields[name] for name in data]
    data[model._meta.primary_key.name] = insert_one(model, fields, list(data.values()))
    row._dirty.clear()
    return row
