"""JSON from strangers, read without surprises: the one place untrusted JSON is decoded.

Python's parser alone is not enough for a body anyone can send: a document nested about
1,000 deep raises ``RecursionError`` (a crash, not a refusal), ``NaN`` and ``Infinity`` are
accepted though JSON has neither, a number thousands of digits long costs real time, and a
repeated key silently keeps the last value. :func:`loads` measures the nesting first with a
flat scan (no recursion, stops at the limit), then decodes with hooks that enforce the rest;
:func:`sanitize` applies the same limits to a value that is already decoded. Anything refused
raises :class:`JsonRefused` with a short reason that is safe to log.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any


class JsonRefused(ValueError):
    """The input is not JSON we accept. ``reason`` is short and safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def loads(
    raw: bytes | bytearray | memoryview | str,
    *,
    max_depth: int,
    max_bytes: int | None = None,
    max_number_chars: int | None = None,
    exact_numbers: bool = False,
    unique_keys: bool = False,
) -> Any:
    """Decode UTF-8 JSON text, or raise :class:`JsonRefused`.

    ``max_depth``: deepest bracket nesting; ``max_bytes``: size of the UTF-8 text (None: the
    caller bounds it); ``max_number_chars``: longest number literal (None: Python's own limit);
    ``exact_numbers``: fractions as ``Decimal`` (money), else finite ``float``; ``unique_keys``:
    refuse an object that names a key twice. ``NaN`` and ``Infinity`` are always refused.
    """
    text = _text(raw, max_bytes)
    if nesting_depth(text, stop_after=max_depth) > max_depth:
        raise JsonRefused("JSON nested too deeply")
    try:
        return json.loads(
            text,
            parse_int=_int_reader(max_number_chars),
            parse_float=_fraction_reader(max_number_chars, exact_numbers),
            parse_constant=_refuse_constant,
            object_pairs_hook=_object_without_duplicates if unique_keys else None,
        )
    except JsonRefused:
        raise
    except (ValueError, RecursionError):  # RecursionError: belt and braces, the scan comes first
        raise JsonRefused("body is not valid JSON") from None


def nesting_depth(text: str, *, stop_after: int | None = None) -> int:
    """How deep brackets nest in ``text`` outside strings (stops counting past ``stop_after``)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_after is not None and deepest > stop_after:
                    break
        elif char in "]}":
            depth -= 1
    return deepest


def sanitize(value: object, *, max_depth: int, max_nodes: int, max_number_chars: int) -> Any:
    """A copy of an already-decoded value under the same limits as :func:`loads` (fractions as
    ``Decimal``), at most ``max_nodes`` values in all; or :class:`JsonRefused`."""
    return _sanitize(value, depth=0, budget=[max_nodes], max_depth=max_depth, max_number_chars=max_number_chars)


def _text(raw: bytes | bytearray | memoryview | str, max_bytes: int | None) -> str:
    if isinstance(raw, str):
        if max_bytes is not None and len(raw) > max_bytes:  # cheap first: a character is at least a byte
            raise JsonRefused("body too large")
        try:
            size = len(raw.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate
            raise JsonRefused("body is not UTF-8") from None
        if max_bytes is not None and size > max_bytes:
            raise JsonRefused("body too large")
        return raw
    data = bytes(raw)
    if max_bytes is not None and len(data) > max_bytes:
        raise JsonRefused("body too large")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonRefused("body is not UTF-8") from None


def _int_reader(max_chars: int | None) -> Callable[[str], int]:
    def read(text: str) -> int:
        if max_chars is not None and len(text) > max_chars:
            raise JsonRefused("number too long")
        return int(text)

    return read


def _fraction_reader(max_chars: int | None, exact: bool) -> Callable[[str], float | Decimal]:
    def read(text: str) -> float | Decimal:
        if max_chars is not None and len(text) > max_chars:
            raise JsonRefused("number too long")
        if exact:
            return Decimal(text)
        value = float(text)
        if not math.isfinite(value):
            raise JsonRefused("number out of range")
        return value

    return read


def _refuse_constant(name: str) -> Any:
    raise JsonRefused("NaN or Infinity in JSON")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JsonRefused("duplicate key in JSON object")
        result[key] = value
    return result


def _sanitize(value: object, *, depth: int, budget: list[int], max_depth: int, max_number_chars: int) -> Any:
    budget[0] -= 1
    if depth > max_depth or budget[0] < 0:
        raise JsonRefused("JSON nested too deeply or too large")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if abs(value) >= 10**max_number_chars:
            raise JsonRefused("number too long")
        return value
    if isinstance(value, (float, Decimal)):
        number = Decimal(repr(value)) if isinstance(value, float) else value
        if not number.is_finite():
            raise JsonRefused("NaN or Infinity in JSON")
        return number

    def inner(item: object) -> Any:
        return _sanitize(item, depth=depth + 1, budget=budget, max_depth=max_depth, max_number_chars=max_number_chars)

    if isinstance(value, Mapping):
        copied: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise JsonRefused("object key is not text")
            copied[key] = inner(item)
        return copied
    if isinstance(value, (list, tuple)):
        return [inner(item) for item in value]
    raise JsonRefused("value of a type JSON cannot hold")
