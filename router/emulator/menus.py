"""The generic menu engine: typed fields, ``.id`` handling and ``print``.

``config_menu.ConfigMenu`` stores configuration rows (``add/set/unset/remove/enable/
disable``); ``live_menus.ComputedMenu`` shows rows that something else owns (hotspot
sessions, hosts, system resource). Both share ``print``/``getall`` with ``.proplist``,
``count-only`` and the query stack. A print whose query pins a field to a value looks the
candidate rows up through the menu's indexes (:meth:`Menu.select`) instead of testing
every row; the query engine still decides each candidate, so the answer is the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from router.emulator.codec import Command
from router.emulator.query import Comparison, QueryError, QueryStep, compile_query, matches, narrowing_terms
from router.emulator.values import ID, TEXT, InvalidValue, ValueType, format_id

READ_VERBS = frozenset({"print", "getall"})
CONFIG_VERBS = frozenset({"print", "getall", "add", "set", "unset", "remove", "enable", "disable"})
PRINT_OPTIONS = frozenset(
    {
        ".proplist",
        "count-only",
        "detail",
        "stats",
        "without-paging",
        "terse",
        "brief",
        "as-value",
        "show-ids",
        "follow",
        "follow-only",
        "interval",
        "value-list",
        "where",
        "from",
    }
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

    def record(self, row_id: int, ctx: Context) -> Values | None:
        """The row with id ``row_id`` (None if there is none); subclasses answer without a scan."""
        return next((values for found_id, values in self.records(ctx) if found_id == row_id), None)

    def lookup(self, name: str, value: Any) -> Iterable[int] | None:
        """Ids of the rows whose ``name`` may equal the typed ``value``: a superset of the rows
        the query engine would find equal; None when the menu cannot tell without a scan."""
        return None

    def has_id(self, row_id: int, ctx: Context) -> bool:
        return self.record(row_id, ctx) is not None

    def in_id_order(self) -> bool:
        """Whether :meth:`records` surely lists rows by ascending id, as the fast path returns them."""
        return False

    def select(self, steps: list[QueryStep], ctx: Context) -> list[Record]:
        """The rows worth testing against ``steps``, in print order: every row, or (fast path)
        the rows the indexes find for the query's equality terms."""
        terms = narrowing_terms(steps)
        if terms is None or not self.in_id_order():
            return self.records(ctx)
        ids: set[int] = set()
        for term in terms:
            try:
                value = self.type_of(term.name).parse(term.name, term.value)
            except InvalidValue:
                return self.records(ctx)  # compared as text: no index for that
            found = [value] if term.name == ".id" else self.lookup(term.name, value)
            if found is None:
                return self.records(ctx)
            ids.update(found)
        records: list[Record] = []
        for row_id in sorted(ids):
            values = self.record(row_id, ctx)
            if values is not None:
                records.append((row_id, values))
        return records

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
        # A row is copied to carry its id only for a query that asks about the id.
        by_id = any(isinstance(step, Comparison) and step.name == ".id" for step in steps)
        try:
            found = [
                (row_id, values)
                for row_id, values in self.select(steps, ctx)
                if not steps or matches(steps, {**values, ".id": row_id} if by_id else values, self.type_of)
            ]
        except QueryError as error:  # a bad stack operation shows up only when evaluated
            raise Trap(str(error)) from None
        if "count-only" in command.attributes:
            return Outcome(done=[("ret", str(len(found)))])
        proplist = command.attributes.get(".proplist")
        wanted = None if proplist is None else {name for name in proplist.split(",") if name}
        shown = self._shown(ctx, wanted)  # worked out once per print, not per row
        with_id = wanted is None or ".id" in wanted
        rows = [self._words(row_id if with_id else None, values, shown) for row_id, values in found]
        return Outcome(rows=rows, listing=True)

    do_getall = do_print

    def _shown(self, ctx: Context, wanted: set[str] | None) -> list[Field]:
        """The fields a print shows, in canonical order: asked for (all without a proplist),
        not write-only, and secret ones only with the ``sensitive`` policy."""
        sensitive = "sensitive" in ctx.policies
        return [
            spec
            for name, spec in self.fields.items()
            if (wanted is None or name in wanted) and not spec.write_only and (sensitive or not spec.sensitive)
        ]

    @staticmethod
    def _words(row_id: int | None, values: Values, shown: list[Field]) -> list[tuple[str, str]]:
        """Canonical words for one row: its id (when asked for) and its set values of ``shown``."""
        words = [(".id", format_id(row_id))] if row_id is not None else []
        for spec in shown:
            value = values.get(spec.name)
            if value is not None:
                words.append((spec.name, spec.type.render(value)))
        return words

    def resolve_ids(self, text: str | None, ctx: Context) -> list[int]:
        """``*1A,*1B`` (or names where RouterOS allows them) to row ids; ``no such item`` otherwise."""
        if not text:
            raise Trap("no such item")
        ids: list[int] = []
        for part in text.split(","):
            part = part.strip()
            try:
                row_id: int | None = ID.parse(".id", part)
            except InvalidValue:
                row_id = self.id_for_name(part)
            if row_id is None or not self.has_id(row_id, ctx):
                raise Trap("no such item")
            ids.append(row_id)
        return ids

    def id_for_name(self, name: str) -> int | None:
        return None
