"""Reading a JSON request body: the one place every JSON endpoint gets its body from.

Flask's ``request.get_json`` turns invalid JSON into a 400, but a body nested about 1,000
deep makes Python's parser raise ``RecursionError``, which became a 500. Here the nesting is
measured first with a flat scan (no recursion, stops at the limit), the size is bounded by
Flask's ``MAX_CONTENT_LENGTH`` (413), and anything that is not plain JSON (not UTF-8, NaN or
Infinity, a number too long to read) is refused the same way: ``BadInput("bad_input")``.

The M-Pesa callback is not read here: it must answer Daraja 200 for any body and record the
bad ones, so it hands the raw bytes to :func:`portal.mpesa.callbacks.parse_stk_callback`,
which has the same guards.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from flask import request

from portal.domain.errors import BadInput

log = logging.getLogger(__name__)
# Our JSON bodies are flat objects; a little room for clients that wrap them.
MAX_DEPTH = 32


def json_object(*, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The request's body as a JSON object (the only shape our endpoints take)."""
    body = json_document(max_depth=max_depth)
    if not isinstance(body, dict):
        raise BadInput("bad_input")
    return body


def json_document(*, max_depth: int = MAX_DEPTH) -> Any:
    """The request's body as any JSON value, or ``BadInput("bad_input")``."""
    if not request.is_json:
        raise _refuse("content type is not JSON")
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: 413 from Flask
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse("body is not UTF-8") from None
    if nesting_depth(text, stop_after=max_depth) > max_depth:
        raise _refuse("JSON nested too deeply")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):  # RecursionError: belt and braces, the scan comes first
        raise _refuse("body is not valid JSON") from None


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


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _refuse(reason: str) -> BadInput:
    log.info("refused JSON body on %s: %s", request.path, reason)
    return BadInput("bad_input")
