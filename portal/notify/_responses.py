"""Small werkzeug answers shared by the notify simulators' pages (they serve through
:class:`portal.loopback.LoopbackServer`)."""

from __future__ import annotations

import json

from werkzeug.wrappers import Response


def json_response(data: object, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


def html_response(page: str) -> Response:
    return Response(page, content_type="text/html; charset=utf-8")


def text_response(text: str, status: int) -> Response:
    return Response(text, status=status, content_type="text/plain; charset=utf-8")
