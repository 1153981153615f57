"""The print query stack machine (RouterOS API manual, "Queries").

Each item is evaluated against the query words in order on a stack of booleans that
starts with an endless supply of ``true``; the item matches when no ``false`` is left.
Comparisons are typed: the query value is parsed with the field's type, so ``no``
equals a stored ``false`` and ``aa:bb:…`` equals ``AA:BB:…``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from router.emulator.values import TEXT, InvalidValue, ValueType


class QueryError(Exception):
    """A query word the router cannot understand."""


@dataclass(frozen=True)
class Comparison:
    operator: str  # "has", "lacks", "=", "<", ">"
    name: str
    value: str = ""


@dataclass(frozen=True)
class StackOps:
    ops: str


QueryStep = Comparison | StackOps
TypeLookup = Callable[[str], ValueType]
T = TypeVar("T")


def compile_query(words: list[str]) -> list[QueryStep]:
    steps: list[QueryStep] = []
    for word in words:
        body = word[1:]
        if body.startswith("#"):
            steps.append(StackOps(body[1:]))
        elif body[:1] in ("=", "<", ">"):
            name, sep, value = body[1:].partition("=")
            if not name or not sep:
                raise QueryError(f"bad query word {word!r}")
            steps.append(Comparison(body[0], name, value))
        elif body.startswith("-"):
            steps.append(Comparison("lacks", body[1:]))
        elif "=" in body:
            name, _, value = body.partition("=")
            steps.append(Comparison("=", name, value))
        elif body:
            steps.append(Comparison("has", body))
        else:
            raise QueryError("empty query word")
    return steps


class _Stack(Generic[T]):
    """A list whose bottom is an infinite supply of ``bottom`` (``True`` when matching rows)."""

    def __init__(self, bottom: T) -> None:
        self.items: list[T] = []
        self.bottom = bottom

    def push(self, value: T) -> None:
        self.items.append(value)

    def pop(self) -> T:
        return self.items.pop() if self.items else self.bottom

    def peek(self, index: int) -> T:
        """Element ``index`` counted from the top (0 = top)."""
        return self.items[-1 - index] if index < len(self.items) else self.bottom


@dataclass(frozen=True)
class _Algebra(Generic[T]):
    """What ``!``, ``&`` and ``|`` mean for the stack's elements."""

    negate: Callable[[T], T]
    both: Callable[[T, T], T]
    either: Callable[[T, T], T]


_BOOLEANS: _Algebra[bool] = _Algebra(
    lambda value: not value, lambda left, right: left and right, lambda left, right: left or right
)


def _apply_ops(stack: _Stack[T], ops: str, algebra: _Algebra[T]) -> None:
    position = 0
    while position < len(ops):
        char = ops[position]
        if char in "0123456789":
            end = position
            while end < len(ops) and ops[end] in "0123456789":
                end += 1
            index = int(ops[position:end])
            if end == len(ops):
                stack.items = [stack.peek(index)]
                return
            stack.push(stack.peek(index))
            position = end + 1 if ops[end] == "." else end
            continue
        if char == "!":
            stack.push(algebra.negate(stack.pop()))
        elif char == "&":
            right, left = stack.pop(), stack.pop()
            stack.push(algebra.both(left, right))
        elif char == "|":
            right, left = stack.pop(), stack.pop()
            stack.push(algebra.either(left, right))
        elif char == ".":
            stack.push(stack.peek(0))
        else:
            raise QueryError(f"bad query operation {char!r}")
        position += 1


def _compare(step: Comparison, row: Mapping[str, Any], type_of: TypeLookup) -> bool:
    present = row.get(step.name) is not None
    if step.operator == "has":
        return present
    if step.operator == "lacks":
        return not present
    value_type = type_of(step.name)
    if not present:
        return step.operator == "=" and step.value == ""
    stored = row[step.name]
    try:
        wanted = value_type.parse(step.name, step.value)
    except InvalidValue:
        value_type, stored, wanted = TEXT, value_type.render(stored), step.value
    if step.operator == "=":
        return bool(value_type.order_key(stored) == value_type.order_key(wanted))
    try:
        if step.operator == "<":
            return bool(value_type.order_key(stored) < value_type.order_key(wanted))
        return bool(value_type.order_key(stored) > value_type.order_key(wanted))
    except TypeError:
        return False


def matches(steps: list[QueryStep], row: Mapping[str, Any], type_of: TypeLookup) -> bool:
    """True when ``row`` (typed values, absent = missing) satisfies the compiled query."""
    stack: _Stack[bool] = _Stack(True)
    for step in steps:
        if isinstance(step, StackOps):
            _apply_ops(stack, step.ops, _BOOLEANS)
        else:
            stack.push(_compare(step, row, type_of))
    return all(stack.items)


# ----- narrowing (the index fast path) ---------------------------------------------------
# The same stack, run once per query instead of once per row, over "terms": a tuple of
# non-empty ``=`` comparisons such that a row can only make that stack element true if it
# satisfies one of them, or None when nothing is known (any row may make it true).
Terms = tuple[Comparison, ...] | None


def _narrower(left: Terms, right: Terms) -> Terms:
    if left is None or right is None:
        return right if left is None else left
    return left if len(left) <= len(right) else right


_TERMS: _Algebra[Terms] = _Algebra(
    lambda terms: None,  # a negation may be true for rows that match no term
    _narrower,  # a row satisfying both satisfies either one's terms; keep the shorter list
    lambda left, right: None if left is None or right is None else left + right,
)


def narrowing_terms(steps: list[QueryStep]) -> tuple[Comparison, ...] | None:
    """Equality comparisons at least one of which every matching row satisfies, or None.

    With them a menu may look rows up through indexes instead of testing every row;
    :func:`matches` must still decide each row found. None means "test every row", also
    for queries whose stack operations are invalid (so they fail the way they always did).
    """
    stack: _Stack[Terms] = _Stack(None)
    try:
        for step in steps:
            if isinstance(step, StackOps):
                _apply_ops(stack, step.ops, _TERMS)
            elif step.operator == "=" and step.value != "":
                stack.push((step,))
            else:
                stack.push(None)
    except QueryError:
        return None
    found = [terms for terms in stack.items if terms is not None]
    return min(found, key=len) if found else None
