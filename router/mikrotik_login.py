"""A purchase's login in one round trip, for :meth:`router.mikrotik.MikrotikRouter.authorize`.

Most logins are plain: the device has no session on the router and at most one user of its
name. Then everything ``authorize`` would do one command at a time is known from its first
read: the user added, or rewritten for this grant (counters reset for another purchase, the
uptime already booked added to the limit for the same one), the login, and the listing
that confirms the device online. They go as one batch of tagged commands
(:meth:`router.ros_connection.RouterConnection.call_many`): one round trip after the read
instead of three or four, a customer online that much sooner.

Anything else goes step by step. So does a plain case whose batch did not end with the
device listed online (a command refused, or a router that ran the tagged commands out of
order): ``authorize`` reads the device again and knows every case from what it finds.
"""

from __future__ import annotations

from router import DeviceGrant
from router.errors import DeviceNotOnHotspot, RouterError, RouterNotPermitted
from router.mikrotik_rows import Row, grant_id_of, grant_user, new_grant_user
from router.ros_connection import RouterConnection
from router.ros_values import as_text, format_duration, parse_duration

ACTIVE = "/ip/hotspot/active"
USERS = "/ip/hotspot/user"

Commands = list[tuple[str, dict[str, object]]]


def plain_login(
    mac: str, ip: str, grant: DeviceGrant, password: str, server: str, users: list[Row], sessions: list[Row]
) -> Commands | None:
    """The commands that give the device ``grant`` and log it in, or None when it is not a
    plain case (a session on its MAC to end first, several users of its name).
    ``users`` and ``sessions``: what ``authorize`` read of the device, with the users' uptime."""
    own = [row for row in users if as_text(row.get("name")) == mac]
    if sessions or len(own) > 1:
        return None
    login: tuple[str, dict[str, object]] = (
        f"{ACTIVE}/login",
        {"user": mac, "password": password, "mac-address": mac, "ip": ip},
    )
    if not own:
        return [(f"{USERS}/add", new_grant_user(mac, grant, password, server)), login]
    (user,) = own
    user_id = as_text(user[".id"])
    fields: dict[str, object] = dict(grant_user(mac, grant, password, server))
    del fields["name"]
    if grant_id_of(user.get("comment")) != grant.grant_id:  # another purchase: its counters start again
        return [
            (f"{USERS}/set", {".id": user_id, **fields, "disabled": False}),
            (f"{USERS}/reset-counters", {".id": user_id}),
            login,
        ]
    used = parse_duration(user.get("uptime"))  # no session: nothing more is booked before the login
    if used:
        fields["limit-uptime"] = format_duration(used + grant.limit_uptime_seconds)
    return [(f"{USERS}/set", {".id": user_id, **fields, "disabled": False}), login]


def logged_in(connection: RouterConnection, commands: Commands, mac: str, ip: str) -> bool:
    """Send ``commands`` (their last the login) and the device's listing in one batch; True
    when none was refused and the listing shows the device online as its own user at ``ip``.
    The caller holds the connection lock. A refusal no other way gets past is raised: the
    API user's rights, or a login the router refused for the device itself (not on the
    hotspot at that address); anything else is for the step-by-step way to try again."""
    listing = (f"{ACTIVE}/print", (f"?=mac-address={mac}",), ("user", "address"))
    *answers, sessions = connection.call_many(commands, reads=[listing])
    for answer in (*answers, sessions):
        if isinstance(answer, RouterNotPermitted):
            raise answer
    if isinstance(answers[-1], DeviceNotOnHotspot):
        raise answers[-1]
    if any(isinstance(answer, RouterError) for answer in answers) or isinstance(sessions, RouterError):
        return False
    return any(as_text(row.get("user")) == mac and as_text(row.get("address")) == ip for row in sessions)
