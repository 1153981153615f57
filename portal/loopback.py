"""Servers that run in a background thread of this process: the simulators (Daraja, SMS, SMTP,
webhook) and the outbox page, usually on 127.0.0.1.

:class:`Background` gives each one ``with Server(...) as server:``; :class:`HttpThread` is
werkzeug's threaded HTTP server for one WSGI app in a daemon thread; :class:`LoopbackServer`
puts the two together for a server that is just a WSGI app.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from werkzeug.serving import WSGIRequestHandler, make_server

log = logging.getLogger(__name__)

#: How often a serving thread looks for a stop request: a quick shutdown.
POLL_SECONDS = 0.05
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


def checked_port(port: object) -> int:
    """``port`` when it is a TCP port number (0: any free port), else ValueError."""
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ValueError("port must be between 0 and 65535")
    return port


class Background:
    """Something :meth:`start` sets running in the background and :meth:`stop` ends (safe to
    call twice); ``with`` does both."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class QuietHandler(WSGIRequestHandler):
    """Log requests at debug level, path only: query strings may carry phone numbers."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, urlsplit(self.path).path, code)


class HttpThread:
    """Bind ``host:port`` now (``port`` 0: any free one, then read :attr:`port`) and serve
    ``app`` with werkzeug's threaded server in a daemon thread named ``name``."""

    def __init__(self, app: WsgiApp, *, host: str, port: int, name: str) -> None:
        self._server = make_server(host, port, app, threaded=True, request_handler=QuietHandler)
        self.port: int = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, name=name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class LoopbackServer(Background):
    """Serve :meth:`wsgi` on ``host:port`` (port 0 = any free port) until :meth:`stop`."""

    thread_name = "loopback-http"
    #: What the "listening on" log line calls this server (the class name when empty).
    title = ""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = checked_port(port)
        self._http: HttpThread | None = None

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        raise NotImplementedError

    @property
    def started(self) -> bool:
        return self._http is not None

    def start(self) -> Self:
        """Bind and serve in a background thread. Returns self."""
        if self._http is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._http = HttpThread(self.wsgi, host=self.host, port=self.port, name=self.thread_name)
        self.port = self._http.port
        listening = logging.getLogger(type(self).__module__)  # the server's own logger, not this module's
        listening.info("%s listening on %s", self.title or type(self).__name__, self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving. Safe to call twice."""
        http, self._http = self._http, None
        if http is not None:
            http.stop()

    @property
    def base_url(self) -> str:
        if self._http is None:
            raise RuntimeError(f"{type(self).__name__} not started")
        return f"http://{self.host}:{self.port}"
