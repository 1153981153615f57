"""When the hotspot model has work to do on a tick, without looking at every row each time.

Session deadlines and cookie expiries wait in :class:`DueQueue` heaps; hosts are checked
against the ip-bindings only when the bindings changed or the host is new or moved
(:class:`BindingWatch`).

:class:`DueQueue` is a heap of ``(time, key)`` with the invariant that every entry that
may fall due has a heap entry at or *before* its true due time. Popping an entry only
means "look at it again": the owner recomputes the real due time, acts if it has come,
or pushes the later time back. So the heap may hold stale entries (for ended sessions,
for deadlines that moved later) but is never late: only a due time that moves *earlier*
needs a new :meth:`DueQueue.push`.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from router.emulator.config_menu import ConfigMenu
from router.emulator.hotspot_rows import Host, Session

Rule = tuple[Any, Any, str]  # (mac-address or _ANY, address or _ANY, type) of an enabled ip-binding
_ANY = object()  # an ip-binding without a MAC (or address) applies to every MAC (address)


def deadline(session: Session, host: Host | None) -> tuple[float, str] | None:
    """When and why the session ends unless something changes (``host`` is the session's)."""
    candidates: list[tuple[float, str]] = []
    if session.uptime_budget is not None:
        candidates.append((session.login_at + session.uptime_budget, "uptime limit"))
    if session.session_timeout:
        candidates.append((session.login_at + session.session_timeout, "session timeout"))
    if session.idle_timeout:
        candidates.append((session.last_traffic + session.idle_timeout, "idle timeout"))
    if session.keepalive_timeout and host is not None and host.left_at is not None:
        candidates.append((host.left_at + session.keepalive_timeout, "keepalive timeout"))
    return min(candidates) if candidates else None


class DueQueue:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []

    def push(self, at: float, key: int) -> None:
        heapq.heappush(self._heap, (at, key))

    def due(self, now: float) -> bool:
        """Whether an entry is at or before ``now`` (a tick with nothing due looks no further)."""
        return bool(self._heap) and self._heap[0][0] <= now

    def pop_due(self, now: float) -> list[int]:
        """Keys (each once, ascending) with an entry at or before ``now``; entries removed."""
        keys: set[int] = set()
        while self._heap and self._heap[0][0] <= now:
            keys.add(heapq.heappop(self._heap)[1])
        return sorted(keys)

    def clear(self) -> None:
        self._heap.clear()

    def compact(self, live: int, rebuild: Callable[[], list[tuple[float, int]]]) -> None:
        """Drop stale entries when they outnumber the live ones (keeps memory bounded)."""
        if len(self._heap) > 2 * live + 64:
            self._heap = rebuild()
            heapq.heapify(self._heap)


def binding_rules(bindings: ConfigMenu) -> tuple[Rule, ...]:
    """The enabled ``/ip/hotspot/ip-binding`` rows that name a MAC or an address, in order."""
    return tuple(
        (binding.get("mac-address", _ANY), binding.get("address", _ANY), str(binding.get("type", "regular")))
        for _, binding in bindings.records()
        if not binding.get("disabled") and ("mac-address" in binding or "address" in binding)
    )


def binding_type(rules: tuple[Rule, ...], mac: str, ip: str) -> str | None:
    """The type of the first rule matching the host, None if no rule does."""
    for rule_mac, rule_ip, kind in rules:
        if (rule_mac is _ANY or rule_mac == mac) and (rule_ip is _ANY or rule_ip == ip):
            return kind
    return None


class BindingWatch:
    """Remembers the ip-binding rules the hosts were last checked against, and which hosts
    (new ones, or ones that moved to another address) must be checked again."""

    def __init__(self) -> None:
        self.rules: tuple[Rule, ...] | None = None
        self.dirty: dict[str, None] = {}  # MACs, in order

    def mark(self, mac: str) -> None:
        self.dirty[mac] = None

    def settled(self, rules: tuple[Rule, ...]) -> bool:
        """No host to check again: none marked and the rules as last checked against."""
        return not self.dirty and rules == self.rules

    def to_check(self, rules: tuple[Rule, ...]) -> list[str] | None:
        """MACs to re-check under ``rules``; None means all hosts (the rules changed)."""
        dirty, self.dirty = list(self.dirty), {}
        if rules != self.rules:
            self.rules = rules
            return None
        return dirty
