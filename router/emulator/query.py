"""The print query stack machine (RouterOS API manual, "Queries").

Each item is evaluated against the query words in order on a stack of booleans that
starts with an endless supply of ``true``; the item matches when no ``false`` is left.
Comparisons are typed: the query value is parsed with the field's type, so ``no``
equals a stored ``false`` and ``aa:bb:…`` equals ``AA:BB:…``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from router.emulator.values import TEXT
from router.emulator.values import InvalidValue
from router.emulator.values import ValueType


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


class _Stack:
    """A list whose bottom is an infinite supply of ``True``."""

    def __init__(self) -> None:
        self.items: list[bool] = []

    def push(self, value: bool) -> None:
        self.items.append(value)

    def pop(self) -> bool:
        return self.items.pop() if self.items else True

    def peek(self, index: int) -> bool:
        """Element ``index`` counted from the top (0 = top)."""
        return self.items[-1 - index] if index < len(self.items) else True


def _apply_ops(stack: _Stack, ops: str) -> None:
    position = 0
    while position < len(ops):
        char = ops[position]
        if char.isdigit():
            end = position
            while end < len(ops) and ops[end].isdigit():
                end += 1
            index = int(ops[position:end])
            if end == len(ops):
                stack.items = [stack.peek(index)]
                return
            stack.push(stack.peek(index))
            position = end + 1 if ops[end] == "." else end
            continue
        if char == "!":
            stack.push(not stack.pop())
        elif char == "&":
            right, left = stack.pop(), stack.pop()
            stack.push(left and right)
        elif char == "|":
            right, left = stack.pop(), stack.pop()
            stack.push(left or right)
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
    stack = _Stack()
    for step in steps:
        if isinstance(step, StackOps):
            _apply_ops(stack, step.ops)
        else:
            stack.push(_compare(step, row, type_of))
    return all(stack.items)
