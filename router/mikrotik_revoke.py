"""Revocation for the MikroTik adapter: users, sessions and cookies of many devices at once.

One burst of expiries on a router costs six API commands per batch of devices (print and
remove for users, sessions, cookies), not six per device: the prints select every device of
the batch with one OR-query, the removes take comma-joined ids.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from router import COMMENT_PREFIX
from router.ros_connection import RouterConnection
from router.ros_values import as_text

log = logging.getLogger(__name__)

USERS = "/ip/hotspot/user"
ACTIVE = "/ip/hotspot/active"
COOKIES = "/ip/hotspot/cookie"
#: Devices per batch: the OR-query grows with it, and the router tests every row it finds
#: against the whole query.
REVOKE_BATCH = 25

Remove = Callable[[str, Sequence[str]], None]


def any_of(fields: Sequence[str], values: Sequence[str]) -> list[str]:
    """Query words matching rows whose field (any of ``fields``) equals any of ``values``."""
    words: list[str] = []
    for value in values:
        for field in fields:
            words.append(f"?={field}={value}")
            if len(words) > 1:
                words.append("?#|")
    return words


def revoke_devices(connection: RouterConnection, macs: Sequence[str], remove: Remove) -> None:
    """Remove our users bound to (or named by) ``macs``, then their sessions and cookies.

    ``macs`` are normalized. Already gone is success; the caller holds the connection lock.
    """
    if not macs:
        return
    wanted = set(macs)
    users = connection.call(
        f"{USERS}/print", query=any_of(("name", "mac-address"), macs), proplist=(".id", "name", "comment")
    )
    ours = [
        as_text(row[".id"])
        for row in users
        if as_text(row.get("name")) in wanted or as_text(row.get("comment")).startswith(COMMENT_PREFIX)
    ]
    remove(USERS, ours)
    by_device = any_of(("mac-address", "user"), macs)
    sessions = connection.call(f"{ACTIVE}/print", query=by_device, proplist=(".id",))
    remove(ACTIVE, [as_text(row[".id"]) for row in sessions])
    cookies = connection.call(f"{COOKIES}/print", query=by_device, proplist=(".id",))
    remove(COOKIES, [as_text(row[".id"]) for row in cookies])
    log.info(
        "router %s: revoked %s (%d user(s), %d session(s), %d cookie(s))",
        connection.name,
        macs[0] if len(macs) == 1 else f"{len(macs)} devices",
        len(ours),
        len(sessions),
        len(cookies),
    )
