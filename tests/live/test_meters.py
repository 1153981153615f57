"""Meters in a real Redis: counters, histograms (Prometheus buckets), gauges, recent windows;
writing never raises, even with Redis gone."""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from portal.live.meters import FLUSHER_THREAD, Meters, bucket_for

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
BOUNDS = (0.1, 0.5, 1.0)


def test_counters_add_up_per_label_set(redis_handle):
    meters = Meters(redis_handle.client)
    meters.inc("c", {"router": "main", "error": "timeout"})
    meters.inc("c", {"error": "timeout", "router": "main"}, 2)  # label order does not matter
    meters.inc("c", {"router": "backroom", "error": "timeout"})
    assert meters.counters("c") == {
        (("error", "timeout"), ("router", "main")): 3.0,
        (("error", "timeout"), ("router", "backroom")): 1.0,
    }
    assert meters.counters("never") == {}


def test_histograms_are_cumulative_with_sum_and_count(redis_handle):
    meters = Meters(redis_handle.client)
    for value in (0.05, 0.1, 0.3, 0.7, 2.0, float("nan")):
        meters.observe("h", {"operation": "stk_push"}, value, BOUNDS)
    (data,) = meters.histograms("h").values()
    assert data.count == 5 and math.isclose(data.total, 3.15)
    assert data.cumulative(BOUNDS) == [("0.1", 2.0), ("0.5", 3.0), ("1.0", 4.0), ("+Inf", 5.0)]
    assert bucket_for(0.1, BOUNDS) == 0.1 and bucket_for(5, BOUNDS) == math.inf


class _SentCommands(redis.Redis):
    """A real client to the same server whose pipelines note the commands they send (the
    server's own counts are shared with every other client of the test server)."""

    sent: list[str]

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction=transaction, shard_hint=shard_hint)
        execute, sent = pipe.execute, self.sent

        def noted_execute(raise_on_error: bool = True) -> Any:
            sent.extend(str(args[0]) for args, _options in pipe.command_stack)
            return execute(raise_on_error)

        pipe.execute = noted_execute
        return pipe


def test_a_batch_sends_each_field_once_with_the_sum_of_its_increments(redis_handle):
    client = _SentCommands(connection_pool=redis_handle.client.connection_pool)
    client.sent = []
    meters = Meters(client, flush_seconds=3600)  # only the explicit flush sends
    for _ in range(40):
        meters.observe("h", {"operation": "login"}, 0.3, BOUNDS)
        meters.inc("c", {"router": "main"})
    meters.inc("c", {"router": "main"}, 0.5)
    assert meters.flush()
    assert client.sent == ["HINCRBYFLOAT"] * 4  # the bucket, sum and count of one label set, one counter
    (data,) = meters.histograms("h").values()
    assert data.count == 40 and math.isclose(data.total, 12.0)
    assert data.cumulative(BOUNDS)[1] == ("0.5", 40.0)
    assert meters.counters("c") == {(("router", "main"),): 40.5}
    assert not meters.flush()  # nothing left waiting


def test_gauges_and_recent_windows(redis_handle):
    meters = Meters(redis_handle.client)
    meters.set_gauge("g", {"router": "main"}, 0)
    meters.set_gauge("g", {"router": "main"}, 1)
    assert meters.gauges("g") == {(("router", "main"),): 1.0}
    for seconds, outcome in ((0, "error"), (30, "ok"), (60, "slow"), (90, "ok")):
        meters.note("daraja", outcome, T0 + timedelta(seconds=seconds), keep_seconds=600)
    assert meters.recent("daraja", T0) == {"ok": 2, "error": 1, "slow": 1}
    assert meters.recent("daraja", T0 + timedelta(seconds=45)) == {"ok": 1, "slow": 1}
    meters.note("daraja", "ok", T0 + timedelta(seconds=650), keep_seconds=600)  # drops 0 s and 30 s
    meters.flush()
    assert redis_handle.client.zcard("p2c:recent:daraja") == 3


def test_records_round_trip(redis_handle):
    meters = Meters(redis_handle.client)
    meters.put_record("alert:x", {"since": "2026-03-01T09:00:00+00:00", "round": "1"})
    assert meters.get_record("alert:x")["round"] == "1"
    meters.drop_record("alert:x")
    assert meters.get_record("alert:x") == {}


def test_writes_go_out_together_shortly_after_and_at_close(redis_handle):
    """Observations wait in the process for one round trip: the thread sends them within
    ``flush_seconds``; close sends the rest; a read in this process sees its own at once."""
    meters = Meters(redis_handle.client, flush_seconds=0.05)
    for _ in range(5):
        meters.inc("c", {"k": "v"})
    assert meters.counters("c") == {(("k", "v"),): 5.0}  # a read flushes this process's first
    meters.inc("c", {"k": "v"})
    deadline = time.monotonic() + 2
    while redis_handle.client.hget("p2c:metric:counter:c", '[["k","v"]]') != b"6" and time.monotonic() < deadline:
        time.sleep(0.01)  # the flusher thread, in real time
    assert redis_handle.client.hget("p2c:metric:counter:c", '[["k","v"]]') == b"6"
    slow = Meters(redis_handle.client, flush_seconds=60)
    slow.inc("c", {"k": "v"})
    assert redis_handle.client.hget("p2c:metric:counter:c", '[["k","v"]]') == b"6"  # still waiting
    slow.close()
    assert redis_handle.client.hget("p2c:metric:counter:c", '[["k","v"]]') == b"7"
    slow.inc("c", {"k": "v"})  # after close: at once
    assert redis_handle.client.hget("p2c:metric:counter:c", '[["k","v"]]') == b"8"


class _HeldSends(redis.Redis):
    """A real client whose pipelines sent from the meters' thread wait for ``release``."""

    sending: threading.Event
    release: threading.Event

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction=transaction, shard_hint=shard_hint)
        execute, sending, release = pipe.execute, self.sending, self.release

        def held_execute(raise_on_error: bool = True) -> Any:
            if threading.current_thread().name == FLUSHER_THREAD:
                sending.set()
                release.wait(timeout=10)
            return execute(raise_on_error)

        pipe.execute = held_execute
        return pipe


def test_a_read_waits_for_the_batch_the_thread_is_still_sending(redis_handle):
    """CI once saw an alert check read the window between the thread taking a batch and Redis
    having it: the read found nothing of its own process's three Daraja calls."""
    client = _HeldSends(connection_pool=redis_handle.client.connection_pool)
    client.sending, client.release = threading.Event(), threading.Event()
    meters = Meters(client, flush_seconds=0.01)
    meters.note("daraja", "slow", T0, keep_seconds=600)
    assert client.sending.wait(timeout=5)  # the thread has taken the batch; Redis has nothing yet
    seen: list[object] = []
    reader = threading.Thread(target=lambda: seen.append(meters.recent("daraja", T0)))
    reader.start()
    reader.join(timeout=0.3)
    assert seen == []  # still waiting for the batch in flight
    client.release.set()
    reader.join(timeout=5)
    assert seen == [{"slow": 1}]
    meters.close()


def test_a_child_forked_while_the_thread_sends_can_still_write_and_read(redis_handle):
    """The child inherits the sending lock held by a thread it does not have."""
    client = _HeldSends(connection_pool=redis_handle.client.connection_pool)
    client.sending, client.release = threading.Event(), threading.Event()
    meters = Meters(client, flush_seconds=0.01)
    meters.note("daraja", "ok", T0, keep_seconds=600)
    assert client.sending.wait(timeout=5)
    pid = os.fork()
    if pid == 0:  # the child: its own write and read, then out without running pytest's exit
        meters.inc("forked", {})
        os._exit(0 if meters.counters("forked") == {(): 1.0} else 3)
    client.release.set()
    deadline, status = time.monotonic() + 10, None
    while status is None and time.monotonic() < deadline:
        done, code = os.waitpid(pid, os.WNOHANG)
        status = code if done else None
        time.sleep(0.01)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert status is not None and os.waitstatus_to_exitcode(status) == 0
    meters.close()


def test_writing_never_raises_when_redis_is_gone():
    gone = Meters(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))
    gone.inc("c", {})
    gone.observe("h", {}, 1.0, BOUNDS)
    gone.set_gauge("g", {}, 1)
    gone.note("daraja", "ok", T0, 60)
    gone.close()  # sends, fails quietly
