"""Health check of a MikroTik router as ``pay2connect check`` and ``/api/health`` show it.

Never raises: every failure becomes one plain sentence in ``RouterHealth.problems``.
"""

from __future__ import annotations

import logging

from router import RouterHealth
from router.errors import RouterAuthFailed, RouterError, RouterNotPermitted, RouterUnreachable
from router.ros_connection import RouterConnection
from router.ros_values import as_bool, as_text

log = logging.getLogger(__name__)

REQUIRED_POLICIES = ("api", "read", "write")


def check_health(conn: RouterConnection, hotspot_server: str) -> RouterHealth:
    """Log in, read identity and version, look for the hotspot server, check API rights."""
    health = RouterHealth(name=conn.name, reachable=False)
    try:
        with conn.lock:
            conn.ensure_connected()
            health.reachable = True
            _read_system(conn, health)
            _check_hotspot(conn, hotspot_server, health)
            _check_rights(conn, health)
    except RouterUnreachable as err:
        health.problems.append(_sentence(err.message))
    except RouterAuthFailed as err:
        # It answered, so it is reachable; but nothing else can be checked.
        health.reachable = True
        health.problems.append(_sentence(err.message))
    except RouterError as err:  # not permitted to read, or an unexpected trap
        health.problems.append(_sentence(err.message))
    except Exception as err:
        log.exception("router %s: health check failed unexpectedly", conn.name)
        health.problems.append(_sentence(f"health check of router {conn.name} failed: {err}"))
    return health


def _read_system(conn: RouterConnection, health: RouterHealth) -> None:
    identity = conn.call("/system/identity/print", proplist=("name",))
    if identity:
        health.identity = as_text(identity[0].get("name")) or None
    resource = conn.call("/system/resource/print", proplist=("version",))
    if resource:
        health.version = as_text(resource[0].get("version")) or None


def _check_hotspot(conn: RouterConnection, hotspot_server: str, health: RouterHealth) -> None:
    servers = conn.call("/ip/hotspot/print", proplist=("name", "disabled", "invalid"))
    names = [as_text(row.get("name")) for row in servers]
    ours = [row for row in servers if as_text(row.get("name")) == hotspot_server]
    if not ours:
        found = ", ".join(repr(name) for name in names) or "none"
        health.problems.append(
            f"Hotspot server {hotspot_server!r} is not configured on router {conn.name} (found: {found})."
        )
        return
    health.hotspot_present = True
    if as_bool(ours[0].get("disabled", False)):
        health.problems.append(f"Hotspot server {hotspot_server!r} on router {conn.name} is disabled.")
    elif as_bool(ours[0].get("invalid", False)):
        health.problems.append(
            f"Hotspot server {hotspot_server!r} on router {conn.name} is invalid "
            "(check its interface and address pool)."
        )


def _check_rights(conn: RouterConnection, health: RouterHealth) -> None:
    """Read the API user's group policies; if that is not readable, try a no-op write."""
    policies = _group_policies(conn)
    if policies is not None:
        missing = [policy for policy in REQUIRED_POLICIES if policy not in policies]
        if missing:
            health.problems.append(
                f"API user {conn.username!r} on router {conn.name} lacks the "
                f"{' and '.join(missing)} {'policy' if len(missing) == 1 else 'policies'}."
            )
        return
    if health.identity is None:
        return
    try:  # writing the identity it already has changes nothing
        conn.call("/system/identity/set", {"name": health.identity})
    except RouterNotPermitted:
        health.problems.append(f"API user {conn.username!r} on router {conn.name} lacks the write policy.")


def _group_policies(conn: RouterConnection) -> set[str] | None:
    """Return the policies granted to our API user's group, or None when not readable."""
    try:
        users = conn.call("/user/print", query=[f"?=name={conn.username}"], proplist=("name", "group"))
        if not users:
            return None
        group = as_text(users[0].get("group"))
        groups = conn.call("/user/group/print", query=[f"?=name={group}"], proplist=("name", "policy"))
    except RouterNotPermitted:
        return None
    except RouterUnreachable:
        raise
    except RouterError as err:  # e.g. a router without /user over the API
        log.debug("router %s: cannot read user policies: %s", conn.name, err)
        return None
    if not groups:
        return None
    raw = as_text(groups[0].get("policy"))
    return {word.strip() for word in raw.split(",") if word.strip() and not word.strip().startswith("!")}


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else f"{text}."
