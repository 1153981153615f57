"""The live store against a real (embedded) redis-server."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from portal.live import LiveGrant, LiveStore, open_redis

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_embedded_redis_is_a_real_server_under_the_data_dir(tmp_path):
    handle = open_redis("", tmp_path)
    try:
        info = handle.client.info("server")
        assert info["redis_version"]
        assert (tmp_path / "redis").is_dir()
        assert handle.description.startswith("embedded")
    finally:
        handle.close()


def test_sessions_are_indexed_by_device_and_expiry(redis_handle):
    live = LiveStore(redis_handle.client)
    live.put_session(1, "main", "AA:00:00:00:00:01", NOW + timedelta(minutes=5))
    live.put_session(2, "main", "AA:00:00:00:00:02", NOW + timedelta(minutes=1))
    assert live.session_for_device("main", "AA:00:00:00:00:01").grant_id == 1
    assert live.session_for_device("other", "AA:00:00:00:00:01") is None
    assert live.due_grant_ids(NOW) == []
    assert live.due_grant_ids(NOW + timedelta(minutes=2)) == [2]
    assert live.due_grant_ids(NOW + timedelta(minutes=6)) == [2, 1]
    live.drop_session(2, "main", "AA:00:00:00:00:02")
    assert live.session_for_device("main", "AA:00:00:00:00:02") is None
    assert live.session_count() == 1


def test_many_sessions_go_in_together_and_a_repeated_grant_keeps_its_last_values(redis_handle):
    live = LiveStore(redis_handle.client)
    sessions = [
        (n, "main", f"AA:00:00:00:{n // 256:02X}:{n % 256:02X}", NOW + timedelta(seconds=n)) for n in range(1, 3001)
    ]
    live.put_sessions([*sessions, (7, "north", "AA:00:00:00:99:07", NOW + timedelta(hours=1))])

    assert live.session_count() == 3000
    assert live.session_for_device("main", "AA:00:00:00:0B:B8") == LiveGrant(
        3000, "main", "AA:00:00:00:0B:B8", NOW + timedelta(seconds=3000)
    )
    assert live.session_for_device("north", "AA:00:00:00:99:07") == LiveGrant(
        7, "north", "AA:00:00:00:99:07", NOW + timedelta(hours=1)
    )
    assert live.due_grant_ids(NOW + timedelta(seconds=8)) == [1, 2, 3, 4, 5, 6, 8], "7 ends an hour on"


def test_dropping_an_old_grant_keeps_the_device_on_its_newer_grant(redis_handle):
    live = LiveStore(redis_handle.client)
    live.put_session(1, "main", "AA:00:00:00:00:01", NOW + timedelta(minutes=5))
    live.put_session(2, "main", "AA:00:00:00:00:01", NOW + timedelta(minutes=65))
    live.drop_session(1, "main", "AA:00:00:00:00:01")
    assert live.session_for_device("main", "AA:00:00:00:00:01").grant_id == 2


def test_rebuild_replaces_the_mirror(redis_handle):
    live = LiveStore(redis_handle.client)
    live.put_session(9, "main", "AA:00:00:00:00:09", NOW)
    count = live.rebuild(lambda: [LiveGrant(1, "main", "AA:00:00:00:00:01", NOW + timedelta(hours=1))])
    assert count == 1
    assert live.session_for_device("main", "AA:00:00:00:00:09") is None
    assert live.due_grant_ids(NOW + timedelta(hours=2)) == [1]


def test_rebuild_keeps_a_grant_published_just_after_the_ledger_was_read(redis_handle):
    """A callback commits its grant right after the rebuild read the ledger and publishes
    it: the clear must already be behind it, or the grant is wiped with the old mirror."""
    live = LiveStore(redis_handle.client)

    def read_ledger_then_a_callback_lands() -> list[LiveGrant]:
        rows = [LiveGrant(1, "main", "AA:00:00:00:00:01", NOW + timedelta(hours=1))]
        live.put_session(2, "main", "AA:00:00:00:00:02", NOW + timedelta(minutes=30))
        return rows

    assert live.rebuild(read_ledger_then_a_callback_lands) == 1
    assert live.due_grant_ids(NOW + timedelta(hours=2)) == [2, 1]
    assert live.session_for_device("main", "AA:00:00:00:00:02").grant_id == 2


def test_sliding_window_follows_the_injected_clock(redis_handle):
    live = LiveStore(redis_handle.client)
    assert [live.hit("phone:1", NOW + timedelta(seconds=s), 60) for s in (0, 10, 20)] == [1, 2, 3]
    assert live.count("phone:1", NOW + timedelta(seconds=65), 60) == 2
    assert live.last_hit_age("phone:1", NOW + timedelta(seconds=30)) == 10
    assert live.last_hit_age("phone:none", NOW) is None


def test_a_mark_keeps_the_newest_time_on_the_injected_clock(redis_handle):
    live = LiveStore(redis_handle.client)
    assert live.mark_age("daraja:ok", NOW) is None
    live.mark("daraja:ok", NOW, 300)
    live.mark("daraja:ok", NOW + timedelta(seconds=12.5), 300)
    assert live.mark_age("daraja:ok", NOW + timedelta(seconds=20)) == 7.5
    assert 0 < redis_handle.client.ttl("p2c:mark:daraja:ok") <= 300


def test_leader_lock_has_one_owner(redis_handle):
    live = LiveStore(redis_handle.client)
    assert live.acquire_leader("a", 30)
    assert live.acquire_leader("a", 30)  # renewing
    assert not live.acquire_leader("b", 30)
    live.release_leader("b")  # not the owner: no effect
    assert not live.acquire_leader("b", 30)
    live.release_leader("a")
    assert live.acquire_leader("b", 30)


def test_take_locks_takes_the_free_ones_and_excludes_try_locks(redis_handle):
    live = LiveStore(redis_handle.client)
    with live.try_locks(["device:main:A"]) as held:
        assert held
        with live.take_locks(["device:main:A", "device:main:B", "device:main:B"]) as taken:
            assert taken == {"device:main:B"}, "A is held elsewhere; B once"
            with live.try_locks(["device:main:B"]) as again:
                assert not again
        # released on exit: B is free again, A is still the other holder's
        with live.take_locks(["device:main:A", "device:main:B"]) as taken:
            assert taken == {"device:main:B"}
    with live.take_locks(["device:main:A"]) as taken:
        assert taken == {"device:main:A"}


def test_try_locks_takes_all_or_none_and_frees_only_its_own(redis_handle):
    client, live = redis_handle.client, LiveStore(redis_handle.client)
    with live.take_locks(["pay:B"]):  # held elsewhere
        with live.try_locks(["pay:A", "pay:B", "pay:C"]) as held:
            assert not held
        assert client.get("p2c:lock:pay:A") is None, "A was given back when B was busy"
    other = contextlib.ExitStack()
    with live.try_locks(["pay:A", "pay:B"], ttl_seconds=30) as held:
        assert held and client.ttl("p2c:lock:pay:A") in (29, 30)
        client.delete("p2c:lock:pay:A")  # expired while held, and taken by another
        assert other.enter_context(live.take_locks(["pay:A"])) == {"pay:A"}
    assert client.get("p2c:lock:pay:B") is None
    assert client.get("p2c:lock:pay:A") is not None, "the other holder's lock was left alone"
    other.close()
    assert client.get("p2c:lock:pay:A") is None


def test_the_expiry_feed_announces_added_ends_and_rebuilds_but_not_removals(redis_handle, wait_until):
    """A removal can only make the next due time later: it wakes nobody (the timer armed on
    it wakes then). An added end, and a rebuilt mirror (anything may have changed), do."""
    live = LiveStore(redis_handle.client)
    heard: list[float | None] = []
    stop = live.watch_expiry_changes(heard.append)
    try:
        assert wait_until(lambda: heard == [None], "the feed subscribed")
        live.put_session(1, "main", "AA:00:00:00:00:01", NOW + timedelta(minutes=5))
        live.put_session(2, "main", "AA:00:00:00:00:02", NOW + timedelta(minutes=9))
        live.drop_session(1, "main", "AA:00:00:00:00:01")
        live.drop_sessions([(2, "main", "AA:00:00:00:00:02")])
        live.put_session(3, "main", "AA:00:00:00:00:03", NOW + timedelta(minutes=7))  # heard after the drops
        assert wait_until(lambda: len(heard) == 4, "the three additions heard")
        assert heard[1:] == [(NOW + timedelta(minutes=m)).timestamp() for m in (5, 9, 7)]
        live.rebuild(list)
        assert wait_until(lambda: len(heard) == 5, "the rebuild heard") and heard[4] is None
    finally:
        stop()
