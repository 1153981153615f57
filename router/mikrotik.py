"""The MikroTik adapter: :class:`Router` over the RouterOS API with librouteros.

Authorization follows design A of ``reference/routeros-hotspot.md`` §6: a hotspot user per
device, named by its MAC and bound to it, with the package's user profile and a
``limit-uptime`` backstop, then ``/ip/hotspot/active/login`` through the API. Expiry stays
with the backend (:meth:`MikrotikRouter.revoke`); the router's limits only catch what the
backend misses while it is down.

All I/O goes through :class:`router.ros_connection.RouterConnection` (one locked session,
timeouts, reconnect, error translation). Every print is narrowed with a query and a
``.proplist`` so large host/user tables stay cheap.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import ssl
from collections.abc import Sequence
from types import TracebackType

from router import COMMENT_PREFIX, ActiveSession, DeviceGrant, HostEntry, ManagedUser, RouterHealth, normalize_mac
from router.errors import DeviceNotOnHotspot, RouterRejected
from router.mikrotik_health import check_health
from router.mikrotik_rows import (
    ACTIVE_FIELDS,
    HOST_FIELDS,
    MANAGED_USER_FIELDS,
    Row,
    active_session,
    grant_id_of,
    host_entry,
    managed_user,
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
EXTENSION_SLACK_SECONDS = 60  # a retry computes a slightly different limit; not an extension


class MikrotikRouter:
    """A MikroTik hotspot router reached over the RouterOS API (``api`` or ``api-ssl``).

    One connection per object, opened on first use and shared by all threads under a lock;
    each operation holds the lock for all of its commands, so operations on one router
    never interleave. ``port`` defaults to 8728, or 8729 with ``tls=True``. With ``tls`` and
    no ``tls_context`` the router is *not* authenticated (see :mod:`router.tls`).
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
    ) -> None:
        if tls and tls_context is None:
            tls_context = unverified_api_ssl_context()
        self.name = name
        self.hotspot_server = hotspot_server
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

    def authorize(self, grant: DeviceGrant) -> None:
        """Create/refresh the device's hotspot user and log the device in.

        Idempotent: a second call for the same grant keeps the session and the single user;
        a call for a *new* grant (another purchase) resets the user's counters and logs the
        device in again so the new limits apply at once.
        """
        mac, ip = self._device_identity(grant.mac, grant.ip)
        with self.connection.lock:
            self._check_host(mac, ip)
            self._ensure_profile(grant)
            password = secrets.token_urlsafe(16)
            try:
                user_id, previous_grant, previous_limit = self._upsert_user(mac, grant, password)
            except RouterRejected as err:
                if not trap_says(err, "does not match any value of profile"):
                    raise
                self._profiles_ok.clear()  # someone removed the profile behind our back
                self._ensure_profile(grant)
                user_id, previous_grant, previous_limit = self._upsert_user(mac, grant, password)
            # A session's limits are fixed at login: a longer limit for the same grant
            # (an extension) needs a fresh login, a mere repeat keeps the live session.
            extended = grant.limit_uptime_seconds > previous_limit + EXTENSION_SLACK_SECONDS
            same_grant = previous_grant == grant.grant_id and not extended
            if not self._keep_session(mac, ip, keep_ours=same_grant):
                if user_id is not None and not same_grant:
                    # Only now: logging out the old session booked its uptime to the user.
                    # A new purchase must not be stopped by what the old one used.
                    self.connection.call(f"{USERS}/reset-counters", {".id": user_id})
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

    def _device_identity(self, raw_mac: str, raw_ip: str) -> tuple[str, str]:
        """Normalize the client-supplied MAC/IP; garbage cannot be a host on the hotspot."""
        try:
            return normalize_mac(raw_mac), str(ipaddress.ip_address(str(raw_ip).strip()))
        except ValueError as err:
            raise DeviceNotOnHotspot(
                f"device {raw_mac!r} at {raw_ip!r} cannot be on router {self.name}: {err}", router=self.name
            ) from err

    def _check_host(self, mac: str, ip: str) -> None:
        """Refuse before writing anything unless the hotspot knows this MAC at this IP."""
        hosts = [host_entry(row) for row in self._hosts(f"?=mac-address={mac}")]
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

    def _upsert_user(self, mac: str, grant: DeviceGrant, password: str) -> tuple[str | None, str | None, int]:
        """Add the user named by ``mac`` or update it in place.

        Returns ``(id, previous grant id, previous limit-uptime seconds)`` of an existing
        user, ``(None, None, 0)`` for a new one.
        """
        fields: dict[str, object] = {
            "name": mac,
            "password": password,
            "mac-address": mac,
            "server": self.hotspot_server,
            "profile": grant.profile,
            "limit-uptime": format_duration(grant.limit_uptime_seconds),
            "comment": f"{COMMENT_PREFIX}{grant.grant_id}",
        }
        if grant.limit_bytes_total:
            fields["limit-bytes-total"] = grant.limit_bytes_total
        try:
            self.connection.call(f"{USERS}/add", fields)
            return None, None, 0
        except RouterRejected as err:
            if not trap_says(err, "already have user"):
                raise
        rows = self.connection.call(
            f"{USERS}/print",
            query=[f"?=name={mac}"],
            proplist=(".id", "name", "server", "comment", "limit-uptime"),
        )
        rows = [row for row in rows if as_text(row.get("name")) == mac]
        if not rows:  # removed between our add and print: the add can simply run again
            self.connection.call(f"{USERS}/add", fields)
            return None, None, 0
        rows.sort(key=lambda row: as_text(row.get("server")) != self.hotspot_server)
        user_id = as_text(rows[0][".id"])
        update = {key: value for key, value in fields.items() if key != "name"}
        update.setdefault("limit-bytes-total", 0)  # clear a cap left by an earlier purchase
        self.connection.call(f"{USERS}/set", {".id": user_id, **update, "disabled": False})
        previous_limit = rows[0].get("limit-uptime")
        limit = parse_duration(previous_limit) if previous_limit not in (None, "") else 0
        return user_id, grant_id_of(rows[0].get("comment")), limit

    def _keep_session(self, mac: str, ip: str, *, keep_ours: bool) -> bool:
        """Clear sessions in the way of our login; return True if ours is already live.

        Sessions of other users on this MAC (trial, a voucher) and our own stale ones
        (another IP, or an older purchase whose limits would still apply) are logged out.
        """
        rows = self.connection.call(
            f"{ACTIVE}/print", query=[f"?=mac-address={mac}"], proplist=(".id", "user", "address")
        )
        live = [r for r in rows if as_text(r.get("user")) == mac and as_text(r.get("address")) == ip]
        keep = live[:1] if keep_ours else []
        stale = [as_text(row[".id"]) for row in rows if row not in keep]
        self._remove(ACTIVE, stale)
        return bool(keep)

    def _online_as(self, mac: str, ip: str) -> bool:
        rows = self.connection.call(f"{ACTIVE}/print", query=[f"?=mac-address={mac}"], proplist=("user", "address"))
        return any(as_text(r.get("user")) == mac and as_text(r.get("address")) == ip for r in rows)

    # -- revocation ------------------------------------------------------------------

    def revoke(self, mac: str) -> None:
        """Log the device out and remove its user(s) and cookies; already gone is success.

        The user goes first: with it gone neither a cookie nor MAC login can bring the
        device back between our steps. Users bound to the MAC are removed only if they are
        ours (comment prefix); an operator's own voucher bound to the device is left alone.
        """
        mac = normalize_mac(mac)
        by_mac_or_user = (f"?=mac-address={mac}", f"?=user={mac}", "?#|")
        with self.connection.lock:
            users = self.connection.call(
                f"{USERS}/print",
                query=(f"?=name={mac}", f"?=mac-address={mac}", "?#|"),
                proplist=(".id", "name", "comment"),
            )
            ours = [
                as_text(row[".id"])
                for row in users
                if as_text(row.get("name")) == mac or as_text(row.get("comment")).startswith(COMMENT_PREFIX)
            ]
            self._remove(USERS, ours)
            sessions = self.connection.call(f"{ACTIVE}/print", query=by_mac_or_user, proplist=(".id",))
            self._remove(ACTIVE, [as_text(row[".id"]) for row in sessions])
            cookies = self.connection.call(f"{COOKIES}/print", query=by_mac_or_user, proplist=(".id",))
            self._remove(COOKIES, [as_text(row[".id"]) for row in cookies])
        log.info(
            "router %s: revoked %s (%d user(s), %d session(s), %d cookie(s))",
            self.name,
            mac,
            len(ours),
            len(sessions),
            len(cookies),
        )

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

    def managed_users(self) -> list[ManagedUser]:
        """Hotspot users whose comment carries our prefix (any server on this router)."""
        rows = self.connection.call(f"{USERS}/print", query=["?comment"], proplist=MANAGED_USER_FIELDS)
        return [user for user in map(managed_user, rows) if user is not None]

    def health(self) -> RouterHealth:
        """Login, identity, version, hotspot server present, API user rights; never raises."""
        return check_health(self.connection, self.hotspot_server)

    def close(self) -> None:
        """Drop the connection; the next call reconnects."""
        self.connection.close()

    def _hosts(self, *query: str) -> list[Row]:
        return self.connection.call(f"{HOSTS}/print", query=query, proplist=HOST_FIELDS)
