"""A werkzeug HTTP server in a daemon thread, shared by the SMS gateway simulator and the
webhook receiver (the Daraja simulator does the same in ``portal/mpesa/simulator/server.py``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


class _QuietHandler(WSGIRequestHandler):
    """Log at debug level, path only: query strings may carry phone numbers."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, urlsplit(self.path).path, code)


class LoopbackServer:
    """Serve ``self.wsgi`` on ``host:port`` (port 0 = any free port) until :meth:`stop`."""

    thread_name = "loopback-http"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        self.host = host
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        raise NotImplementedError

    def start(self) -> Self:
        """Bind and serve in a background thread. Returns self."""
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        server = make_server(self.host, self.port, self.wsgi, threaded=True, request_handler=_QuietHandler)
        self._server = server
        self.port = server.server_port
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": POLL_SECONDS},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        log.info("%s listening on %s", type(self).__name__, self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} not started")
        return f"http://{self.host}:{self.port}"


def json_response(data: object, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


def html_response(page: str) -> Response:
    return Response(page, content_type="text/html; charset=utf-8")


def text_response(text: str, status: int) -> Response:
    return Response(text, status=status, content_type="text/plain; charset=utf-8")
