"""The hotspot behaviour model: devices, the host table, logins, sessions, limits, cookies.

Time is virtual. Nothing ticks in the background: :meth:`HotspotModel.tick` is called with
the clock's "now" before and after every API command and world call, and ends every
session whose deadline has passed *at that deadline* (so a 5-minute ``limit-uptime``
books exactly 5 minutes however far the clock jumped). A tick only looks at what may have
fallen due (``hotspot_timers``), and the live tables are indexed (``tables.IndexedTable``),
so the cost of a command does not grow with the number of hosts, sessions or users.

Behaviour choices where RouterOS is not documented are class attributes.

One module over 300 lines because hosts, logins, sessions and limits change together on every
tick; the row types and the timers are already apart (``hotspot_rows``, ``hotspot_timers``).
"""

from __future__ import annotations

import logging
from collections import deque

from router.emulator.config_menu import ConfigMenu
from router.emulator.hotspot_rows import (
    ANY_MAC,
    Cookie,
    Device,
    Host,
    HotspotConfig,
    Session,
    SessionRecord,
    byte_budget,
    over_byte_limit,
    packets_for,
)
from router.emulator.hotspot_timers import BindingWatch, DueQueue, Rule, binding_rules, binding_type, deadline
from router.emulator.menus import Trap, Values
from router.emulator.tables import IndexedTable

logger = logging.getLogger(__name__)


class HotspotModel:
    """Live hotspot state over the configuration menus; all times are epoch seconds."""

    api_login_by = "api"  # login-by shown for /ip/hotspot/active/login sessions (unverified)
    kick_on_user_remove = False  # removing a user leaves its live session running (so does disabling)
    cookies_survive_admin_logout = True  # /ip/hotspot/active/remove keeps the MAC cookie
    # A reboot logs every session out and books its uptime to the user, as a logout does
    # (unverified on hardware; False models counters that lose the unsaved session).
    book_uptime_on_reboot = True
    history_limit = 200_000  # ended sessions kept for tests and benchmarks (oldest dropped)

    def __init__(self, config: HotspotConfig) -> None:
        self.config = config
        self.devices: dict[str, Device] = {}
        # Insertion order is id order in all three (ids only grow); lookups sort by id.
        self.hosts = IndexedTable("id", "ip")  # MAC -> Host
        self.sessions = IndexedTable("mac", "user", "ip")  # id -> Session
        self.cookies = IndexedTable("mac", "user")  # id -> Cookie
        self._next_id = {"host": 1, "session": 1, "cookie": 1}
        self.now = 0.0  # the latest time seen by tick()
        self._session_due = DueQueue()
        self._cookie_due = DueQueue()
        self._bindings = BindingWatch()
        # Worked out from the configuration on every command and every host seen (a boot
        # sees thousands): kept while the versions of the tables they come from hold.
        self._rules: tuple[Rule, ...] = ()
        self._rules_version = 0  # of the bindings table
        self._profiles: dict[str, Values] = {}
        self._profiles_versions = (0, 0)  # of the servers and server profiles tables
        self.booting_until: float | None = None  # after reboot(boot_seconds): no hotspot, no API
        #: Every ended session, oldest first: what a customer really got online.
        self.history: deque[SessionRecord] = deque(maxlen=self.history_limit)
        #: Seconds of ended sessions per MAC, never trimmed: a long soak ends far more sessions
        #: (every reboot ends them all) than ``history`` keeps.
        self.seconds_ended: dict[str, float] = {}
        config.users.on_remove.append(self._user_removed)

    def _new_id(self, table: str) -> int:
        number = self._next_id[table]
        self._next_id[table] = number + 1
        return number

    # ----- configuration lookups -------------------------------------------------
    @staticmethod
    def _named(menu: ConfigMenu, name: str) -> Values | None:
        return next((values for _, values in menu.find("name", name)), None)

    def find_user(self, name: str, server: str) -> Values | None:
        for _, values in self.config.users.find("name", name):
            if values.get("server", "all") in ("all", server):
                return values
        return None

    def sessions_of(self, attribute: str, value: str) -> list[Session]:
        """Sessions whose ``mac``, ``user`` or ``ip`` is ``value``, by id."""
        return sorted(self.sessions.where(attribute, value), key=lambda s: s.id)

    def _cookies_of(self, mac: str) -> list[Cookie]:
        return sorted(self.cookies.where("mac", mac), key=lambda c: c.id)

    def default_server(self) -> str:
        first = next(iter(self.config.servers.records()), None)
        return first[1]["name"] if first else "hotspot1"

    def _server_profile(self, server: str) -> Values:
        versions = (self.config.servers.rows.version, self.config.server_profiles.rows.version)
        if versions != self._profiles_versions:
            self._profiles, self._profiles_versions = {}, versions
        profile = self._profiles.get(server)
        if profile is None:
            server_row = self._named(self.config.servers, server) or {}
            profile = self._named(self.config.server_profiles, server_row.get("profile", "default")) or {}
            self._profiles[server] = profile
        return profile

    # ----- world ---------------------------------------------------------------
    def join(self, device: Device, now: float) -> None:
        """One MAC is one host: a device that comes back (even with a new IP) keeps its host row."""
        in_use = {other.ip: other.mac for other in self.devices.values()}
        in_use.update({host.ip: host.mac for host in self.hosts.values()})
        holders = [mac for ip, mac in in_use.items() if ip == device.ip and mac != device.mac]
        if holders:
            raise ValueError(f"{device.ip} is already used by {holders[0]}")
        self.devices[device.mac] = device
        host = self.hosts.get(device.mac)
        if host is not None:
            host.ip, host.server, host.left_at, host.last_traffic = device.ip, device.server, None, now
            self.hosts.reindex(host.mac)
            self._bindings.mark(host.mac)
            for session in self.sessions_of("mac", device.mac):
                session.ip = device.ip
                self.sessions.reindex(session.id)
        self._see(device, now)

    def leave(self, mac: str, now: float) -> None:
        if self.devices.pop(mac, None) is None:
            raise KeyError(f"no device {mac} is present")
        host = self.hosts.get(mac)
        if host is None:
            return
        if host.authorized:
            host.left_at = now  # the session lives on until keepalive/idle timeouts end it
            for session in self.sessions_of("mac", mac):
                self._schedule(session)  # a keepalive deadline may now come first
        else:
            del self.hosts[mac]

    def traffic(self, mac: str, bytes_in: int, bytes_out: int, now: float) -> None:
        device = self.devices.get(mac)
        if device is None:
            raise KeyError(f"no device {mac} is present")
        host = self._see(device, now)
        if host is None:
            return  # blocked by an ip-binding: the hotspot drops it
        host.bytes_in += bytes_in
        host.bytes_out += bytes_out
        host.last_traffic = now
        for session in self.sessions_of("mac", mac):
            session.bytes_in += bytes_in
            session.bytes_out += bytes_out
            session.last_traffic = now
            if over_byte_limit(session):
                self.end_session(session.id, now, "traffic limit")

    def _see(self, device: Device, now: float) -> Host | None:
        """The hotspot notices a device: create its host row if missing, then try automatic logins."""
        if self.booting(now):
            return None  # nothing is noticed until the router is back; _finish_boot sees it then
        if self._binding_type(device.mac, device.ip) == "blocked":
            return None
        host = self.hosts.get(device.mac)
        if host is None:
            host = Host(self._new_id("host"), device.mac, device.ip, device.server, now, now)
            self.hosts[device.mac] = host
            self._bindings.mark(host.mac)
            self._refresh_binding(host, now)
            self._auto_login(host, now)
        return self.hosts.get(device.mac)

    def _auto_login(self, host: Host, now: float) -> None:
        """``login-by=mac-cookie`` and ``login-by=mac`` logins for a host that just appeared."""
        profile = self._server_profile(host.server)
        methods = profile.get("login-by", ())
        cookie = next(iter(self._cookies_of(host.mac)), None)
        attempts: list[tuple[str, str | None, str]] = []
        if "mac-cookie" in methods and cookie is not None:
            attempts.append((cookie.user, None, "mac-cookie"))
        if "mac" in methods:
            password = profile.get("mac-auth-password", "")
            if profile.get("mac-auth-mode") == "mac-as-username-and-password":
                password = host.mac
            attempts.append((host.mac, password, "mac"))
        for user, password, method in attempts:
            try:
                self.login(user, password, host.ip, host.mac, now, login_by=method)
                return
            except Trap as refused:
                logger.debug("automatic %s login of %s refused: %s", method, host.mac, refused.message)

    # ----- bindings -------------------------------------------------------------
    def _binding_rules(self) -> tuple[Rule, ...]:
        version = self.config.bindings.rows.version
        if version != self._rules_version:
            self._rules, self._rules_version = binding_rules(self.config.bindings), version
        return self._rules

    def _binding_type(self, mac: str, ip: str) -> str | None:
        return binding_type(self._binding_rules(), mac, ip)

    def _refresh_binding(self, host: Host, now: float) -> None:
        kind = self._binding_type(host.mac, host.ip)
        host.bypassed = kind == "bypassed"
        if kind == "blocked":
            self.remove_host(host.id, now, reason="blocked")

    # ----- login / logout -------------------------------------------------------
    def login(
        self,
        user: str,
        password: str | None,
        ip: str,
        mac: str | None,
        now: float,
        *,
        login_by: str | None = None,
        domain: str | None = None,
    ) -> None:
        """``/ip/hotspot/active/login``; a None password means "already verified" (cookie)."""
        host = min(self.hosts.where("ip", ip), key=lambda h: h.id, default=None)
        if host is None:
            raise Trap(f"unknown host IP {ip}")
        if mac is not None and mac != host.mac:
            raise Trap("wrong MAC provided")
        account = self.find_user(user, host.server)
        if account is None or account.get("disabled"):
            raise Trap("invalid username or password")
        if password is not None and password != account.get("password", ""):
            raise Trap("invalid username or password")
        current = next(iter(self.sessions_of("mac", host.mac)), None)
        if current is not None and current.user == user:
            return  # repeat login of the same user on an active host: nothing to do
        if account.get("mac-address", ANY_MAC) not in (ANY_MAC, host.mac):
            raise Trap(f"user {user} is not allowed to log in from this MAC address")
        limit_uptime = account.get("limit-uptime", 0)
        if limit_uptime and account.get("uptime", 0) >= limit_uptime:
            raise Trap(f"user {user} has reached uptime limit")
        byte_limits = byte_budget(account)
        if any(left <= 0 for left in byte_limits.values()):
            raise Trap(f"user {user} has reached traffic limit")
        profile = self._named(self.config.user_profiles, account.get("profile", "default")) or {}
        shared = profile.get("shared-users", 1)
        if shared and len(self.sessions.where("user", user)) >= shared:
            raise Trap(f"no more sessions are allowed for user {user}")
        if current is not None:
            self.end_session(current.id, now, "replaced by another login")
        session_id = self._new_id("session")
        self.sessions[session_id] = Session(
            id=session_id,
            user=user,
            server=host.server,
            mac=host.mac,
            ip=host.ip,
            login_by=login_by or self.api_login_by,
            login_at=now,
            last_traffic=now,
            uptime_budget=limit_uptime - account.get("uptime", 0) if limit_uptime else None,
            session_timeout=profile.get("session-timeout", 0),
            idle_timeout=profile.get("idle-timeout", 0),
            keepalive_timeout=profile.get("keepalive-timeout", 0),
            byte_limits=byte_limits,
            domain=domain or None,
        )
        self._schedule(self.sessions[session_id])
        host.authorized = True
        if profile.get("add-mac-cookie", True) and not self.cookies.where("mac", host.mac):
            cookie_id = self._new_id("cookie")
            lifetime = profile.get("mac-cookie-timeout", 3 * 86400)
            self.cookies[cookie_id] = Cookie(cookie_id, user, host.mac, now + lifetime)
            self._cookie_due.push(now + lifetime, cookie_id)

    def end_session(self, session_id: int, at: float, reason: str) -> None:
        """Logout bookkeeping: add uptime and bytes to the user, drop the host's authorized flag."""
        session = self.sessions.pop(session_id)
        logger.debug("session %s of %s ended: %s", session.mac, session.user, reason)
        self._book(session, at, reason)
        host = self.hosts.get(session.mac)
        if host is not None:
            host.authorized = False
            if host.left_at is not None:
                del self.hosts[session.mac]
        if reason in ("traffic limit", "session timeout") or (
            reason == "admin" and not self.cookies_survive_admin_logout
        ):
            for cookie in self._cookies_of(session.mac):
                del self.cookies[cookie.id]

    def _deadline(self, session: Session) -> tuple[float, str] | None:
        return deadline(session, self.hosts.get(session.mac))

    def _schedule(self, session: Session) -> None:
        due = self._deadline(session)
        if due is not None:
            self._session_due.push(due[0], session.id)

    def tick(self, now: float) -> None:
        """Apply everything that became due up to ``now``: sessions past their deadline end
        (in id order, each at its deadline), expired cookies go, and hosts are re-checked
        against the ip-bindings (all of them when the bindings changed)."""
        self.now = max(self.now, now)
        self._finish_boot(now)
        if self._session_due.due(now):  # (the API ticks before and after every command: most find nothing)
            for session_id in self._session_due.pop_due(now):
                session = self.sessions.get(session_id)
                due = None if session is None else self._deadline(session)
                if due is not None and due[0] <= now:
                    self.end_session(session_id, due[0], due[1])
                elif due is not None:
                    self._session_due.push(due[0], session_id)  # it moved later (traffic)
        if self._cookie_due.due(now):
            for cookie_id in self._cookie_due.pop_due(now):
                cookie = self.cookies.get(cookie_id)
                if cookie is not None and cookie.expires_at <= now:
                    del self.cookies[cookie_id]
        self._session_due.compact(
            len(self.sessions),
            lambda: [(due[0], s.id) for s in self.sessions.values() if (due := self._deadline(s)) is not None],
        )
        self._cookie_due.compact(len(self.cookies), lambda: [(c.expires_at, c.id) for c in self.cookies.values()])
        rules = self._binding_rules()
        if self._bindings.settled(rules):
            return
        macs = self._bindings.to_check(rules)
        hosts = (
            list(self.hosts.values())
            if macs is None
            else sorted((host for mac in macs if (host := self.hosts.get(mac)) is not None), key=lambda h: h.id)
        )
        for host in hosts:
            self._refresh_binding(host, now)

    def _user_removed(self, account: Values) -> None:
        if self.kick_on_user_remove:
            for session in self.sessions_of("user", str(account.get("name") or "")):
                self.end_session(session.id, self.now, "user removed")

    # ----- admin actions ----------------------------------------------------------
    def remove_host(self, host_id: int, now: float, reason: str = "host removed") -> None:
        host = self.host_by_id(host_id)
        assert host is not None, host_id
        for session in self.sessions_of("mac", host.mac):
            self.end_session(session.id, now, reason)
        self.hosts.pop(host.mac, None)

    def _book(self, session: Session, at: float, reason: str) -> None:
        """What a session leaves behind when it ends: its record, and its uptime and bytes on its user."""
        self.history.append(SessionRecord(session.mac, session.user, session.login_at, at, reason))
        self.seconds_ended[session.mac] = self.seconds_ended.get(session.mac, 0.0) + (at - session.login_at)
        account = self.find_user(session.user, session.server)
        if account is not None and (reason != "reboot" or self.book_uptime_on_reboot):
            account["uptime"] = account.get("uptime", 0) + round(at - session.login_at)
            for kind, amount in (("in", session.bytes_in), ("out", session.bytes_out)):
                account[f"bytes-{kind}"] = account.get(f"bytes-{kind}", 0) + amount
                account[f"packets-{kind}"] = account.get(f"packets-{kind}", 0) + packets_for(amount)

    def reboot(self, now: float, boot_seconds: float = 0.0) -> None:
        """Power cycle: sessions end (counters booked), host and cookie tables start empty.

        The router is back ``boot_seconds`` later; then the devices still in range are seen
        again at once (they keep sending), unauthorized, as after any boot.
        """
        # Every session goes and the hosts with them: each is booked, then the tables are
        # emptied at once (ending them one by one kept indexes up to date that are cleared next).
        for session_id in sorted(self.sessions):
            self._book(self.sessions[session_id], now, "reboot")
        self.sessions.clear()
        self.hosts.clear()
        self.cookies.clear()
        self._session_due.clear()
        self._cookie_due.clear()
        self.booting_until = now + boot_seconds
        self._finish_boot(now)

    def booting(self, now: float) -> bool:
        return self.booting_until is not None and now < self.booting_until

    def _finish_boot(self, now: float) -> None:
        if self.booting_until is None or now < self.booting_until:
            return
        back = self.booting_until
        self.booting_until = None
        for device in list(self.devices.values()):
            self._see(device, back)

    def is_online(self, mac: str) -> bool:
        host = self.hosts.get(mac)
        return bool(self.sessions.where("mac", mac)) or bool(host and host.bypassed)

    def host_by_id(self, host_id: int) -> Host | None:
        return next(iter(self.hosts.where("id", host_id)), None)
