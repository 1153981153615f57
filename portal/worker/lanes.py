"""Router lanes: one thread per router for every router call the worker makes.

Each router gets its own lane (thread, connection, queue), so routers are served in
parallel and a slow or dead one only ever delays itself: its logouts wait in the outbox
while the other lanes keep logging out on time. A lane:

- logs out the devices the expiry timer hands it, all that are waiting in one batch
  (:func:`portal.domain.outbox.run_revocations`: a handful of API commands per batch);
- runs the outbox items the sweep hands it (retries with backoff);
- probes its router every ``probe_seconds`` and reconciles it every
  ``reconcile_seconds``, at once after a reboot or an outage (clocks of the customers cut
  off are stopped first, so their time is credited), and on every probe while it recovers;
- while its router is unreachable it does not try logouts one by one: they stay durable
  in the outbox and all run as soon as a probe finds the router back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from portal.clock import Alarm
from portal.domain.context import Services
from portal.domain.outbox import Revocation, run_items, run_revocations, waiting_for_router
from portal.domain.router_reconciliation import watch_and_reconcile

log = logging.getLogger(__name__)


class RouterLane:
    def __init__(
        self,
        services: Services,
        name: str,
        is_leader: Callable[[], bool],
        *,
        probe_seconds: float = 1.0,
        reconcile_seconds: float = 120.0,
    ) -> None:
        self.services = services
        self.name = name
        self.is_leader = is_leader
        self.probe_seconds = probe_seconds
        self.reconcile_seconds = reconcile_seconds
        self.alarm = Alarm(services.clock)
        self.reachable = True
        self.revoked = 0
        self._lock = threading.Lock()
        self._revocations: list[Revocation] = []
        self._items: dict[int, None] = {}
        self._busy = False
        self._idle = threading.Condition(self._lock)
        self._idle_at: datetime | None = None  # business time of its last probe before it slept
        self._stopped = threading.Event()
        self._next_probe: datetime | None = None
        self._next_reconcile: datetime | None = None
        self._thread = threading.Thread(target=self._run, name=f"p2c-router-{name}", daemon=True)

    # -- what others hand over ------------------------------------------------------------
    def revoke(self, revocations: list[Revocation]) -> None:
        with self._lock:
            self._revocations.extend(revocations)
        self.alarm.wake()

    def run_outbox(self, item_ids: list[int]) -> None:
        with self._lock:
            self._items.update(dict.fromkeys(item_ids))
        self.alarm.wake()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self.alarm.wake()
        if self._thread.is_alive():  # a lane never started has nothing to wait for
            self._thread.join(timeout=15)
        self.alarm.close()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing handed over is waiting or running and the probe (and any
        reconciliation) due at the clock's current time is done (tests). Waits for work,
        never for business time."""
        target = self.services.clock.now()
        with self._idle:
            return self._idle.wait_for(
                lambda: (
                    not self._busy
                    and not self._revocations
                    and not self._items
                    and self._idle_at is not None
                    and self._idle_at >= target
                ),
                timeout=timeout,
            )

    # -- the thread -----------------------------------------------------------------------
    def _run(self) -> None:
        db = self.services.db
        db.connect(reuse_if_open=True)
        try:
            while not self._stopped.is_set():
                try:
                    self._step()
                except Exception:
                    log.exception("router lane %s failed; going on", self.name)
                    with self._lock:
                        self._busy = False
                        self._idle.notify_all()
                    self._stopped.wait(1.0)
        finally:
            if not db.is_closed():
                db.close()

    def _take(self) -> tuple[list[Revocation], list[int]]:
        with self._lock:
            revocations, self._revocations = self._revocations, []
            items, self._items = list(self._items), {}
            self._busy = bool(revocations or items)
            if not self._busy:
                self._idle.notify_all()
            return revocations, items

    def _step(self) -> None:
        revocations, items = self._take()
        if revocations and self.reachable:
            self.revoked += run_revocations(self.services, self.name, revocations)
        if items:
            run_items(self.services, items)
        now = self.services.clock.now()
        if self._next_probe is None or now >= self._next_probe:
            self._probe(now)
        with self._lock:
            self._busy = False
            if self._revocations or self._items:
                return
            self._idle_at = now
            self._idle.notify_all()
        self.alarm.wait_until(self._next_probe, self.probe_seconds)

    def _probe(self, now: datetime) -> None:
        self._next_probe = now + timedelta(seconds=self.probe_seconds)
        if not self.is_leader():
            return
        reconcile = self._next_reconcile is None or now >= self._next_reconcile
        if reconcile:
            self._next_reconcile = now + timedelta(seconds=self.reconcile_seconds)
        was_reachable = self.reachable
        watch = watch_and_reconcile(self.services, self.name, reconcile=reconcile)
        if watch.reconciled:  # the one after a reboot counts: the next regular one is due from now
            self._next_reconcile = now + timedelta(seconds=self.reconcile_seconds)
        self.reachable = watch.reachable
        if watch.reachable and not was_reachable:
            waiting = waiting_for_router(self.name)
            log.info("router %s is back: %d operation(s) waiting run now", self.name, len(waiting))
            self.run_outbox(waiting)
