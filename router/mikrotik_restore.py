"""Logging devices back in after a reboot, many at a time, for the MikroTik adapter.

A reboot ends every session but keeps the hotspot users (ours carry their grant in the
comment) and their booked uptime. So the devices whose session was lost can be put back
with one listing of the host table, our users and the live sessions, then two commands
per device: the user's ``limit-uptime`` (uptime already booked plus the grant's limit, as
:meth:`router.mikrotik.MikrotikRouter.authorize` sets it) and the login; one more listing
confirms who is online: about five times fewer commands than logging each device in anew.
The commands go in tagged batches (:meth:`RouterConnection.call_many`), so a round trip
to the router is paid per hundred commands, not per command.

Only the plain case is done here: our user for the same grant, the device on the hotspot
at the grant's address, no session of any kind on that MAC. Anything else is left to
``authorize``, one device at a time, which knows every other case.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections import defaultdict
from collections.abc import Callable, Sequence

from router import DeviceGrant, normalize_mac
from router.errors import RouterError, RouterNotPermitted
from router.mikrotik_rows import HOST_FIELDS, Row, grant_id_of
from router.ros_connection import RouterConnection
from router.ros_values import as_text, format_duration, parse_duration

log = logging.getLogger(__name__)

HOSTS = "/ip/hotspot/host"
ACTIVE = "/ip/hotspot/active"
USERS = "/ip/hotspot/user"


def restore_devices(
    connection: RouterConnection,
    hotspot_server: str,
    grants: Sequence[DeviceGrant],
    ensure_profile: Callable[[DeviceGrant], None],
) -> list[str]:
    """Log back in the plain cases among ``grants``; returns the MACs confirmed online.

    The caller holds the connection lock. A device the router refuses is skipped (left to
    ``authorize``); a router that goes away raises RouterUnreachable.
    """
    wanted = _plain_devices(connection, hotspot_server, grants)
    commands: list[tuple[str, dict[str, object]]] = []
    for mac, (grant, ip, user) in wanted.items():
        ensure_profile(grant)
        used = parse_duration(user.get("uptime"))
        password = secrets.token_urlsafe(16)
        limit = {
            ".id": as_text(user[".id"]),
            "password": password,
            "profile": grant.profile,
            "limit-uptime": format_duration(used + grant.limit_uptime_seconds),
            "disabled": False,
        }
        commands.append((f"{USERS}/set", limit))
        commands.append((f"{ACTIVE}/login", {"user": mac, "password": password, "mac-address": mac, "ip": ip}))
    answers = iter(connection.call_many(commands))  # a limit and a login per device, in order
    sent: dict[str, str] = {}
    for mac, (_grant, ip, _user) in wanted.items():
        refused = [answer for answer in (next(answers), next(answers)) if isinstance(answer, RouterError)]
        for error in refused:
            if isinstance(error, RouterNotPermitted):
                raise error  # the API user's rights, not this device: authorize would fail alike
        if refused:
            log.info("router: %s not restored in the batch (%s); it is logged in on its own", mac, refused[0].message)
            continue
        sent[mac] = ip
    if not sent:
        return []
    rows = connection.call(f"{ACTIVE}/print", proplist=("user", "address"))
    online = {(as_text(row.get("user")), as_text(row.get("address"))) for row in rows}
    return [mac for mac, ip in sent.items() if (mac, ip) in online]


def _plain_devices(
    connection: RouterConnection, hotspot_server: str, grants: Sequence[DeviceGrant]
) -> dict[str, tuple[DeviceGrant, str, Row]]:
    """The grants whose device can be logged in with a limit and a login: MAC -> (grant, IP, user)."""
    hosts: dict[str, list[Row]] = defaultdict(list)
    for row in connection.call(f"{HOSTS}/print", proplist=HOST_FIELDS):
        hosts[as_text(row.get("mac-address")).upper()].append(row)
    users: dict[str, list[Row]] = defaultdict(list)
    user_fields = (".id", "name", "server", "comment", "uptime")
    for row in connection.call(f"{USERS}/print", query=["?comment"], proplist=user_fields):
        users[as_text(row.get("name"))].append(row)
    sessions = connection.call(f"{ACTIVE}/print", proplist=("mac-address",))
    busy = {as_text(row.get("mac-address")).upper() for row in sessions}
    plain: dict[str, tuple[DeviceGrant, str, Row]] = {}
    for grant in grants:
        try:
            mac, ip = normalize_mac(grant.mac), str(ipaddress.ip_address(str(grant.ip).strip()))
        except ValueError:
            continue
        on_hotspot = any(
            as_text(host.get("address")) == ip and as_text(host.get("server")) in ("", hotspot_server)
            for host in hosts.get(mac, ())
        )
        own = users.get(mac, [])
        if not on_hotspot or mac in busy or len(own) != 1:
            continue
        (user,) = own
        if grant_id_of(user.get("comment")) == grant.grant_id and as_text(user.get("server")) == hotspot_server:
            plain[mac] = (grant, ip, user)
    return plain
