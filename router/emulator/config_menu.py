"""Configuration menus: rows that the API edits with ``add/set/unset/remove/enable/disable``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from router.emulator.codec import Command
from router.emulator.menus import CONFIG_VERBS, Context, Field, Menu, Outcome, Record, Trap, Values
from router.emulator.tables import RowTable
from router.emulator.values import BOOL, InvalidValue, format_id


class ConfigMenu(Menu):
    """Rows of configuration with the full set of editing verbs."""

    def __init__(
        self,
        path: str,
        fields: list[Field],
        verbs: frozenset[str] = CONFIG_VERBS,
        *,
        unique_name: bool = False,
        name_is_id: bool = False,
        indexed: tuple[str, ...] = (),
        duplicate_message: str = "failure: already have item with such name",
    ) -> None:
        super().__init__(path, fields, verbs)
        self.indexed = tuple(name for name in ("name", *indexed) if name in self.fields)
        self.rows = {}
        self.protected: set[int] = set()
        self.next_id = 1
        self.unique_name = unique_name
        self.name_is_id = name_is_id
        self.duplicate_message = duplicate_message
        self.on_remove: list[Callable[[Values], None]] = []

    @property
    def rows(self) -> RowTable:
        """Rows by id (ascending), indexed on :attr:`indexed`; assigning a dict replaces them."""
        return self._rows

    @rows.setter
    def rows(self, rows: dict[int, Values]) -> None:
        table = RowTable(self.indexed, self.type_of)
        table.update(rows)
        self._rows = table

    def records(self, ctx: Context | None = None) -> list[Record]:
        return list(self.rows.items())

    def record(self, row_id: int, ctx: Context | None = None) -> Values | None:
        return self.rows.get(row_id)

    def lookup(self, name: str, value: Any) -> Iterable[int] | None:
        return self.rows.ids_with(name, value)

    def in_id_order(self) -> bool:
        return self.rows.ascending

    def find(self, name: str, value: Any) -> list[Record]:
        """Rows whose ``name`` equals ``value`` (plain ``==``), in table order."""
        ids = self.rows.ids_with(name, value)
        candidates = self.rows.items() if ids is None else [(row_id, self.rows[row_id]) for row_id in ids]
        return [(row_id, values) for row_id, values in candidates if values.get(name) == value]

    def id_for_name(self, name: str) -> int | None:
        if not self.name_is_id:
            return None
        return next((row_id for row_id, _ in self.find("name", name)), None)

    def seed(self, values: dict[str, str], *, protected: bool = False) -> int:
        """Add a factory row from RouterOS text values (no reference checks)."""
        parsed = self.parse_assignments(values, None, allow_read_only=True)
        row_id = self.insert(self.with_defaults(parsed))
        if protected:
            self.protected.add(row_id)
        return row_id

    def insert(self, values: Values) -> int:
        row_id = self.next_id
        self.next_id += 1
        self.rows[row_id] = {name: value for name, value in values.items() if value is not None}
        return row_id

    def renumber(self) -> None:
        """New ids for every row (after a reboot), keeping order; old ids are never reused."""
        self._rows, new_ids = self._rows.renumbered(self.next_id)
        self.next_id += len(new_ids)
        self.protected = {new_ids[old_id] for old_id in self.protected if old_id in new_ids}

    def with_defaults(self, values: Values) -> Values:
        merged = {name: spec.default for name, spec in self.fields.items() if spec.default is not None}
        merged.update(values)
        return merged

    def parse_assignments(self, texts: dict[str, str], ctx: Context | None, *, allow_read_only: bool = False) -> Values:
        """Typed values for ``=name=value`` words; an empty value unsets (None)."""
        parsed: Values = {}
        for name, text in texts.items():
            spec = self.fields.get(name)
            if spec is None or (spec.read_only and not allow_read_only):
                raise Trap(f"unknown parameter {name}")
            if text == "" and spec.type is not BOOL and not spec.required:
                parsed[name] = None
                continue
            try:
                value = spec.type.parse(name, text)
            except InvalidValue as error:
                raise Trap(error.message, 1) from None
            if spec.ref and ctx is not None:
                self.check_reference(spec, value, ctx)
            parsed[name] = value
        return parsed

    @staticmethod
    def check_reference(spec: Field, value: Any, ctx: Context) -> None:
        target = ctx.menus[spec.ref or ""]
        if isinstance(target, ConfigMenu):
            known = bool(target.find("name", value))
        else:
            known = value in {values.get("name") for _, values in target.records(ctx)}
        if not known and value not in spec.ref_extra:
            raise Trap(f"input does not match any value of {spec.name}", 1)

    def validate(self, row_id: int | None, values: Values) -> None:
        """Whole-row rules: required fields, unique names. ``row_id`` is None for an add."""
        for name, spec in self.fields.items():
            if spec.required and values.get(name) in (None, ""):
                raise Trap(f"failure: {name} not specified")
        if self.unique_name:
            for other_id, _ in self.find("name", values.get("name")):
                if other_id != row_id:
                    raise Trap(self.duplicate_message)

    def do_add(self, command: Command, ctx: Context) -> Outcome:
        values = self.with_defaults(self.parse_assignments(command.attributes, ctx))
        self.validate(None, values)
        return Outcome(done=[("ret", format_id(self.insert(values)))])

    def _change(self, ids: list[int], changes: Values) -> None:
        merged = {row_id: {**self.rows[row_id], **changes} for row_id in ids}
        for row_id, values in merged.items():
            self.validate(row_id, values)
        for row_id, values in merged.items():
            self.rows[row_id] = {name: value for name, value in values.items() if value is not None}

    def do_set(self, command: Command, ctx: Context) -> Outcome:
        attributes = dict(command.attributes)
        ids = self.resolve_ids(attributes.pop(".id", None), ctx)
        self._change(ids, self.parse_assignments(attributes, ctx))
        return Outcome()

    def do_unset(self, command: Command, ctx: Context) -> Outcome:
        attributes = dict(command.attributes)
        ids = self.resolve_ids(attributes.pop(".id", None), ctx)
        names = [name for name in attributes.pop("value-name", "").split(",") if name]
        for name in list(attributes) + [name for name in names if name not in self.fields]:
            raise Trap(f"unknown parameter {name}")
        self._change(ids, dict.fromkeys(names))
        return Outcome()

    def _set_disabled(self, command: Command, ctx: Context, disabled: bool) -> Outcome:
        if "disabled" not in self.fields:
            raise Trap("no such command", 0)
        ids = self.resolve_ids(command.attributes.get(".id"), ctx)
        self._change(ids, {"disabled": disabled})
        return Outcome()

    def do_enable(self, command: Command, ctx: Context) -> Outcome:
        return self._set_disabled(command, ctx, False)

    def do_disable(self, command: Command, ctx: Context) -> Outcome:
        return self._set_disabled(command, ctx, True)

    def do_remove(self, command: Command, ctx: Context) -> Outcome:
        ids = self.resolve_ids(command.attributes.get(".id"), ctx)
        if any(row_id in self.protected for row_id in ids):
            raise Trap("failure: can not remove default item")
        for row_id in ids:
            values = self.rows.pop(row_id)
            for listener in self.on_remove:
                listener(values)
        return Outcome()
