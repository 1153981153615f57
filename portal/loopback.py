"""Servers that run in a background thread of this process: the simulators (Daraja, SMS, SMTP,
webhook) and the outbox page, usually on 127.0.0.1.

:class:`Background` gives each one ``with Server(...) as server:``; :class:`HttpThread` is
an HTTP server for one WSGI app in a daemon thread; :class:`LoopbackServer`
puts the two together for a server that is just a WSGI app.

:class:`HttpThread` serves with waitress, as ``pay2connect serve`` does (:func:`serve_until`,
:func:`close_server`): a simulator costs a quarter of the CPU per request that werkzeug's
development server did (``bench/soak.py`` runs hundreds of thousands of them).
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

log = logging.getLogger(__name__)

#: How often a serving thread looks for a stop request: a quick shutdown.
POLL_SECONDS = 0.05
#: Requests in flight get this long to finish once the listener is closed.
DRAIN_SECONDS = 8.0
#: A simulator's requests may hang on purpose (a knob) while others go on: plenty of threads.
LOOPBACK_THREADS = 32
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]
_PORTS = random.SystemRandom()  # not the seeded module generator: two runs must not pick alike


def free_port() -> int:
    """A loopback port that nothing listens on (until someone binds it), for tests and benches
    that hand a port to another process. It lies below Linux's ephemeral range (32768+) where
    port-0 binds land, so a server started next on a port the system picks can never take it."""
    for _ in range(200):
        port = _PORTS.randrange(20000, 32000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError("no free loopback port in 20000-32000")


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


class HttpThread:
    """Bind ``host:port`` now (``port`` 0: any free one, then read :attr:`port`) and serve
    ``app`` with waitress in a daemon thread named ``name``."""

    def __init__(self, app: WsgiApp, *, host: str, port: int, name: str) -> None:
        from waitress.server import create_server

        # The headers as they came (X-Forwarded-*): the app decides whom to believe (the web
        # app applies its own trusted-proxy rule), as it did under werkzeug's server.
        server: Any = create_server(
            app, host=host, port=port, threads=LOOPBACK_THREADS, ident=None, clear_untrusted_proxy_headers=False
        )
        self._server = server
        self.port = int(server.effective_port)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=serve_until, args=(self._server, self._stop, DRAIN_SECONDS, POLL_SECONDS), name=name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=DRAIN_SECONDS + 2)
        close_server(self._server)


def serve_until(server: Any, stop: threading.Event, drain_seconds: float = DRAIN_SECONDS, poll: float = 0.2) -> None:
    """Run a waitress server until ``stop`` is set (looked at every ``poll`` seconds), then
    close the listener and let the requests in flight finish (their answers are written)
    before returning.

    waitress's own ``run()`` stops its loop at once on SystemExit, so answers computed
    after that are never sent; this loop keeps writing them.
    """
    from waitress import wasyncore
    from waitress.channel import HTTPChannel

    use_poll = server.adj.asyncore_use_poll
    while not stop.is_set():
        wasyncore.loop(timeout=poll, map=server._map, use_poll=use_poll, count=1)
    wasyncore.dispatcher.close(server)  # the listening socket only: no new connections
    deadline = time.monotonic() + drain_seconds
    while time.monotonic() < deadline:
        busy = False
        for channel in list(server._map.values()):
            if not isinstance(channel, HTTPChannel):
                continue
            if channel.requests or channel.total_outbufs_len:
                busy = True
            else:
                channel.handle_close()  # idle keep-alive connection: no next request on it
        if not busy:
            return
        wasyncore.loop(timeout=0.05, map=server._map, use_poll=use_poll, count=1)
    log.warning("requests still in flight after %.0f s; closing them", drain_seconds)


def close_server(server: Any) -> None:
    """Stop waitress's task threads and close every socket it still has."""
    from waitress import wasyncore

    server.task_dispatcher.shutdown(timeout=1)
    wasyncore.close_all(server._map)


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
