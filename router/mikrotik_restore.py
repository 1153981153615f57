"""Logging devices back in after a reboot, many at a time, for the MikroTik adapter.

A reboot ends every session but keeps the hotspot users (ours carry their grant in the
comment) and their booked uptime. So the devices whose session was lost can be put back
with one listing of the host table, our users and the live sessions, then the login alone
per device, or two commands where the user needs writing first: the user's
``limit-uptime`` (uptime already booked plus the grant's limit, as
:meth:`router.mikrotik.MikrotikRouter.authorize` sets it) when what is left of it no longer
outlasts the grant by the margin less :data:`KEEP_SLACK_SECONDS` (a credit moved the end),
or when the password is not one we can derive (no ``login_secret``). One more listing
confirms who is online: five to ten times fewer commands than logging each device in anew.
A login the router refuses (a user written before passwords were derived, or under another
secret) is left to ``authorize``, which writes the user.
The commands go in tagged batches (:meth:`RouterConnection.call_many`), so a round trip
to the router is paid per hundred commands, not per command.

Only the plain cases are done here: the device on the hotspot at the grant's address, no
session of any kind on that MAC, and either our user (one, on our hotspot server) or no
user of that name at all. The user may carry this grant (its limit goes on top of the
uptime already booked) or another one of ours (a purchase stacked on the device's running
one: as :meth:`authorize` does for another grant, the user is rewritten for this one and
its counters reset); with none (a purchase paid while the router booted), it is added as
``authorize`` adds it. Anything else is left to ``authorize``, one device at a time, which
knows every other case.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import NamedTuple

from router import DeviceGrant, normalize_mac
from router.errors import RouterError, RouterNotPermitted
from router.mikrotik_login import user_commands
from router.mikrotik_rows import Row, grant_id_of, login_password
from router.ros_connection import RouterConnection
from router.ros_values import as_text

log = logging.getLogger(__name__)

HOSTS = "/ip/hotspot/host"
ACTIVE = "/ip/hotspot/active"
USERS = "/ip/hotspot/user"
#: What the pass needs of each of the thousands of hosts: where the device is, on which server.
RESTORE_HOST_FIELDS = ("mac-address", "address", "server")


def restore_devices(
    connection: RouterConnection,
    hotspot_server: str,
    grants: Sequence[DeviceGrant],
    ensure_profile: Callable[[DeviceGrant], None],
    *,
    login_secret: bytes | None = None,
    on_part: Callable[[list[str]], None] | None = None,
) -> list[str]:
    """Log back in the plain cases among ``grants``; returns the MACs confirmed online.

    The caller holds the connection lock. A device the router refuses is skipped (left to
    ``authorize``); a router that goes away raises RouterUnreachable.

    With ``on_part``, a pass of :data:`PART_SIZE` devices or more goes in two parts, and
    ``on_part`` hears each part's confirmed MACs: the first part's while the router works
    on the second part's commands, so the caller records it meanwhile.
    """
    wanted = _plain_devices(connection, hotspot_server, grants)
    devices: list[_Device] = []
    for mac, (grant, ip, user) in wanted.items():
        ensure_profile(grant)
        password = login_password(login_secret, mac, grant.grant_id)
        commands = user_commands(mac, grant, user, password, hotspot_server, password_known=login_secret is not None)
        commands.append((f"{ACTIVE}/login", {"user": mac, "password": password, "mac-address": mac, "ip": ip}))
        devices.append(_Device(mac, ip, commands))
    if on_part is None or len(devices) < PART_SIZE:
        restored = _log_in(connection, devices)
        if on_part is not None and restored:
            on_part(restored)
        return restored
    half = (len(devices) + 1) // 2
    first = _log_in(connection, devices[:half])
    second = _log_in(connection, devices[half:], meanwhile=(lambda: on_part(first)) if first else None)
    if second:
        on_part(second)
    return first + second


#: Devices in a pass from which :func:`restore_devices` goes in two parts. Each part's
#: confirmation lists every session; below this, that second listing and the writer thread
#: cost more than the overlap frees (``bench/restore.py``, 1,000 devices in two parts: 0.29
#: to 0.30 s against 0.23 to 0.26 s in one; 4,000: 0.67 to 0.81 s against 0.77 to 0.87 s).
PART_SIZE = 2000


class _Device(NamedTuple):
    """One device of a pass: where it is, and its commands (the login last)."""

    mac: str
    ip: str
    commands: list[tuple[str, dict[str, object]]]


def _log_in(
    connection: RouterConnection, devices: Sequence[_Device], meanwhile: Callable[[], None] | None = None
) -> list[str]:
    """Send ``devices``' commands in batches, then list the sessions: the MACs confirmed
    online (``meanwhile`` as :meth:`RouterConnection.call_many` runs it)."""
    commands = [command for device in devices for command in device.commands]
    answers = iter(connection.call_many(commands, meanwhile=meanwhile))
    sent: dict[str, str] = {}
    for device in devices:
        refused = [answer for answer in (next(answers) for _ in device.commands) if isinstance(answer, RouterError)]
        for error in refused:
            if isinstance(error, RouterNotPermitted):
                raise error  # the API user's rights, not this device: authorize would fail alike
        if refused:
            log.info(
                "router: %s not restored in the batch (%s); it is logged in on its own", device.mac, refused[0].message
            )
            continue
        sent[device.mac] = device.ip
    if not sent:
        return []
    rows = connection.call(f"{ACTIVE}/print", proplist=("user", "address"))
    online = {(as_text(row.get("user")), as_text(row.get("address"))) for row in rows}
    return [mac for mac, ip in sent.items() if (mac, ip) in online]


def _plain_devices(
    connection: RouterConnection, hotspot_server: str, grants: Sequence[DeviceGrant]
) -> dict[str, tuple[DeviceGrant, str, Row | None]]:
    """The grants whose device can be logged in with a limit (or a new user) and a login:
    MAC -> (grant, IP, our user or None when no user carries that name and a comment)."""
    user_fields = (".id", "name", "server", "comment", "uptime", "limit-uptime", "profile", "disabled")
    host_rows, user_rows, sessions = connection.read_many(  # one round trip: the router writes
        [  # the next listing while this side reads the one before
            (f"{HOSTS}/print", (), RESTORE_HOST_FIELDS),
            (f"{USERS}/print", ("?comment",), user_fields),
            (f"{ACTIVE}/print", (), ("mac-address",)),
        ]
    )
    hosts: dict[str, list[Row]] = defaultdict(list)
    for row in host_rows:
        hosts[as_text(row.get("mac-address")).upper()].append(row)
    users: dict[str, list[Row]] = defaultdict(list)
    for row in user_rows:
        users[as_text(row.get("name"))].append(row)
    busy = {as_text(row.get("mac-address")).upper() for row in sessions}
    plain: dict[str, tuple[DeviceGrant, str, Row | None]] = {}
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
        if not on_hotspot or mac in busy or len(own) > 1:
            continue
        if not own:  # an owner's user of that name (no comment) makes the add fail: left to authorize
            plain[mac] = (grant, ip, None)
            continue
        (user,) = own
        if grant_id_of(user.get("comment")) is not None and as_text(user.get("server")) == hotspot_server:
            plain[mac] = (grant, ip, user)
    return plain
