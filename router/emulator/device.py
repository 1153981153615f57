"""``RouterEmulator``: a RouterOS 7.x hotspot router on a local TCP port, plus the test-side
"world" (devices joining, leaving, using data, time passing) and failure injection."""

from __future__ import annotations

import logging
import ssl
from types import TracebackType
from typing import Any

from router.clock import Clock, SystemClock
from router.emulator.codec import Command
from router.emulator.faults import FaultPlan
from router.emulator.hotspot_rows import Device, SessionRecord
from router.emulator.menus import Context
from router.emulator.server import ApiServer
from router.emulator.state import API_POLICIES, RouterState
from router.emulator.tls import Certificate, client_context, make_certificate, server_context
from router.emulator.values import IP, InvalidValue, normalize_mac

logger = logging.getLogger(__name__)


class RouterEmulator:
    """A fake MikroTik that the real librouteros client talks to over TCP (or TLS).

    ``reply_timeout_ceiling`` bounds, in real seconds, how long a ``stall`` fault holds a
    connection before closing it (None: until the client leaves or :meth:`stop`).
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        identity: str = "MikroTik",
        username: str = "pay2connect",
        password: str = "secret",
        version: str = "7.18",
        hotspot_server: str = "hotspot1",
        tls: bool = False,
        reply_timeout_ceiling: float | None = None,
        command_log_limit: int | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.tls = tls
        self.hotspot_server = hotspot_server
        self.state = RouterState(self.clock, identity=identity, version=version, hotspot_server=hotspot_server, tls=tls)
        self.state.add_api_user(username, password, {"api", "read", "write"})
        self.state.command_log_limit = command_log_limit
        self.faults = FaultPlan()
        self._certificate: Certificate | None = None
        self._server: ApiServer | None = None
        self.reply_timeout_ceiling = reply_timeout_ceiling

    # ----- lifecycle ------------------------------------------------------------------
    def start(self) -> RouterEmulator:
        if self._server is not None:
            return self
        tls_context = None
        if self.tls:
            self._certificate = make_certificate(self.host)
            tls_context = server_context(self._certificate)
        self._server = ApiServer(
            self.state,
            self.faults,
            host=self.host,
            port=self.port,
            tls_context=tls_context,
            stall_ceiling=self.reply_timeout_ceiling,
        )
        self.port = self._server.listen()
        self.state.set_api_port(self.port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> RouterEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def tls_context_for_clients(self) -> ssl.SSLContext | None:
        """A client context trusting the self-signed certificate made at :meth:`start` (TLS mode only)."""
        return client_context(self._certificate) if self._certificate is not None else None

    @property
    def command_log(self) -> list[tuple[str, dict[str, str]]]:
        """Every command received (the newest ``command_log_limit`` or more when limited, none
        when it is 0):
        ``(command word, attributes)``; passwords left out, queries under ``"?"``."""
        return self.state.command_log

    def connection_count(self) -> int:
        return self._server.connection_count() if self._server else 0

    # ----- accounts -------------------------------------------------------------------
    def add_api_user(self, name: str, password: str, policies: set[str]) -> None:
        """Add (or replace) an API login whose group has exactly ``policies``
        (a subset of api, read, write, sensitive, policy; without ``api`` it cannot log in)."""
        self.state.add_api_user(name, password, policies)

    # ----- world ----------------------------------------------------------------------
    def _now(self) -> float:
        now = self.state.now()
        self.state.hotspot.tick(now)
        return now

    @staticmethod
    def _mac(mac: str) -> str:
        normalized = normalize_mac(mac)
        if normalized is None:
            raise ValueError(f"not a MAC address: {mac!r}")
        return normalized

    def device_join(self, mac: str, ip: str, server: str | None = None) -> None:
        """A device associates and gets ``ip``: it appears in ``/ip/hotspot/host`` unauthorized."""
        try:
            address = IP.parse("ip", ip)
        except InvalidValue:
            raise ValueError(f"not an IP address: {ip!r}") from None
        with self.state.lock:
            server = server or self.state.hotspot.default_server()
            if not any(row.get("name") == server for _, row in self.state.config["/ip/hotspot"].records()):
                raise ValueError(f"no hotspot server named {server!r}")
            self.state.hotspot.join(Device(self._mac(mac), address, server), self._now())

    def device_leave(self, mac: str) -> None:
        """The device goes away; an authorized host stays until its keepalive/idle timeout ends it."""
        with self.state.lock:
            self.state.hotspot.leave(self._mac(mac), self._now())

    def device_traffic(self, mac: str, bytes_in: int, bytes_out: int) -> None:
        """The device moves data (``bytes_in`` = upload seen by the router, as in RouterOS counters)."""
        if bytes_in < 0 or bytes_out < 0:
            raise ValueError("byte counts cannot be negative")
        with self.state.lock:
            self.state.hotspot.traffic(self._mac(mac), bytes_in, bytes_out, self._now())

    def advance(self, seconds: float) -> None:
        """Move the injected ManualClock forward and apply everything that fell due."""
        advance = getattr(self.clock, "advance", None)
        if advance is None:
            raise TypeError("advance() needs the emulator to run on a ManualClock")
        with self.state.lock:
            advance(seconds)
            self._now()

    def reboot(self, boot_seconds: float = 0.0) -> None:
        """Drop every API connection, end all sessions, empty host and cookie tables, renumber ids.

        With ``boot_seconds`` the router stays away that long on the emulator's clock: API
        connections are closed at once and the hotspot notices no device until then; the
        devices still in range show up in the host table when it is back.
        """
        if self._server is not None:
            self._server.drop_connections()
        self.state.reboot(boot_seconds)

    def session_history(self) -> list[SessionRecord]:
        """Every session that ended so far (who, login, end, reason), oldest first."""
        with self.state.lock:
            self._now()
            return list(self.state.hotspot.history)

    def seconds_online(self, mac: str) -> float:
        """Total time ``mac`` was logged in: ended sessions plus the live one, on the emulator's clock."""
        mac = self._mac(mac)
        with self.state.lock:
            now = self._now()
            hotspot = self.state.hotspot
            ended = hotspot.seconds_ended.get(mac, 0.0)
            return ended + sum(now - session.login_at for session in hotspot.sessions_of("mac", mac))

    def is_online(self, mac: str) -> bool:
        with self.state.lock:
            self._now()
            return self.state.hotspot.is_online(self._mac(mac))

    # ----- snapshots --------------------------------------------------------------------
    def _snapshot(self, path: str) -> list[dict[str, Any]]:
        with self.state.lock:
            now = self._now()
            menu = self.state.menus[path]
            context = Context(now, frozenset(API_POLICIES), self.state.menus)
            outcome = menu.handle("print", Command(word=path + "/print"), context)
            return [dict(row) for row in outcome.rows]

    def hosts(self) -> list[dict[str, Any]]:
        return self._snapshot("/ip/hotspot/host")

    def active(self) -> list[dict[str, Any]]:
        return self._snapshot("/ip/hotspot/active")

    def users(self) -> list[dict[str, Any]]:
        return self._snapshot("/ip/hotspot/user")

    def profiles(self) -> list[dict[str, Any]]:
        return self._snapshot("/ip/hotspot/user/profile")

    def cookies(self) -> list[dict[str, Any]]:
        return self._snapshot("/ip/hotspot/cookie")

    # ----- failure injection -------------------------------------------------------------
    def set_down(self, down: bool) -> None:
        """Down: stop listening (connection refused) and drop open connections. Up: listen on the same port."""
        if self._server is None:
            raise RuntimeError("start() the emulator first")
        if down:
            self._server.close_listener()
            self._server.drop_connections()
        else:
            self._server.listen()

    def fail_next(
        self,
        kind: str,
        *,
        path: str | None = None,
        count: int = 1,
        message: str | None = None,
        category: int | None = None,
        execute: bool | None = None,
    ) -> None:
        """Script a failure for the next ``count`` matching commands (connections for
        ``close_on_accept``); see :mod:`router.emulator.faults` for each kind."""
        self.faults.add(kind, path=path, count=count, message=message, category=category, execute=execute)
