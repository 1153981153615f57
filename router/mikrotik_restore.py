"""Logging devices back in after a reboot, many at a time, for the MikroTik adapter.

A reboot ends every session but keeps the hotspot users (ours carry their grant in the
comment) and their booked uptime. So the devices whose session was lost can be put back
with one listing of the host table, our users and the live sessions, then two commands
per device: the user's ``limit-uptime`` (uptime already booked plus the grant's limit, as
:meth:`router.mikrotik.MikrotikRouter.authorize` sets it) and the login; one more listing
confirms who is online: about five times fewer commands than logging each device in anew.
The commands go in tagged batches (:meth:`RouterConnection.call_many`), so a round trip
to the router is paid per hundred commands, not per command.

Only the plain cases are done here: our user (one, on our hotspot server) with the device
on the hotspot at the grant's address and no session of any kind on that MAC. The user
may carry this grant (its limit goes on top of the uptime already booked) or another one
of ours (a purchase stacked on the device's running one: as :meth:`authorize` does for
another grant, the user is rewritten for this one and its counters reset). Anything else
is left to ``authorize``, one device at a time, which knows every other case.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections import defaultdict
from collections.abc import Callable, Sequence

from router import DeviceGrant, normalize_mac
from router.errors import RouterError, RouterNotPermitted
from router.mikrotik_rows import HOST_FIELDS, Row, grant_id_of, grant_user
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
    counts: list[int] = []  # commands per device, in order
    for mac, (grant, ip, user) in wanted.items():
        ensure_profile(grant)
        password = secrets.token_urlsafe(16)
        device = _rewrite_user(mac, grant, user, password, hotspot_server)
        device.append((f"{ACTIVE}/login", {"user": mac, "password": password, "mac-address": mac, "ip": ip}))
        commands.extend(device)
        counts.append(len(device))
    answers = iter(connection.call_many(commands))  # each device's commands, in order
    sent: dict[str, str] = {}
    for (mac, (_grant, ip, _user)), count in zip(wanted.items(), counts, strict=True):
        refused = [answer for answer in (next(answers) for _ in range(count)) if isinstance(answer, RouterError)]
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


def _rewrite_user(
    mac: str, grant: DeviceGrant, user: Row, password: str, hotspot_server: str
) -> list[tuple[str, dict[str, object]]]:
    """The commands that give the user the limit of ``grant`` before its login: the uptime
    already booked plus the grant's limit for the same grant; for another of ours, the
    user rewritten as :meth:`MikrotikRouter.authorize` writes it and its counters reset."""
    user_id = as_text(user[".id"])
    if grant_id_of(user.get("comment")) == grant.grant_id:
        used = parse_duration(user.get("uptime"))
        limit = format_duration(used + grant.limit_uptime_seconds)
        fields = {"password": password, "profile": grant.profile, "limit-uptime": limit}
        return [(f"{USERS}/set", {".id": user_id, **fields, "disabled": False})]
    rewritten = {key: value for key, value in grant_user(mac, grant, password, hotspot_server).items() if key != "name"}
    return [
        (f"{USERS}/set", {".id": user_id, **rewritten, "disabled": False}),
        (f"{USERS}/reset-counters", {".id": user_id}),
    ]


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
        if grant_id_of(user.get("comment")) is not None and as_text(user.get("server")) == hotspot_server:
            plain[mac] = (grant, ip, user)
    return plain
