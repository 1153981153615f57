"""Our own router exceptions. Nothing from librouteros or socket leaks above `router/`."""

from __future__ import annotations


class RouterError(Exception):
    """Base class for every router failure. ``key`` is a stable, translatable message key."""

    key = "router_error"

    def __init__(self, message: str, *, router: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.router = router


class RouterUnreachable(RouterError):
    """Could not talk to the router: refused, timed out, reset, closed mid-reply, TLS failure."""

    key = "router_unreachable"


class RouterAuthFailed(RouterError):
    """The router refused our API user name or password."""

    key = "router_auth_failed"


class RouterNotPermitted(RouterError):
    """The API user lacks a policy (read, write, api) needed for the command."""

    key = "router_not_permitted"


class RouterRejected(RouterError):
    """The router answered with a trap; ``message`` is the router's own text."""

    key = "router_rejected"


class DeviceNotOnHotspot(RouterRejected):
    """The MAC/IP pair is not a host the hotspot knows (spoofed, left, or wrong router)."""

    key = "device_not_on_hotspot"
