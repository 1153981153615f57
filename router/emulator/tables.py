"""Dicts with equality indexes, so lookups by a field cost the same at 10 rows or 10 000.

An index only ever *narrows*: a lookup returns every entry whose field may equal the
value (a superset of the true matches, never missing one), and callers still apply their
exact test to what it returns. That keeps the fast paths faithful by construction, as long
as the index is in step with the data. It is, because every way of writing goes through
these classes: all dict mutators are overridden, rows of a :class:`RowTable` are
:class:`Row` dicts that report in-place writes, and objects in an :class:`IndexedTable`
are re-indexed with :meth:`IndexedTable.reindex` wherever an indexed attribute changes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterable
from typing import Any

Keys = tuple[tuple[str, Hashable], ...]
_MISSING = object()
#: Every write to any table takes the next number: a table's ``version`` names its content,
#: and a table that replaces another never repeats a version the other had.
_WRITES = itertools.count(1)


class _IndexedDict(dict[Any, Any]):
    """``key -> entry`` plus ``field -> field key -> keys of the entries having it``."""

    def __init__(self, fields: Iterable[str]) -> None:
        super().__init__()
        self._index: dict[str, dict[Hashable, dict[Any, None]]] = {name: {} for name in fields}
        self._keys_of_entry: dict[Any, Keys] = {}
        self.version = next(_WRITES)  # moves on every write: what is worked out from the entries is kept until it does

    def _keys(self, key: Any, entry: Any) -> Keys:
        """``(field, field key)`` pairs to index ``entry`` (stored under ``key``) by."""
        raise NotImplementedError

    def _add(self, key: Any, entry: Any) -> None:
        self.version = next(_WRITES)
        keys = self._keys(key, entry)
        self._keys_of_entry[key] = keys
        for name, field_key in keys:
            self._index[name].setdefault(field_key, {})[key] = None

    def _drop(self, key: Any) -> None:
        self.version = next(_WRITES)
        for name, field_key in self._keys_of_entry.pop(key, ()):
            bucket = self._index[name][field_key]
            bucket.pop(key, None)
            if not bucket:
                del self._index[name][field_key]

    def _keys_with(self, name: str, field_key: Hashable) -> list[Any]:
        return list(self._index[name].get(field_key, ()))

    # ----- every dict mutator keeps the index in step ---------------------------------
    def __setitem__(self, key: Any, entry: Any) -> None:
        if key in self:
            self._drop(key)
        super().__setitem__(key, entry)
        self._add(key, entry)

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._drop(key)

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        if key in self:
            self._drop(key)
            return super().pop(key)
        if default is _MISSING:
            raise KeyError(key)
        return default

    def popitem(self) -> tuple[Any, Any]:
        key, entry = super().popitem()
        self._drop(key)
        return key, entry

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, entry in dict(*args, **kwargs).items():
            self[key] = entry

    def __ior__(self, other: Any) -> _IndexedDict:  # type: ignore[misc]
        self.update(other)
        return self

    def clear(self) -> None:
        super().clear()
        self.version = next(_WRITES)
        self._keys_of_entry.clear()
        for index in self._index.values():
            index.clear()


class IndexedTable(_IndexedDict):
    """Live objects (hosts, sessions, cookies) indexed by some of their attributes.

    Whoever changes an indexed attribute in place calls :meth:`reindex` for that entry.
    """

    def __init__(self, *attributes: str) -> None:
        super().__init__(attributes)

    def _keys(self, key: Any, entry: Any) -> Keys:
        return tuple((name, getattr(entry, name)) for name in self._index)

    def where(self, attribute: str, value: Hashable) -> list[Any]:
        """Entries whose ``attribute`` equals ``value`` (in no particular order)."""
        return [self[key] for key in self._keys_with(attribute, value)]

    def reindex(self, key: Any) -> None:
        self._drop(key)
        self._add(key, self[key])


class Row(dict[str, Any]):
    """A configuration row that tells its :class:`RowTable` about in-place writes."""

    __slots__ = ("_row_id", "_table")

    def __init__(self, table: RowTable, row_id: int, values: dict[str, Any]) -> None:
        super().__init__(values)
        self._table = table
        self._row_id = row_id

    def _changed(self) -> None:
        self._table.row_changed(self._row_id, self)

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, value)
        if name in self._table.indexed:
            self._changed()

    def __delitem__(self, name: str) -> None:
        super().__delitem__(name)
        self._changed()

    def pop(self, *args: Any) -> Any:
        try:
            return super().pop(*args)
        finally:
            self._changed()

    def popitem(self) -> tuple[str, Any]:
        try:
            return super().popitem()
        finally:
            self._changed()

    def setdefault(self, name: str, default: Any = None) -> Any:
        try:
            return super().setdefault(name, default)
        finally:
            self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._changed()

    def __ior__(self, other: Any) -> Row:  # type: ignore[misc,override]
        self.update(other)
        return self

    def clear(self) -> None:
        super().clear()
        self._changed()


class RowTable(_IndexedDict):
    """Configuration rows by id, indexed by the *typed* order key of some fields.

    ``order_key`` is the same function the query engine compares with, so a row whose field
    compares equal to a query value is always in the bucket of that value's key. Rows
    are stored as :class:`Row` copies. :meth:`ids_with` answers None (scan instead) when
    it cannot be sure: a field that is not indexed, a stored value without a key, or
    rows that are not in ascending id order (the order prints list them in).
    """

    def __init__(self, fields: Iterable[str], type_of: Callable[[str], Any]) -> None:
        self.indexed = frozenset(fields)
        self._type_of = type_of
        self._unkeyed: dict[str, set[int]] = {name: set() for name in self.indexed}
        self._last_id: int | None = None
        self.ascending = True
        super().__init__(self.indexed)

    def _keys(self, key: Any, entry: Any) -> Keys:
        keys: list[tuple[str, Hashable]] = []
        for name in self.indexed:
            value = entry.get(name)
            if value is None:
                continue
            try:
                field_key = self._type_of(name).order_key(value)
                hash(field_key)
            except Exception:  # noqa: BLE001 - such a row makes the field unusable for lookups
                self._unkeyed[name].add(key)
                continue
            keys.append((name, field_key))
        return tuple(keys)

    def _drop(self, key: Any) -> None:
        super()._drop(key)
        for unkeyed in self._unkeyed.values():
            unkeyed.discard(key)

    def __setitem__(self, key: Any, entry: Any) -> None:
        if key not in self:
            if not isinstance(key, int) or (self._last_id is not None and key <= self._last_id):
                self.ascending = False
            self._last_id = key if isinstance(key, int) else self._last_id
        super().__setitem__(key, Row(self, key, entry))

    def clear(self) -> None:
        super().clear()
        self._last_id = None
        for unkeyed in self._unkeyed.values():
            unkeyed.clear()

    def renumbered(self, first_id: int) -> tuple[RowTable, dict[int, int]]:
        """The same rows, in the same order, under new ids from ``first_id`` (a reboot's
        renumbering), with their index entries carried over instead of worked out again;
        and old id -> new id."""
        table = RowTable(self.indexed, self._type_of)
        new_ids = {old_id: new_id for new_id, old_id in enumerate(self, start=first_id)}
        for old_id, row in self.items():
            new_id = new_ids[old_id]
            dict.__setitem__(table, new_id, Row(table, new_id, row))
            keys = self._keys_of_entry.get(old_id, ())
            table._keys_of_entry[new_id] = keys
            for name, field_key in keys:
                table._index[name].setdefault(field_key, {})[new_id] = None
        for name, unkeyed in self._unkeyed.items():
            table._unkeyed[name] = {new_ids[old_id] for old_id in unkeyed}
        table._last_id = first_id + len(new_ids) - 1 if new_ids else None
        return table, new_ids

    def row_changed(self, row_id: int, row: Row) -> None:
        """A stored row was written in place (a row no longer stored is ignored)."""
        if dict.get(self, row_id) is row:
            self._drop(row_id)
            self._add(row_id, row)

    def ids_with(self, name: str, value: Any) -> list[int] | None:
        """Ids (ascending) of the rows whose ``name`` has the order key of the typed ``value``."""
        if value is None or name not in self.indexed or not self.ascending or self._unkeyed[name]:
            return None
        try:
            return sorted(self._keys_with(name, self._type_of(name).order_key(value)))
        except Exception:  # noqa: BLE001 - an odd value: let the caller scan
            return None
