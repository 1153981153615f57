"""Reading a JSON request body: the one place every JSON endpoint gets its body from.

Flask's ``request.get_json`` turns invalid JSON into a 400, but a body nested about 1,000
deep makes Python's parser raise ``RecursionError``, which became a 500. Here the body is
decoded by :func:`portal.safe_json.loads` (nesting measured first with a flat scan, no NaN or
Infinity, a number too long to read refused), the size is bounded by Flask's
``MAX_CONTENT_LENGTH`` (413), and whatever is refused becomes ``BadInput("bad_input")``.

The M-Pesa callback is not read here: it must answer Daraja 200 for any body and record the
bad ones, so it hands the raw bytes to :func:`portal.mpesa.callbacks.parse_stk_callback`,
which decodes them with the same module (stricter: no repeated keys, short numbers).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import request

from portal import safe_json
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
        return safe_json.loads(raw, max_depth=max_depth)
    except safe_json.JsonRefused as err:
        raise _refuse(err.reason) from None


def _refuse(reason: str) -> BadInput:
    log.info("refused JSON body on %s: %s", request.path, reason)
    return BadInput("bad_input")
