"""The router side: what the rest of the product may ask of a hotspot router.

One interface (:class:`Router`), two ways to reach it, chosen by config: the MikroTik
adapter over librouteros (``router.mikrotik``) talking to a real router, or to the
RouterOS API emulator (``router.emulator``) that the demo and the tests start in-process.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from router.errors import (
    DeviceNotOnHotspot,
    RouterAuthFailed,
    RouterError,
    RouterNotPermitted,
    RouterRejected,
    RouterUnreachable,
)

__all__ = [
    "ActiveSession",
    "DeviceGrant",
    "DeviceNotOnHotspot",
    "HostEntry",
    "ManagedUser",
    "Router",
    "RouterAuthFailed",
    "RouterError",
    "RouterHealth",
    "RouterNotPermitted",
    "RouterRejected",
    "RouterUnreachable",
    "normalize_mac",
]

COMMENT_PREFIX = "p2c:"


_CANONICAL_MAC = re.compile(r"[0-9A-F]{2}(?::[0-9A-F]{2}){5}")


def normalize_mac(raw: str) -> str:
    """Return ``AA:BB:CC:DD:EE:FF`` for any common MAC spelling; ValueError otherwise."""
    text = str(raw)
    if _CANONICAL_MAC.fullmatch(text):  # most calls (our own rows, a reboot's thousands): as is
        return text
    hexdigits = "".join(ch for ch in text if ch not in ":-. ").upper()
    if len(hexdigits) != 12 or any(ch not in "0123456789ABCDEF" for ch in hexdigits):
        raise ValueError(f"not a MAC address: {raw!r}")
    return ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2))


@dataclass(frozen=True)
class DeviceGrant:
    """What the router must let through: one device, one purchase."""

    grant_id: str  # our id; written to the router as comment "p2c:<grant_id>"
    mac: str  # normalized AA:BB:CC:DD:EE:FF
    ip: str
    profile: str  # hotspot user profile name, e.g. "p2c-1h-2M"
    limit_uptime_seconds: int  # router-side backstop for the package time
    rate_limit: str | None = None  # "rx/tx" as RouterOS writes it, e.g. "2M/2M"
    shared_users: int = 1
    limit_bytes_total: int | None = None


@dataclass(frozen=True)
class HostEntry:
    """A row of /ip/hotspot/host: a device the hotspot has seen."""

    mac: str
    ip: str
    server: str | None = None
    authorized: bool = False
    bypassed: bool = False


@dataclass(frozen=True)
class ActiveSession:
    """A row of /ip/hotspot/active: a device that is logged in."""

    user: str
    mac: str
    ip: str
    uptime_seconds: int = 0
    bytes_in: int = 0
    bytes_out: int = 0


@dataclass(frozen=True)
class ManagedUser:
    """A hotspot user that we created (its comment starts with ``p2c:``): what
    reconciliation needs of it, and no more (it lists thousands)."""

    mac: str | None
    grant_id: str


@dataclass
class RouterHealth:
    """The result of a health check; ``problems`` holds one plain sentence per failure."""

    name: str
    reachable: bool
    identity: str | None = None
    version: str | None = None
    hotspot_present: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reachable and self.hotspot_present and not self.problems


class Router(Protocol):
    """The hotspot router as the product sees it. All calls are idempotent where it matters."""

    name: str

    def authorize(self, grant: DeviceGrant) -> int:
        """Create/refresh the hotspot user for the grant and log the device in.

        Returns how long (seconds) the device's session had already run when a live session
        of this grant was kept (a login an earlier call made, say by a process killed before
        it could record it); 0 after a fresh login. The customer's clock starts at the login.
        Raises DeviceNotOnHotspot when the MAC/IP pair is not in the host table.
        Calling it twice for the same grant is harmless.
        """
        ...

    def restore_many(
        self, grants: Sequence[DeviceGrant], on_restored: Callable[[list[str]], None] | None = None
    ) -> list[str]:
        """Log back in, in one pass, devices that lost their session while their user of ours
        stayed (after a reboot), as :meth:`authorize` would; returns the MACs now online.
        Anything less plain is left for :meth:`authorize`. ``on_restored``, when given,
        hears the MACs confirmed online part by part, in the caller's thread, while the
        router logs the next part in (so the caller can record them meanwhile)."""
        ...

    def revoke(self, mac: str) -> None:
        """Log the device out and remove its user and cookies. Harmless if already gone."""
        ...

    def revoke_many(self, macs: Sequence[str]) -> None:
        """:meth:`revoke` for several devices at once (fewer round trips in a burst)."""
        ...

    def system_uptime(self) -> int:
        """Seconds since the router booted; a drop between two readings means a reboot."""
        ...

    def host_for_ip(self, ip: str) -> HostEntry | None:
        """Look up the hotspot host table by IP address."""
        ...

    def host_for_mac(self, mac: str) -> HostEntry | None:
        """Look up the hotspot host table by MAC address."""
        ...

    def active_sessions(self) -> list[ActiveSession]:
        """Everything logged in on this router's hotspot."""
        ...

    def session_uptimes(self) -> dict[str, int]:
        """MAC -> seconds online, for everything logged in on this router's hotspot: the
        listing reconciliation and the fault watch make of thousands of sessions, two
        fields each instead of :meth:`active_sessions`' six."""
        ...

    def managed_users(self) -> list[ManagedUser]:
        """Hotspot users that carry our comment prefix (for reconciliation)."""
        ...

    def health(self) -> RouterHealth:
        """Login, hotspot server present, API user rights; never raises."""
        ...

    def close(self) -> None:
        """Drop any open connection."""
        ...
