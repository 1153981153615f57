"""Metric observations shared by every process through Redis: counters, histograms, gauges,
and short time windows of recent outcomes.

Why Redis and not prometheus-client's multiprocess mode: the web processes and the worker
already share one Redis (the README requires it as soon as they are separate processes), so
one ``HINCRBYFLOAT`` per observation makes every process's counts one total with nothing
else to set up: no ``PROMETHEUS_MULTIPROC_DIR`` to export before the first import in every
unit, no directory to wipe at boot, no files of dead processes to merge (a restarted web
process does not make a counter go backwards), and it works when the worker runs on another
machine. Whatever is already durable (payments, sessions, outboxes, alerts) is not counted
here at all: ``/metrics`` reads it from the ledger at scrape time (:mod:`portal.domain.metrics`).

Writing never raises: a metric must not fail a payment. Writes are sent together, a batch
every :attr:`Meters.flush_seconds` (a payment makes about nine; one round trip each cost more
than the rest of the payment's Redis work), by a small thread that runs only while there is
something to send; a batch sends each counter or histogram field once, with the sum of its
increments (a histogram's ``sum`` and ``count`` move on every observation). Reading flushes
this process's batch first, and waits for a batch the thread is still sending (else a read
right after a write could miss it). Reading raises ``redis.RedisError``.
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import math
import os
import secrets
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import redis

log = logging.getLogger(__name__)

PREFIX = "p2c:metric:"
RECENT = "p2c:recent:"
RECORD = "p2c:record:"
#: The name of the thread that sends the batches.
FLUSHER_THREAD = "p2c-meters"
Labels = tuple[tuple[str, str], ...]


_INSTANCES: weakref.WeakSet[Meters] = weakref.WeakSet()


@atexit.register
def _flush_all_at_exit() -> None:
    """A process that ends without closing its services still sends its last observations."""
    for meters in list(_INSTANCES):
        meters.flush()


def _fresh_locks_in_child() -> None:
    """A child forked while this process's thread was sending would inherit ``_sending``
    held for good (the thread that holds it does not exist there): give it new locks."""
    for meters in list(_INSTANCES):
        meters._lock, meters._sending, meters._flusher = threading.Lock(), threading.Lock(), None


os.register_at_fork(after_in_child=_fresh_locks_in_child)


def _labels_field(labels: Mapping[str, str]) -> str:
    return _labels_text(tuple(sorted((str(k), str(v)) for k, v in labels.items())))


@functools.lru_cache(maxsize=4096)
def _labels_text(pairs: tuple[tuple[str, str], ...]) -> str:
    """The label set as its hash field: the same few sets come back on every observation,
    so each is made JSON once (a JSON dump per observation was 1% of a callback's CPU)."""
    return json.dumps(pairs, separators=(",", ":"))


def _labels_from(text: str) -> Labels:
    return tuple((str(k), str(v)) for k, v in json.loads(text))


def _ts(moment: datetime) -> float:
    return moment.astimezone(UTC).timestamp()


@dataclass
class HistogramData:
    """One label set of a histogram: per-bucket counts (not cumulative), sum and count."""

    buckets: dict[float, float] = field(default_factory=dict)
    total: float = 0.0
    count: float = 0.0

    def cumulative(self, bounds: Sequence[float]) -> list[tuple[str, float]]:
        """``[(le, count)...]`` ending with ``+Inf``, as Prometheus wants them."""
        running, rows = 0.0, []
        for bound in (*bounds, math.inf):
            running += self.buckets.get(bound, 0.0)
            rows.append(("+Inf" if bound == math.inf else _le(bound), running))
        return rows


def _le(bound: float) -> str:
    return repr(float(bound))


def bucket_for(value: float, bounds: Sequence[float]) -> float:
    """The smallest bound the value fits under (``inf`` past the last)."""
    return next((bound for bound in bounds if value <= bound), math.inf)


class Meters:
    """See the module docstring. One instance per process, around the shared Redis client."""

    #: Most observations waiting before a write sends them at once, not waiting for the thread.
    MAX_WAITING = 2_000

    def __init__(self, client: redis.Redis, *, flush_seconds: float = 0.2) -> None:
        self.redis = client
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        # Held from taking a batch until Redis has it: a read's flush waits for a batch the
        # thread is still sending, so a process always reads its own observations.
        self._sending = threading.Lock()
        # What waits for the next batch. Increments of one hash field are summed here (a
        # histogram's sum and count move on every observation: a batch sends each once).
        self._sums: dict[tuple[str, str], float] = {}
        self._gauges: dict[tuple[str, str], str] = {}
        self._notes: list[Callable[[Any], object]] = []
        self._waiting = 0  # observations since the last batch
        self._flusher: threading.Thread | None = None
        self._closed = threading.Event()
        _INSTANCES.add(self)

    # -- writing (never raises) -----------------------------------------------------------
    def inc(self, name: str, labels: Mapping[str, str], amount: float = 1.0) -> None:
        self._add(((f"{PREFIX}counter:{name}", _labels_field(labels), amount),))

    def observe(self, name: str, labels: Mapping[str, str], value: float, bounds: Sequence[float]) -> None:
        if not math.isfinite(value):
            return
        key, base = f"{PREFIX}histogram:{name}", _labels_field(labels)
        bound = bucket_for(max(value, 0.0), bounds)
        self._add(
            (
                (key, f"{base}\x1f{'inf' if bound == math.inf else _le(bound)}", 1.0),
                (key, f"{base}\x1fsum", max(value, 0.0)),
                (key, f"{base}\x1fcount", 1.0),
            )
        )

    def set_gauge(self, name: str, labels: Mapping[str, str], value: float) -> None:
        with self._lock:
            self._gauges[(f"{PREFIX}gauge:{name}", _labels_field(labels))] = repr(float(value))
        self._waited()

    def note(self, series: str, outcome: str, at: datetime, keep_seconds: int) -> None:
        """Remember one outcome (``ok``, ``error``, ``slow``...) of ``series`` at ``at``."""
        key, stamp = f"{RECENT}{series}", _ts(at)

        def write(pipe: Any) -> None:
            pipe.zremrangebyscore(key, "-inf", stamp - keep_seconds)
            pipe.zadd(key, {f"{stamp}:{outcome}:{secrets.token_hex(4)}": stamp})
            pipe.expire(key, max(keep_seconds, 1) + 60)

        with self._lock:
            self._notes.append(write)
        self._waited()

    def _add(self, increments: Sequence[tuple[str, str, float]]) -> None:
        with self._lock:
            sums = self._sums
            for key, name, amount in increments:
                sums[(key, name)] = sums.get((key, name), 0.0) + amount
        self._waited()

    def _waited(self) -> None:
        """Count one observation in; make sure the thread runs, or send now when many wait."""
        with self._lock:
            self._waiting += 1
            full = self._waiting >= self.MAX_WAITING
            # (not alive: this is a forked child, which has the object but not the thread)
            if (self._flusher is None or not self._flusher.is_alive()) and not self._closed.is_set():
                self._flusher = threading.Thread(target=self._flush_while_busy, name=FLUSHER_THREAD, daemon=True)
                self._flusher.start()
        if full or self._closed.is_set():
            self.flush()

    def flush(self) -> bool:
        """Send what is waiting in one round trip; False if nothing was. Never raises.
        Returns only once any batch already being sent (by the thread) is in Redis too."""
        with self._sending:
            return self._send_waiting()

    def _send_waiting(self) -> bool:
        with self._lock:
            if not self._waiting:
                return False
            sums, gauges, notes = self._sums, self._gauges, self._notes
            self._sums, self._gauges, self._notes, self._waiting = {}, {}, [], 0
        try:
            pipe = self.redis.pipeline(transaction=False)
            for (key, name), amount in sums.items():
                pipe.hincrbyfloat(key, name, amount)
            for (key, name), text in gauges.items():
                pipe.hset(key, name, text)
            for write in notes:
                write(pipe)
            pipe.execute()
        except (redis.RedisError, OSError) as err:
            log.debug("%d metric update(s) not recorded: %s", len(sums) + len(gauges) + len(notes), err)
        return True

    def close(self) -> None:
        """Send what is waiting and stop the thread; later writes go out at once."""
        self._closed.set()
        with self._lock:
            flusher = self._flusher
        if flusher is not None and flusher is not threading.current_thread():
            flusher.join(timeout=2)
        self.flush()

    def _flush_while_busy(self) -> None:
        while not self._closed.wait(self.flush_seconds):
            if self.flush():
                continue
            with self._lock:  # a quiet spell: stop; the next write starts a new thread
                if not self._waiting:
                    self._flusher = None
                    return

    # -- reading --------------------------------------------------------------------------
    def counters(self, name: str) -> dict[Labels, float]:
        self.flush()
        raw = cast("dict[bytes, bytes]", self.redis.hgetall(f"{PREFIX}counter:{name}"))
        return {_labels_from(k.decode()): float(v) for k, v in raw.items()}

    def gauges(self, name: str) -> dict[Labels, float]:
        self.flush()
        raw = cast("dict[bytes, bytes]", self.redis.hgetall(f"{PREFIX}gauge:{name}"))
        return {_labels_from(k.decode()): float(v) for k, v in raw.items()}

    def histograms(self, name: str) -> dict[Labels, HistogramData]:
        self.flush()
        raw = cast("dict[bytes, bytes]", self.redis.hgetall(f"{PREFIX}histogram:{name}"))
        found: dict[Labels, HistogramData] = {}
        for key, value in raw.items():
            base, _, part = key.decode().rpartition("\x1f")
            data = found.setdefault(_labels_from(base), HistogramData())
            if part == "sum":
                data.total = float(value)
            elif part == "count":
                data.count = float(value)
            else:
                data.buckets[math.inf if part == "inf" else float(part)] = float(value)
        return found

    def recent(self, series: str, since: datetime) -> Counter[str]:
        """How many of each outcome ``series`` had from ``since`` on."""
        self.flush()
        members = cast("list[bytes]", self.redis.zrangebyscore(f"{RECENT}{series}", _ts(since), "+inf"))
        return Counter(member.decode().split(":")[1] for member in members)

    # -- small records (state that must not depend on the ledger) -------------------------
    def put_record(self, name: str, values: Mapping[str, str]) -> None:
        key = f"{RECORD}{name}"
        pipe = self.redis.pipeline()
        pipe.delete(key)
        if values:
            pipe.hset(key, mapping=dict(values))
        pipe.execute()

    def get_record(self, name: str) -> dict[str, str]:
        raw = cast("dict[bytes, bytes]", self.redis.hgetall(f"{RECORD}{name}"))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def drop_record(self, name: str) -> None:
        self.redis.delete(f"{RECORD}{name}")
