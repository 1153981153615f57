"""The expiry timer: one thread that sleeps until the next grant is due and ends it then.

It arms on the earliest due time of the Redis expiry index and of the ledger
(:func:`portal.domain.expiry.next_due`), and re-arms when that may have changed:

- any process that adds, extends, credits or moves a grant changes the Redis index, which
  announces the earliest end it wrote on a pub/sub channel
  (:meth:`LiveStore.watch_expiry_changes`); an announcement earlier than the armed time (or
  a lost feed, or a rebuilt mirror) wakes the timer. Ending a grant announces nothing: a
  removal only makes the next due time later, so the timer wakes when it was armed, finds
  nothing due and re-arms. Pub/sub
  rather than a polled "changed" marker: it wakes the worker within a millisecond and
  costs nothing while nothing changes; a message lost while the feed was down is covered
  by re-reading the index on every resubscribe;
- a :class:`~portal.clock.ManualClock` moved by a test wakes it (no real sleeping for
  business time); a :class:`~portal.clock.JumpingClock` jumped by a benchmark too;
- at the latest after ``max_sleep`` real seconds it reads the ledger again (a grant written
  while Redis was down announces nothing), and rebuilds the Redis mirror from the ledger if
  Redis lost it (flushed, restarted empty: :func:`~portal.domain.expiry.restore_live_if_lost`).

When due it ends every due grant in the ledger in one transaction and hands the logouts
to the routers' lanes, so a slow router never holds up the timer or the other routers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from portal.clock import Alarm
from portal.domain.context import Services
from portal.domain.expiry import end_due, next_due, restore_live_if_lost
from portal.domain.outbox import Revocation

log = logging.getLogger(__name__)


class ExpiryTimer:
    """Ends grants at their due time; ``dispatch`` receives the router logouts to do."""

    def __init__(
        self,
        services: Services,
        dispatch: Callable[[list[Revocation]], None],
        is_leader: Callable[[], bool],
        *,
        max_sleep: float = 15.0,
    ) -> None:
        self.services = services
        self.dispatch = dispatch
        self.is_leader = is_leader
        self.max_sleep = max_sleep
        self.alarm = Alarm(services.clock)
        self.armed: datetime | None = None
        self.ended = 0
        self._stopped = threading.Event()
        self._idle = threading.Condition()
        self._idle_at: datetime | None = None  # business time it last went to sleep with nothing due
        self._thread: threading.Thread | None = None
        self._unwatch: Callable[[], None] | None = None

    def start(self) -> None:
        self._unwatch = self.services.live.watch_expiry_changes(self._index_changed)
        self._thread = threading.Thread(target=self._run, name="p2c-expiry-timer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self.alarm.wake()
        if self._unwatch is not None:
            self._unwatch()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.alarm.close()

    def _index_changed(self, due_epoch: float | None) -> None:
        armed = self.armed
        if due_epoch is None or armed is None or due_epoch < armed.timestamp():
            self.alarm.wake()

    def _run(self) -> None:
        db = self.services.db
        db.connect(reuse_if_open=True)
        try:
            while not self._stopped.is_set():
                try:
                    self._step()
                except Exception:
                    log.exception("expiry timer pass failed; trying again in a second")
                    self._stopped.wait(1.0)
        finally:
            if not db.is_closed():
                db.close()

    def _step(self) -> None:
        if not self.is_leader():
            self._sleep(None, 1.0)
            return
        restore_live_if_lost(self.services)
        now = self.services.clock.now()
        due = next_due(self.services)
        if due is not None and due <= now:
            _seen, revocations = end_due(self.services, now)
            self.ended += len(revocations)
            if revocations:
                self.dispatch(revocations)
            return
        self._sleep(due, self.max_sleep, idle_at=now)

    def _sleep(self, due: datetime | None, most: float, idle_at: datetime | None = None) -> None:
        self.armed = due
        if idle_at is not None:
            with self._idle:
                self._idle_at = idle_at
                self._idle.notify_all()
        self.alarm.wait_until(due, most)
        self.armed = None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until the timer has handled everything due at the clock's current time
        (tests: after moving a ManualClock). Waits for work, never for business time."""
        target = self.services.clock.now()
        with self._idle:
            return self._idle.wait_for(lambda: self._idle_at is not None and self._idle_at >= target, timeout=timeout)
