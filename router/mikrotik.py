"""The MikroTik adapter: :class:`Router` over the RouterOS API with librouteros.

Authorization: a hotspot user per
device, named by its MAC and bound to it, with the package's user profile and a
``limit-uptime`` backstop, then ``/ip/hotspot/active/login`` through the API. Expiry stays
with the backend (:meth:`MikrotikRouter.revoke`); the router's limits only catch what the
backend misses while it is down.

All I/O goes through :class:`router.ros_connection.RouterConnection` (one locked session,
timeouts, reconnect, error translation). Every print is narrowed with a query and a
``.proplist`` so large host/user tables stay cheap.

One module over 300 lines because it is one adapter: every method is a short run of RouterOS
API calls over the same connection, paths and row shapes, and reads best beside the others.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from collections.abc import Callable, Sequence
from types import TracebackType

from router import ActiveSession, DeviceGrant, HostEntry, ManagedUser, RouterHealth, normalize_mac
from router.errors import DeviceNotOnHotspot, RouterRejected
from router.mikrotik_health import check_health
from router.mikrotik_login import logged_in, plain_login
from router.mikrotik_restore import restore_devices
from router.mikrotik_revoke import REVOKE_BATCH, revoke_devices
from router.mikrotik_rows import (
    ACTIVE_FIELDS,
    HOST_FIELDS,
    KEEP_SLACK_SECONDS,
    MANAGED_USER_FIELDS,
    SESSION_FIELDS,
    UPTIME_FIELDS,
    USER_FIELDS,
    Row,
    active_session,
    grant_id_of,
    grant_user,
    host_entry,
    login_password,
    managed_user,
    new_grant_user,
)
from router.ros_connection import RouterConnection, trap_says
from router.ros_values import as_text, format_duration, parse_duration
from router.tls import unverified_api_ssl_context

log = logging.getLogger(__name__)

HOSTS = "/ip/hotspot/host"
ACTIVE = "/ip/hotspot/active"
USERS = "/ip/hotspot/user"
PROFILES = "/ip/hotspot/user/profile"
COOKIES = "/ip/hotspot/cookie"


def _time_left(row: Row) -> float:
    """A session's ``session-time-left`` in seconds; unlimited when the router shows none."""
    left = row.get("session-time-left")
    return float("inf") if left in (None, "") else parse_duration(left)


class MikrotikRouter:
    """A MikroTik hotspot router reached over the RouterOS API (``api`` or ``api-ssl``).

    One connection per object, opened on first use and shared by all threads under a lock;
    each operation holds the lock for all of its commands, so operations on one router
    never interleave. ``port`` defaults to 8728, or 8729 with ``tls=True``. With ``tls`` and
    no ``tls_context`` the router is *not* authenticated (see :mod:`router.tls`).
    ``login_secret`` (the install's secret key) derives our hotspot users' passwords
    (:func:`router.mikrotik_rows.login_password`); without it they are random.
    """

    def __init__(
        self,
        name: str,
        host: str,
        port: int | None = None,
        username: str = "pay2connect",
        password: str = "",
        *,
        hotspot_server: str = "hotspot1",
        tls: bool = False,
        tls_context: ssl.SSLContext | None = None,
        timeout: float = 5.0,
        login_secret: bytes | None = None,
    ) -> None:
        if tls and tls_context is None:
            tls_context = unverified_api_ssl_context()
        self.name = name
        self.hotspot_server = hotspot_server
        self.login_secret = login_secret or None
        port = port if port is not None else (8729 if tls else 8728)
        self.connection = RouterConnection(
            name, host, port, username, password, tls_context=tls_context if tls else None, timeout=timeout
        )
        # Profiles known to match a grant's settings on the current session; cleared on
        # reconnect because the router may have been rebooted or reconfigured meanwhile.
        self._profiles_ok: set[tuple[str, str | None, int]] = set()
        self._profiles_session = -1

    def __repr__(self) -> str:
        conn = self.connection
        return f"<MikrotikRouter {self.name} {conn.username}@{conn.host}:{conn.port}>"

    def __enter__(self) -> MikrotikRouter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- authorization ---------------------------------------------------------------

    def authorize(self, grant: DeviceGrant) -> int:
        """Create/refresh the device's hotspot user and log the device in; returns the seconds
        a kept session had already run (0 after a fresh login).

        After it returns the device's session on the router has at least
        ``grant.limit_uptime_seconds`` (less :data:`KEEP_SLACK_SECONDS` for a session that
        was kept) of ``limit-uptime`` left, whatever the user used before: the router's
        backstop can then never cut the customer before our own expiry.

        - A new purchase (another grant id) logs the old session out, resets the user's
          counters and logs in under the new limit.
        - The same grant again with its session live and enough time left on it: nothing
          changes (a repeat call is harmless).
        - The same grant without a live session (reboot, drop-off) or with too little left
          (time credited since): the session is logged out, ``limit-uptime`` raised to the
          uptime already booked plus the grant's limit, and the device logged in again. The
          byte counters are kept, so a data cap still counts what was used.
        """
        mac, ip = self._device_identity(grant.mac, grant.ip)
        with self.connection.lock:
            hosts, users, sessions = self._read_device(mac)
            self._check_host(mac, ip, hosts)
            self._ensure_profile(grant)
            password = login_password(self.login_secret, mac, grant.grant_id)
            known = self.login_secret is not None
            commands = plain_login(mac, ip, grant, password, self.hotspot_server, users, sessions, password_known=known)
            if commands is not None:  # the common case: written, logged in and listed in one trip
                if logged_in(self.connection, commands, mac, ip):
                    log.info("router %s: authorized %s (%s) for grant %s", self.name, mac, ip, grant.grant_id)
                    return 0
                _hosts, users, sessions = self._read_device(mac)  # the batch may have written some of it
            try:
                user_id, previous_grant = self._upsert_user(mac, grant, password, users)
            except RouterRejected as err:
                if not trap_says(err, "does not match any value of profile"):
                    raise
                self._profiles_ok.clear()  # someone removed the profile behind our back
                self._ensure_profile(grant)
                user_id, previous_grant = self._upsert_user(mac, grant, password, users)
            same_grant = previous_grant == grant.grant_id
            needed = grant.limit_uptime_seconds - KEEP_SLACK_SECONDS if same_grant else None
            kept_uptime = self._keep_session(mac, ip, sessions, needed_left=needed)
            if kept_uptime is None:
                if user_id is not None:
                    # Only now: logging the old session out booked its uptime to the user.
                    self._fit_backstop(user_id, grant, reset=not same_grant)
                self.connection.call(
                    f"{ACTIVE}/login",
                    {"user": mac, "password": password, "mac-address": mac, "ip": ip},
                )
            if not self._online_as(mac, ip):
                raise RouterRejected(
                    f"router {self.name} accepted the login of {mac} ({ip}) but lists no active session for it",
                    router=self.name,
                )
        log.info("router %s: authorized %s (%s) for grant %s", self.name, mac, ip, grant.grant_id)
        return kept_uptime or 0

    def _read_device(self, mac: str) -> list[list[Row]]:
        """What the router knows of the device, in one round trip: its host entries, its
        user(s) and its sessions (writing the user does not touch the sessions)."""
        return self.connection.read_many(
            [
                (f"{HOSTS}/print", (f"?=mac-address={mac}",), HOST_FIELDS),
                (f"{USERS}/print", (f"?=name={mac}",), USER_FIELDS),
                (f"{ACTIVE}/print", (f"?=mac-address={mac}",), SESSION_FIELDS),
            ]
        )

    def restore_many(
        self, grants: Sequence[DeviceGrant], on_restored: Callable[[list[str]], None] | None = None
    ) -> list[str]:
        """Log back in, in one pass, the devices of ``grants`` that lost their session while
        their user of ours stayed (a reboot); returns the MACs confirmed online.
        The others are left for :meth:`authorize` (see :mod:`router.mikrotik_restore`).
        ``on_restored`` hears the confirmed MACs part by part, the first part while the
        router works on the second part's logins (it must not use this router)."""
        if not grants:
            return []
        with self.connection.lock:
            restored = restore_devices(
                self.connection,
                self.hotspot_server,
                grants,
                self._ensure_profile,
                login_secret=self.login_secret,
                on_part=on_restored,
            )
        log.info("router %s: %d of %d device(s) logged back in", self.name, len(restored), len(grants))
        return restored

    def _fit_backstop(self, user_id: str, grant: DeviceGrant, *, reset: bool) -> None:
        """Give the next login exactly ``grant.limit_uptime_seconds`` of limit-uptime.

        ``limit-uptime`` counts the user's total uptime over all its sessions, so a new
        purchase starts from zero (reset-counters) and the same purchase logging in again
        gets its limit on top of what it already used.
        """
        if reset:
            self.connection.call(f"{USERS}/reset-counters", {".id": user_id})
            return
        rows = self.connection.call(f"{USERS}/print", query=[f"?=.id={user_id}"], proplist=(".id", "uptime"))
        used = parse_duration(rows[0].get("uptime")) if rows else 0
        if used:
            limit = format_duration(used + grant.limit_uptime_seconds)
            self.connection.call(f"{USERS}/set", {".id": user_id, "limit-uptime": limit})

    def _device_identity(self, raw_mac: str, raw_ip: str) -> tuple[str, str]:
        """Normalize the client-supplied MAC/IP; garbage cannot be a host on the hotspot."""
        try:
            return normalize_mac(raw_mac), str(ipaddress.ip_address(str(raw_ip).strip()))
        except ValueError as err:
            raise DeviceNotOnHotspot(
                f"device {raw_mac!r} at {raw_ip!r} cannot be on router {self.name}: {err}", router=self.name
            ) from err

    def _check_host(self, mac: str, ip: str, rows: list[Row]) -> None:
        """Refuse before writing anything unless the hotspot knows this MAC at this IP
        (``rows``: its host entries)."""
        hosts = [host_entry(row) for row in rows]
        if not hosts:
            raise DeviceNotOnHotspot(
                f"device {mac} is not in the hotspot host table of router {self.name} "
                "(it has left the Wi-Fi, or the MAC address is not real)",
                router=self.name,
            )
        at_ip = [host for host in hosts if host.ip == ip]
        if not at_ip:
            seen = ", ".join(sorted({host.ip for host in hosts}))
            raise DeviceNotOnHotspot(
                f"device {mac} is on router {self.name} with IP {seen}, not {ip}", router=self.name
            )
        servers = {host.server for host in at_ip}
        if None not in servers and self.hotspot_server not in servers:
            raise DeviceNotOnHotspot(
                f"device {mac} is on hotspot server {', '.join(sorted(s for s in servers if s))} "
                f"of router {self.name}, not on {self.hotspot_server!r}",
                router=self.name,
            )

    def _ensure_profile(self, grant: DeviceGrant) -> None:
        """Make the package's user profile exist with the grant's rate limit and shared users."""
        if self._profiles_session != self.connection.connect_count or not self.connection.is_connected:
            self._profiles_ok.clear()
        wanted = (grant.profile, grant.rate_limit, grant.shared_users)
        if wanted in self._profiles_ok:
            return
        settings: dict[str, object] = {"shared-users": grant.shared_users}
        if grant.rate_limit:
            settings["rate-limit"] = grant.rate_limit
        rows = self.connection.call(
            f"{PROFILES}/print",
            query=[f"?=name={grant.profile}"],
            proplist=(".id", "name", "rate-limit", "shared-users"),
        )
        if not rows:
            self.connection.call(f"{PROFILES}/add", {"name": grant.profile, **settings})
        elif any(as_text(rows[0].get(key)) != as_text(value) for key, value in settings.items()):
            self.connection.call(f"{PROFILES}/set", {".id": rows[0][".id"], **settings})
        self._profiles_ok.add(wanted)
        self._profiles_session = self.connection.connect_count

    def _upsert_user(
        self, mac: str, grant: DeviceGrant, password: str, known: list[Row]
    ) -> tuple[str | None, str | None]:
        """Add the user named by ``mac`` or update it in place (``known``: the rows a print
        of that name just gave).

        Returns ``(id, previous grant id)`` of an existing user, ``(None, None)`` for a new one.
        """
        fields = grant_user(mac, grant, password, self.hotspot_server)
        new_user = new_grant_user(mac, grant, password, self.hotspot_server)
        rows = [row for row in known if as_text(row.get("name")) == mac]
        if not rows:
            try:
                self.connection.call(f"{USERS}/add", new_user)
                return None, None
            except RouterRejected as err:
                if not trap_says(err, "already have user"):
                    raise
            # Added by someone else since the print: update that one.
            rows = self.connection.call(f"{USERS}/print", query=[f"?=name={mac}"], proplist=USER_FIELDS)
            rows = [row for row in rows if as_text(row.get("name")) == mac]
            if not rows:  # and removed again already: the add can simply run again
                self.connection.call(f"{USERS}/add", new_user)
                return None, None
        rows.sort(key=lambda row: as_text(row.get("server")) != self.hotspot_server)
        user_id = as_text(rows[0][".id"])
        update = {key: value for key, value in fields.items() if key != "name"}  # clears an earlier purchase's cap
        self.connection.call(f"{USERS}/set", {".id": user_id, **update, "disabled": False})
        return user_id, grant_id_of(rows[0].get("comment"))

    def _keep_session(self, mac: str, ip: str, rows: list[Row], *, needed_left: int | None) -> int | None:
        """Clear sessions in the way of our login (``rows``: the device's sessions); return
        the uptime of ours if it is live and kept, None if the device must log in.

        Ours is kept only when ``needed_left`` is given (same purchase) and the session has
        at least that many seconds of limit-uptime left. Sessions of other users on this MAC
        (trial, a voucher) and our own stale ones (another IP, an older purchase, too little
        time left) are logged out.
        """
        live = [r for r in rows if as_text(r.get("user")) == mac and as_text(r.get("address")) == ip]
        keep = [r for r in live[:1] if needed_left is not None and _time_left(r) >= needed_left]
        stale = [as_text(row[".id"]) for row in rows if row not in keep]
        self._remove(ACTIVE, stale)
        return parse_duration(keep[0].get("uptime")) if keep else None

    def _online_as(self, mac: str, ip: str) -> bool:
        rows = self.connection.call(f"{ACTIVE}/print", query=[f"?=mac-address={mac}"], proplist=("user", "address"))
        return any(as_text(r.get("user")) == mac and as_text(r.get("address")) == ip for r in rows)

    # -- revocation ------------------------------------------------------------------

    def revoke(self, mac: str) -> None:
        """Log the device out and remove its user(s) and cookies; already gone is success."""
        self.revoke_many([mac])

    def revoke_many(self, macs: Sequence[str]) -> None:
        """:meth:`revoke` for several devices in a few commands (a burst of expiries).

        The users go first: with them gone neither a cookie nor MAC login can bring a device
        back between our steps. Users bound to a MAC are removed only if they are ours
        (comment prefix); an operator's own voucher bound to the device is left alone.
        """
        wanted = sorted({normalize_mac(mac) for mac in macs})
        with self.connection.lock:
            for start in range(0, len(wanted), REVOKE_BATCH):
                revoke_devices(self.connection, wanted[start : start + REVOKE_BATCH], self._remove)

    def _remove(self, menu: str, ids: Sequence[str]) -> None:
        """Remove rows by id; rows that vanished meanwhile (``no such item``) count as removed."""
        if not ids:
            return
        try:
            self.connection.call(f"{menu}/remove", {".id": ",".join(ids)})
            return
        except RouterRejected as err:
            if not trap_says(err, "no such item"):
                raise
        for item_id in ids if len(ids) > 1 else ():  # the router refuses the whole list
            try:
                self.connection.call(f"{menu}/remove", {".id": item_id})
            except RouterRejected as err:
                if not trap_says(err, "no such item"):
                    raise

    # -- reading -----------------------------------------------------------------------

    def host_for_ip(self, ip: str) -> HostEntry | None:
        """Look up the hotspot host table by IP address (None for a malformed address)."""
        try:
            ip = str(ipaddress.ip_address(str(ip).strip()))
        except ValueError:
            return None
        rows = self._hosts(f"?=address={ip}")
        return host_entry(rows[0]) if rows else None

    def host_for_mac(self, mac: str) -> HostEntry | None:
        """Look up the hotspot host table by MAC address (None for a malformed MAC)."""
        try:
            mac = normalize_mac(mac)
        except ValueError:
            return None
        rows = self._hosts(f"?=mac-address={mac}")
        return host_entry(rows[0]) if rows else None

    def active_sessions(self) -> list[ActiveSession]:
        """Everything logged in on this router's hotspot server."""
        rows = self.connection.call(
            f"{ACTIVE}/print", query=[f"?=server={self.hotspot_server}"], proplist=ACTIVE_FIELDS
        )
        return [active_session(row) for row in rows]

    def session_uptimes(self) -> dict[str, int]:
        rows = self.connection.call(
            f"{ACTIVE}/print", query=[f"?=server={self.hotspot_server}"], proplist=UPTIME_FIELDS
        )
        return {as_text(row.get("mac-address")): parse_duration(row.get("uptime")) for row in rows}

    def managed_users(self) -> list[ManagedUser]:
        """Hotspot users whose comment carries our prefix (any server on this router)."""
        rows = self.connection.call(f"{USERS}/print", query=["?comment"], proplist=MANAGED_USER_FIELDS)
        return [user for user in map(managed_user, rows) if user is not None]

    def system_uptime(self) -> int:
        """Seconds since the router booted (a smaller number than expected means it rebooted)."""
        rows = self.connection.call("/system/resource/print", proplist=("uptime",))
        if not rows:
            raise RouterRejected(f"router {self.name} did not say its uptime", router=self.name)
        return parse_duration(rows[0].get("uptime"))

    def health(self) -> RouterHealth:
        """Login, identity, version, hotspot server present, API user rights; never raises."""
        return check_health(self.connection, self.hotspot_server)

    def close(self) -> None:
        """Drop the connection; the next call reconnects."""
        self.connection.close()

    def _hosts(self, *query: str) -> list[Row]:
        return self.connection.call(f"{HOSTS}/print", query=query, proplist=HOST_FIELDS)
