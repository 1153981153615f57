"""The rows of the hotspot's live tables (host, active, cookie), the world's devices, and
the configuration menus the hotspot model reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from router.emulator.config_menu import ConfigMenu

ANY_MAC = "00:00:00:00:00:00"


@dataclass
class Device:
    """A device in radio range: what the world knows, whether or not the hotspot sees it."""

    mac: str
    ip: str
    server: str


@dataclass
class Host:
    id: int
    mac: str
    ip: str
    server: str
    seen_at: float
    last_traffic: float
    left_at: float | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    authorized: bool = False
    bypassed: bool = False


@dataclass
class Session:
    """An active login. Limits are fixed at login, as RouterOS computes them then."""

    id: int
    user: str
    server: str
    mac: str
    ip: str
    login_by: str
    login_at: float
    last_traffic: float
    uptime_budget: float | None  # limit-uptime minus the user's earlier uptime
    session_timeout: int
    idle_timeout: int
    keepalive_timeout: int
    byte_limits: dict[str, int]  # "in"/"out"/"total" -> bytes still allowed
    bytes_in: int = 0
    bytes_out: int = 0
    domain: str | None = None


class SessionRecord(NamedTuple):
    """A session that ended: who, from when to when, and why (``admin``, ``uptime limit``...).

    A tuple of strings and numbers, which the garbage collector stops tracking: a day's
    200,000 records are never walked by its full collections (as dataclasses they were).
    """

    mac: str
    user: str
    login_at: float
    ended_at: float
    reason: str

    @property
    def seconds(self) -> float:
        return self.ended_at - self.login_at


@dataclass
class Cookie:
    id: int
    user: str
    mac: str
    expires_at: float


def byte_budget(account: dict[str, Any]) -> dict[str, int]:
    """Bytes a user may still move per limit (``in``/``out``/``total``), from its counters."""
    used = {"in": account.get("bytes-in", 0), "out": account.get("bytes-out", 0)}
    used["total"] = used["in"] + used["out"]
    return {
        kind: account[f"limit-bytes-{kind}"] - used[kind]
        for kind in ("in", "out", "total")
        if account.get(f"limit-bytes-{kind}")
    }


def over_byte_limit(session: Session) -> bool:
    used = {"in": session.bytes_in, "out": session.bytes_out, "total": session.bytes_in + session.bytes_out}
    return any(used[kind] >= left for kind, left in session.byte_limits.items())


def session_left(session: Session, now: float) -> float | None:
    """Seconds until limit-uptime or session-timeout ends the session (None: neither applies)."""
    limits = [session.login_at + session.uptime_budget] if session.uptime_budget is not None else []
    if session.session_timeout:
        limits.append(session.login_at + session.session_timeout)
    return max(0.0, min(limits) - now) if limits else None


def packets_for(byte_count: int) -> int:
    """The emulator has no packets; count one per started 1500 bytes."""
    return -(-byte_count // 1500)


@dataclass
class HotspotConfig:
    """The configuration menus the model reads."""

    users: ConfigMenu
    user_profiles: ConfigMenu
    servers: ConfigMenu
    server_profiles: ConfigMenu
    bindings: ConfigMenu
