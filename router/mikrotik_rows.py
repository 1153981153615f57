"""RouterOS reply rows -> our dataclasses, and the ``.proplist`` each lookup asks for.

Rows come from librouteros already cast (numbers to int, ``true``/``yes`` to True), so
every field is read back through :mod:`router.ros_values`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from router import COMMENT_PREFIX, ActiveSession, DeviceGrant, HostEntry, ManagedUser
from router.ros_values import as_bool, as_int, as_text, format_duration, parse_duration

Row = dict[str, Any]

HOST_FIELDS = ("mac-address", "address", "server", "authorized", "bypassed")
ACTIVE_FIELDS = ("user", "mac-address", "address", "uptime", "bytes-in", "bytes-out")
MANAGED_USER_FIELDS = ("mac-address", "comment")
UPTIME_FIELDS = ("mac-address", "uptime")
#: What authorize reads of a device's user (a plain login needs its limit, counters and state).
USER_FIELDS = (".id", "name", "server", "comment", "uptime", "limit-uptime", "profile", "disabled")
SESSION_FIELDS = (".id", "user", "address", "session-time-left", "uptime")  # and of its sessions
ANY_MAC = "00:00:00:00:00:00"  # a user's mac-address when it is not bound to one
#: A kept session may have this much less limit-uptime left than asked for (the caller's
#: margin covers it); more than that and the device is logged in again under a fresh limit.
#: A restore leaves a user's limit as it is on the same terms.
KEEP_SLACK_SECONDS = 30


def login_password(login_secret: bytes | None, mac: str, grant_id: str) -> str:
    """The password of our hotspot user for ``grant_id`` on ``mac``: derived from the
    install's secret, so every process (web app, worker) knows it without reading it back
    (our API group has no ``sensitive`` right) and a restore can log the device in without
    writing the user first. Random when there is no secret (then a restore writes it)."""
    if not login_secret:
        return secrets.token_urlsafe(16)
    digest = hmac.new(login_secret, f"{mac}\x1f{grant_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest)[:22].decode()


def host_entry(row: Row) -> HostEntry:
    return HostEntry(
        mac=as_text(row.get("mac-address")),
        ip=as_text(row.get("address")),
        server=as_text(row.get("server")) or None,
        authorized=as_bool(row.get("authorized", False)),
        bypassed=as_bool(row.get("bypassed", False)),
    )


def active_session(row: Row) -> ActiveSession:
    return ActiveSession(
        user=as_text(row.get("user")),
        mac=as_text(row.get("mac-address")),
        ip=as_text(row.get("address")),
        uptime_seconds=parse_duration(row.get("uptime")),
        bytes_in=as_int(row.get("bytes-in")),
        bytes_out=as_int(row.get("bytes-out")),
    )


def grant_user(mac: str, grant: DeviceGrant, password: str, server: str) -> Row:
    """Every field of our hotspot user for ``grant`` (named by the device's MAC), as a new
    purchase writes it: ``limit-bytes-total`` 0 means no cap (and clears an earlier one)."""
    return {
        "name": mac,
        "password": password,
        "mac-address": mac,
        "server": server,
        "profile": grant.profile,
        "limit-uptime": format_duration(grant.limit_uptime_seconds),
        "comment": f"{COMMENT_PREFIX}{grant.grant_id}",
        "limit-bytes-total": grant.limit_bytes_total or 0,
    }


def new_grant_user(mac: str, grant: DeviceGrant, password: str, server: str) -> Row:
    """:func:`grant_user` as ``/ip/hotspot/user/add`` takes it: no cap is left out, not 0."""
    fields = grant_user(mac, grant, password, server)
    return {key: value for key, value in fields.items() if key != "limit-bytes-total" or value}


def grant_id_of(comment: object) -> str | None:
    """Return our grant id from a user's comment, None when the user is not ours."""
    text = as_text(comment)
    return text[len(COMMENT_PREFIX) :] if text.startswith(COMMENT_PREFIX) else None


def managed_user(row: Row) -> ManagedUser | None:
    """Return the user as ours, or None when its comment lacks our prefix."""
    grant_id = grant_id_of(row.get("comment"))
    if grant_id is None:
        return None
    mac = as_text(row.get("mac-address"))
    return ManagedUser(mac=mac if mac and mac != ANY_MAC else None, grant_id=grant_id)
