"""The generic menu engine: typed fields, ``.id`` handling and the standard verbs.

A :class:`ConfigMenu` stores configuration rows (``add/set/unset/remove/enable/
disable``); ``live_menus.ComputedMenu`` shows rows that something else owns (hotspot
sessions, hosts, system resource). Both share ``print``/``getall`` with ``.proplist``,
``count-only`` and the query stack.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from router.emulator.codec import Command
from router.emulator.query import QueryError
from router.emulator.query import compile_query
from router.emulator.query import matches
from router.emulator.values import BOOL
from router.emulator.values import ID
from router.emulator.values import TEXT
from router.emulator.values import InvalidValue
from router.emulator.values import ValueType
from router.emulator.values import format_id

READ_VERBS = frozenset({"print", "getall"})
CONFIG_VERBS = frozenset({"print", "getall", "add", "set", "unset", "remove", "enable", "disable"})
PRINT_OPTIONS = frozenset(
    {".proplist", "count-only", "detail", "stats", "without-paging", "terse", "brief", "as-value",
     "show-ids", "follow", "follow-only", "interval", "value-list", "where", "from"}
)

Values = dict[str, Any]
Record = tuple[int | None, Values]


class Trap(Exception):
    """A command failure that becomes ``!trap =message=… [=category=…]`` followed by ``!done``."""

    def __init__(self, message: str, category: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.category = category


@dataclass(frozen=True)
class Field:
    """One property of a menu row. ``ref`` names the menu whose ``name`` values it must match."""

    name: str
    type: ValueType = TEXT
    default: Any = None
    read_only: bool = False
    required: bool = False
    sensitive: bool = False
    write_only: bool = False
    ref: str | None = None
    ref_extra: tuple[str, ...] = ()


@dataclass
class Outcome:
    """What a command answers before ``!done``: rows (``!re``) and attributes of ``!done``."""

    rows: list[list[tuple[str, str]]] = dataclass_field(default_factory=list)
    done: list[tuple[str, str]] = dataclass_field(default_factory=list)
    listing: bool = False  # a print: an empty result gets ``!empty`` in the 7.18 profile


@dataclass
class Context:
    """Per-command facts a menu may need."""

    now: float
    policies: frozenset[str]
    menus: dict[str, Menu]


Action = Callable[[Command, Context], Outcome]


class Menu:
    """Shared print machinery; subclasses supply :meth:`records` and more verbs."""

    def __init__(self, path: str, fields: list[Field], verbs: frozenset[str] = READ_VERBS) -> None:
        self.path = path
        self.fields = {item.name: item for item in fields}
        self.verbs = verbs

    def records(self, ctx: Context) -> list[Record]:
        raise NotImplementedError

    def type_of(self, name: str) -> ValueType:
        if name == ".id":
            return ID
        found = self.fields.get(name)
        return found.type if found else TEXT

    def handle(self, verb: str, command: Command, ctx: Context) -> Outcome:
        handler: Action | None = getattr(self, "do_" + verb.replace("-", "_"), None)
        if verb not in self.verbs or handler is None:
            raise Trap("no such command", 0)
        return handler(command, ctx)

    def do_print(self, command: Command, ctx: Context) -> Outcome:
        for name in command.attributes:
            if name not in PRINT_OPTIONS:
                raise Trap(f"unknown parameter {name}")
        try:
            steps = compile_query(command.queries)
        except QueryError as error:
            raise Trap(str(error)) from None
        found = [
            (row_id, values)
            for row_id, values in self.records(ctx)
            if matches(steps, {**values, ".id": row_id}, self.type_of)
        ]
        if "count-only" in command.attributes:
            return Outcome(done=[("ret", str(len(found)))])
        proplist = command.attributes.get(".proplist")
        wanted = None if proplist is None else {name for name in proplist.split(",") if name}
        rows = [self.render(row_id, values, ctx, wanted) for row_id, values in found]
        return Outcome(rows=rows, listing=True)

    do_getall = do_print

    def render(self, row_id: int | None, values: Values, ctx: Context, wanted: set[str] | None = None
               ) -> list[tuple[str, str]]:
        """Canonical words for one row; unset, write-only and (without ``sensitive``) secret ones left out."""
        words: list[tuple[str, str]] = []
        if row_id is not None and (wanted is None or ".id" in wanted):
            words.append((".id", format_id(row_id)))
        for name, spec in self.fields.items():
            value = values.get(name)
            if value is None or spec.write_only or (wanted is not None and name not in wanted):
                continue
            if spec.sensitive and "sensitive" not in ctx.policies:
                continue
            words.append((name, spec.type.render(value)))
        return words

    def resolve_ids(self, text: str | None, ctx: Context) -> list[int]:
        """``*1A,*1B`` (or names where RouterOS allows them) to row ids; ``no such item`` otherwise."""
        if not text:
            raise Trap("no such item")
        known = {row_id: values for row_id, values in self.records(ctx) if row_id is not None}
        ids: list[int] = []
        for part in text.split(","):
            part = part.strip()
            try:
                row_id: int | None = ID.parse(".id", part)
            except InvalidValue:
                row_id = self.id_for_name(part, known)
            if row_id is None or row_id not in known:
                raise Trap("no such item")
            ids.append(row_id)
        return ids

    def id_for_name(self, name: str, known: dict[int, Values]) -> int | None:
        return None


class ConfigMenu(Menu):
    """Rows of configuration with the full set of editing verbs."""

    def __init__(self, path: str, fields: list[Field], verbs: frozenset[str] = CONFIG_VERBS, *,
                 unique_name: bool = False, name_is_id: bool = False,
                 duplicate_message: str = "failure: already have item with such name") -> None:
        super().__init__(path, fields, verbs)
        self.rows: dict[int, Values] = {}
        self.protected: set[int] = set()
        self.next_id = 1
        self.unique_name = unique_name
        self.name_is_id = name_is_id
        self.duplicate_message = duplicate_message
        self.on_remove: list[Callable[[Values], None]] = []

    def records(self, ctx: Context | None = None) -> list[Record]:
        return list(self.rows.items())

    def id_for_name(self, name: str, known: dict[int, Values]) -> int | None:
        if not self.name_is_id:
            return None
        return next((row_id for row_id, values in known.items() if values.get("name") == name), None)

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
        old_rows, old_protected = self.rows, self.protected
        self.rows, self.protected = {}, set()
        for old_id, values in old_rows.items():
            new_id = self.insert(values)
            if old_id in old_protected:
                self.protected.add(new_id)

    def with_defaults(self, values: Values) -> Values:
        merged = {name: spec.default for name, spec in self.fields.items() if spec.default is not None}
        merged.update(values)
        return merged

    def parse_assignments(self, texts: dict[str, str], ctx: Context | None, *,
                          allow_read_only: bool = False) -> Values:
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
        names = {values.get("name") for _, values in target.records(ctx)}
        if value not in names and value not in spec.ref_extra:
            raise Trap(f"input does not match any value of {spec.name}", 1)

    def validate(self, row_id: int | None, values: Values) -> None:
        """Whole-row rules: required fields, unique names. ``row_id`` is None for an add."""
        for name, spec in self.fields.items():
            if spec.required and values.get(name) in (None, ""):
                raise Trap(f"failure: {name} not specified")
        if self.unique_name:
            for other_id, other in self.rows.items():
                if other_id != row_id and other.get("name") == values.get("name"):
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
        self._change(ids, {name: None for name in names})
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

