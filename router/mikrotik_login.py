"""A purchase's login in one round trip, for :meth:`router.mikrotik.MikrotikRouter.authorize`.

Most logins are plain: the device has no session on the router and at most one user of its
name, on our hotspot server. Then everything ``authorize`` would do one command at a time is
known from its first read: the user added, or written for this grant as a restore after a
reboot writes it (:func:`user_commands`: counters reset for another purchase, the uptime
already booked added to the limit for the same one), the login, and the listing
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
from router.mikrotik_rows import KEEP_SLACK_SECONDS, Row, grant_id_of, grant_user, new_grant_user
from router.ros_connection import RouterConnection
from router.ros_values import as_bool, as_text, format_duration, parse_duration

ACTIVE = "/ip/hotspot/active"
USERS = "/ip/hotspot/user"

Commands = list[tuple[str, dict[str, object]]]


def plain_login(
    mac: str,
    ip: str,
    grant: DeviceGrant,
    password: str,
    server: str,
    users: list[Row],
    sessions: list[Row],
    *,
    password_known: bool,
) -> Commands | None:
    """The commands that give the device ``grant`` and log it in, or None when it is not a
    plain case (a session on its MAC to end first, several users of its name, or its user on
    another hotspot server). ``users`` and ``sessions``: what ``authorize`` read of the device."""
    own = [row for row in users if as_text(row.get("name")) == mac]
    if sessions or len(own) > 1 or any(as_text(row.get("server")) != server for row in own):
        return None
    login: tuple[str, dict[str, object]] = (
        f"{ACTIVE}/login",
        {"user": mac, "password": password, "mac-address": mac, "ip": ip},
    )
    # No session: nothing more is booked to the user before the login.
    return [*user_commands(mac, grant, own[0] if own else None, password, server, password_known=password_known), login]


def user_commands(
    mac: str, grant: DeviceGrant, user: Row | None, password: str, hotspot_server: str, *, password_known: bool
) -> list[tuple[str, dict[str, object]]]:
    """The commands that give the device's user ``grant`` before its login, for a restore
    and a plain purchase alike: none when the user already has this grant, its derived
    password and limit enough left; else the uptime already booked plus the grant's limit for
    the same grant; for another grant, the user rewritten as a new purchase writes it and its
    counters reset; with no user, the user added."""
    if user is None:  # no user by that name yet: added as a new purchase's, as authorize adds it
        return [(f"{USERS}/add", new_grant_user(mac, grant, password, hotspot_server))]
    user_id = as_text(user[".id"])
    if grant_id_of(user.get("comment")) == grant.grant_id:
        used = parse_duration(user.get("uptime"))
        if password_known and _limit_outlasts(user, used, grant):
            return []
        limit = format_duration(used + grant.limit_uptime_seconds)
        fields = {"password": password, "profile": grant.profile, "limit-uptime": limit}
        return [(f"{USERS}/set", {".id": user_id, **fields, "disabled": False})]
    rewritten = {key: value for key, value in grant_user(mac, grant, password, hotspot_server).items() if key != "name"}
    return [
        (f"{USERS}/set", {".id": user_id, **rewritten, "disabled": False}),
        (f"{USERS}/reset-counters", {".id": user_id}),
    ]


def _limit_outlasts(user: Row, used: int, grant: DeviceGrant) -> bool:
    """Whether the user, as it is, lets ``grant`` log in: its profile, enabled, and its
    ``limit-uptime`` still outlasting the grant (the router's backstop never cuts early)."""
    limit = parse_duration(user.get("limit-uptime"))
    return (
        limit > 0
        and limit - used >= grant.limit_uptime_seconds - KEEP_SLACK_SECONDS
        and as_text(user.get("profile")) == grant.profile
        and not as_bool(user.get("disabled", False))
    )


def logged_in(connection: RouterConnection, commands: Commands, mac: str, ip: str) -> bool:
    """Send ``commands`` (their last the login) and the device's listing in one batch; True
    when none was refused and the listing shows the device online as its own user at ``ip``.
    The caller holds the connection lock. A refusal no other way gets past is raised: the
    API user's rights, or a login the router refused for the device itself (not on the
    hotspot at that address); anything else is for the step-by-step way to try again."""
    listing = (f"{ACTIVE}/print", (f"?=mac-address={mac}",), ("user", "address"))
    *answers, sessions = connection.call_many(commands, reads=[listing])
    refused = [answer for answer in (*answers, sessions) if isinstance(answer, RouterError)]
    for error in refused:
        if isinstance(error, RouterNotPermitted):
            raise error
    if isinstance(answers[-1], DeviceNotOnHotspot):
        raise answers[-1]
    if refused or isinstance(sessions, RouterError):
        return False
    return any(as_text(row.get("user")) == mac and as_text(row.get("address")) == ip for row in sessions)
