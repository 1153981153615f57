"""Failure injection: a queue of scripted faults, matched by command path.

What each kind does on the wire, and what librouteros 4.2 then raises:

=================== ==================================================== ========================
kind                wire                                                 librouteros raises
=================== ==================================================== ========================
close_on_accept     accept the TCP connection, close it without a byte   ConnectionClosed
drop_before_reply   run the command, close before the first reply byte   ConnectionClosed
drop_mid_reply      run the command, send half the reply bytes, close    ConnectionClosed
stall               read the command, never answer (not run)             TimeoutError
reset               answer with a TCP RST (SO_LINGER 0) (not run)        ConnectionResetError
fatal               ``!fatal <message>`` then close (not run)            FatalError
trap                ``!trap =message= [=category=]`` + ``!done``          TrapError
multi_trap          two ``!trap`` sentences + ``!done``                  MultiTrapError
not_permitted       ``!trap =message=not enough permissions (9)``        TrapError
=================== ==================================================== ========================

The two ``drop_*`` kinds run the command first by default: the router did the work and
the *reply* was lost, the case an idempotent adapter must survive. Pass ``execute=False``
to :meth:`FaultPlan.add` for "the router never saw it".
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

FAULT_KINDS = frozenset(
    {
        "close_on_accept",
        "drop_before_reply",
        "drop_mid_reply",
        "stall",
        "reset",
        "fatal",
        "trap",
        "multi_trap",
        "not_permitted",
    }
)
DEFAULT_MESSAGES = {
    "fatal": "connection terminated by router",
    "trap": "failure: injected trap",
    "multi_trap": "failure: injected trap",
    "not_permitted": "not enough permissions (9)",
}
SECOND_TRAP_MESSAGE = "failure: second injected trap"


@dataclass
class Fault:
    kind: str
    path: str | None
    remaining: int
    message: str | None = None
    category: int | None = None
    execute: bool = False

    def matches(self, command_word: str) -> bool:
        if self.path is None:
            return True
        prefix = self.path.rstrip("/")
        return command_word == prefix or command_word.startswith(prefix + "/")

    @property
    def text(self) -> str:
        return self.message or DEFAULT_MESSAGES.get(self.kind, "failure: injected trap")


class FaultPlan:
    """Thread-safe list of pending faults; each match uses up one of a fault's ``count``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        kind: str,
        *,
        path: str | None = None,
        count: int = 1,
        message: str | None = None,
        category: int | None = None,
        execute: bool | None = None,
    ) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        if execute is None:
            execute = kind in ("drop_before_reply", "drop_mid_reply")
        with self._lock:
            self._faults.append(Fault(kind, path, count, message, category, execute))

    def _take(self, wanted: Callable[[Fault], bool]) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if wanted(fault):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def take_for_connection(self) -> Fault | None:
        return self._take(lambda fault: fault.kind == "close_on_accept")

    def take_for_command(self, command_word: str) -> Fault | None:
        return self._take(lambda fault: fault.kind != "close_on_accept" and fault.matches(command_word))

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
