"""Live state in Redis: the grants that are on right now, their expiry index, counters, locks.

Redis is a fast mirror, never the only copy: everything here can be rebuilt from the
ledger (:meth:`LiveStore.rebuild`). Every Redis key and lock the product uses goes
through :class:`LiveStore`, so what lives in Redis is listed in one place.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import redis

log = logging.getLogger(__name__)

PREFIX = "p2c:"
EXPIRY_INDEX = PREFIX + "expiry"
# KEYS[1] window; ARGV: oldest score kept, now, limit, member, key ttl (see LiveStore.take)
_TAKE_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

#: Every change to the expiry index is announced here (the new due time as epoch seconds,
#: or "-" when a grant left the index), so the worker's timer re-arms in any process.
EXPIRY_CHANNEL = PREFIX + "expiry-changed"
#: Set by :meth:`LiveStore.rebuild`; gone means Redis lost its data (flushed, restarted
#: without persistence) and the mirror must be rebuilt from the ledger.
MIRROR_KEY = PREFIX + "mirror"


def _ts(moment: datetime) -> float:
    return moment.astimezone(UTC).timestamp()


@dataclass(frozen=True)
class LiveGrant:
    """The Redis mirror of one active :class:`~portal.ledger.models.Grant`."""

    grant_id: int
    router: str
    mac: str
    expires_at: datetime


# KEYS: the locks to take; ARGV: a token, their ttl. All of them or none (see LiveStore.try_locks)
_TAKE_ALL_SCRIPT = """
for i, key in ipairs(KEYS) do
  if not redis.call('SET', key, ARGV[1], 'NX', 'EX', ARGV[2]) then
    for j = 1, i - 1 do redis.call('DEL', KEYS[j]) end
    return 0
  end
end
return 1
"""

# KEYS: the locks wanted; ARGV[1]: this holder's token, ARGV[2]: seconds to live. Takes the
# free ones; answers 1 or 0 per key (one command for a reboot's thousands, not one each).
_TAKE_FREE_SCRIPT = """
local taken = {}
for i, key in ipairs(KEYS) do
  taken[i] = redis.call('SET', key, ARGV[1], 'NX', 'EX', ARGV[2]) and 1 or 0
end
return taken
"""

# KEYS: the locks to free; ARGV[1]: the token they were taken with (see LiveStore.take_locks)
_RELEASE_SCRIPT = """
local freed = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key); freed = freed + 1 end
end
return freed
"""

# KEYS: the n sessions' hashes, their n devices' keys, the expiry index; ARGV: router, mac, end
# and grant id of each session in turn, then the expiry channel and its message (see
# LiveStore.put_sessions). Devices and index members go a thousand at a time (Lua's stack).
_PUT_SESSIONS_SCRIPT = """
local n = (#KEYS - 1) / 2
local index = KEYS[#KEYS]
local devices, members = {}, {}
local function flush()
  redis.call('MSET', unpack(devices))
  redis.call('ZADD', index, unpack(members))
  devices, members = {}, {}
end
for i = 1, n do
  local at = 4 * i - 3
  redis.call('HSET', KEYS[i], 'router', ARGV[at], 'mac', ARGV[at + 1], 'expires_at', ARGV[at + 2])
  devices[#devices + 1] = KEYS[n + i]
  devices[#devices + 1] = ARGV[at + 3]
  members[#members + 1] = ARGV[at + 2]
  members[#members + 1] = ARGV[at + 3]
  if #members == 2000 then flush() end
end
if #members > 0 then flush() end
redis.call('PUBLISH', ARGV[#ARGV - 1], ARGV[#ARGV])
return n
"""


class LiveStore:
    """Live grants, expiry index, sliding-window counters, short locks, the leader lock."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._release = client.register_script(_RELEASE_SCRIPT)
        self._take_all = client.register_script(_TAKE_ALL_SCRIPT)
        self._take_free = client.register_script(_TAKE_FREE_SCRIPT)

    # -- locks ---------------------------------------------------------------------
    @contextmanager
    def try_locks(self, names: Iterable[str], ttl_seconds: int = 60) -> Iterator[bool]:
        """Take every named lock without waiting, or none of them (one round trip).

        Yields True when all were taken (they are released on exit, a second round trip),
        False when another process holds any of them. ``ttl_seconds`` frees a lock whose
        holder died; a lock that expired meanwhile and was taken by another is left alone.
        """
        keys = [f"{PREFIX}lock:{name}" for name in dict.fromkeys(names)]
        token = secrets.token_hex(16)
        if not self._take_all(keys=keys, args=[token, ttl_seconds]):
            yield False
            return
        try:
            yield True
        finally:
            self._release(keys=keys, args=[token])

    @contextmanager
    def take_locks(self, names: Iterable[str], ttl_seconds: int = 60) -> Iterator[set[str]]:
        """Take whichever of the named locks are free, without waiting, in one round trip.

        Yields the names taken (released on exit): for a batch whose items can each wait
        their turn. The same locks as :meth:`try_locks`, so the two exclude each other.
        """
        names = list(dict.fromkeys(names))
        token = secrets.token_hex(16)
        keys = [f"{PREFIX}lock:{name}" for name in names]
        answers = self._take_free(keys=keys, args=[token, ttl_seconds]) if keys else []
        taken = {name for name, ok in zip(names, answers, strict=True) if ok}
        try:
            yield taken
        finally:
            if taken:
                self._release(keys=[f"{PREFIX}lock:{name}" for name in taken], args=[token])

    # -- sessions ------------------------------------------------------------------
    def put_session(self, grant_id: int, router: str, mac: str, expires_at: datetime) -> None:
        """Record a live grant and index it by device and by expiry time."""
        self.put_sessions([(grant_id, router, mac, expires_at)])

    def put_sessions(self, sessions: Iterable[tuple[int, str, str, datetime]]) -> None:
        """:meth:`put_session` for many ``(grant id, router, mac, expires at)`` in one round
        trip (a router's reboot puts thousands back); the timer hears the earliest end once."""
        sessions = list(sessions)
        if not sessions:
            return
        latest = {grant_id: (router, mac, _ts(at)) for grant_id, router, mac, at in sessions}  # a repeat: the last
        # One script call writes the hashes, the devices' keys and the index, and announces
        # the earliest end: one command, where a MULTI/EXEC pipeline of five cost a callback's
        # single session about 50 us of CPU more. EVAL, not a registered script: EVALSHA with
        # redis-py's fallback is no cheaper for a script this short.
        keys = [f"{PREFIX}session:{grant_id}" for grant_id in latest]
        keys += [f"{PREFIX}device:{router}:{mac}" for router, mac, _end in latest.values()]
        keys.append(EXPIRY_INDEX)
        fields = [str(field) for grant_id, row in latest.items() for field in (*row, grant_id)]
        earliest = repr(min(end for _router, _mac, end in latest.values()))
        self.redis.eval(_PUT_SESSIONS_SCRIPT, len(keys), *keys, *fields, EXPIRY_CHANNEL, earliest)

    def drop_session(self, grant_id: int, router: str, mac: str) -> None:
        """Forget one session. Nothing is announced: a removal can only make the next due
        time later, and the timer armed on it wakes then, finds nothing due and re-arms (an
        announcement woke it at once for that: a quarter of its passes in the soak)."""
        pipe = self.redis.pipeline()
        pipe.delete(f"{PREFIX}session:{grant_id}")
        pipe.zrem(EXPIRY_INDEX, str(grant_id))
        pipe.execute()
        # Only unlink the device if it still points at this grant (a newer one may own it).
        key = f"{PREFIX}device:{router}:{mac}"
        if self.redis.get(key) == str(grant_id).encode():
            self.redis.delete(key)

    def drop_sessions(self, sessions: Iterable[tuple[int, str, str]]) -> None:
        """:meth:`drop_session` for many ``(grant id, router, mac)`` in two round trips
        (nothing announced either)."""
        sessions = list(sessions)
        if not sessions:
            return
        pipe = self.redis.pipeline(transaction=False)
        for grant_id, router, mac in sessions:
            pipe.delete(f"{PREFIX}session:{grant_id}")
            pipe.zrem(EXPIRY_INDEX, str(grant_id))
            pipe.get(f"{PREFIX}device:{router}:{mac}")
        owners = pipe.execute()[2::3]
        stale = [
            f"{PREFIX}device:{router}:{mac}"
            for (grant_id, router, mac), owner in zip(sessions, owners, strict=False)
            if owner == str(grant_id).encode()
        ]
        if stale:
            self.redis.delete(*stale)

    def session_for_device(self, router: str, mac: str) -> LiveGrant | None:
        raw_id = cast("bytes | None", self.redis.get(f"{PREFIX}device:{router}:{mac}"))
        if raw_id is None:
            return None
        data = cast("dict[bytes, bytes]", self.redis.hgetall(f"{PREFIX}session:{int(raw_id)}"))
        if not data:
            return None
        return LiveGrant(
            grant_id=int(raw_id),
            router=data[b"router"].decode(),
            mac=data[b"mac"].decode(),
            expires_at=datetime.fromtimestamp(float(data[b"expires_at"]), UTC),
        )

    def due_grant_ids(self, now: datetime, limit: int = 500) -> list[int]:
        """Grant ids whose expiry time has come, oldest first."""
        raw = cast("list[bytes]", self.redis.zrangebyscore(EXPIRY_INDEX, "-inf", _ts(now), start=0, num=limit))
        return [int(item) for item in raw]

    def next_due(self) -> datetime | None:
        """The earliest due time in the expiry index (None when it is empty)."""
        head = cast("list[tuple[bytes, float]]", self.redis.zrange(EXPIRY_INDEX, 0, 0, withscores=True))
        return datetime.fromtimestamp(head[0][1], UTC) if head else None

    def watch_expiry_changes(self, on_change: Callable[[float | None], None]) -> Callable[[], None]:
        """Call ``on_change(new due epoch or None)`` on every change of the expiry index.

        Runs a subscriber thread (Redis pub/sub); after a lost connection it subscribes
        again and calls ``on_change(None)`` because changes may have been missed. Returns a
        function that stops the thread.
        """
        stopped = threading.Event()
        thread = threading.Thread(target=self._listen, args=(on_change, stopped), name="p2c-expiry-watch", daemon=True)
        thread.start()

        def stop() -> None:
            stopped.set()
            thread.join(timeout=5)

        return stop

    def _listen(self, on_change: Callable[[float | None], None], stopped: threading.Event) -> None:
        while not stopped.is_set():
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(EXPIRY_CHANNEL)
                on_change(None)  # anything before the subscription took effect was not heard
                while not stopped.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None:
                        data = message.get("data", b"-")
                        text = data.decode() if isinstance(data, bytes) else str(data)
                        on_change(None if text == "-" else float(text))
            except (redis.RedisError, OSError, ValueError) as err:
                log.warning("expiry change feed lost (%s); subscribing again", err)
                on_change(None)
                stopped.wait(1.0)
            finally:
                try:
                    pubsub.close()
                except (redis.RedisError, OSError):
                    pass

    def session_count(self) -> int:
        return int(cast(int, self.redis.zcard(EXPIRY_INDEX)))

    def rebuild(self, read_ledger: Callable[[], Iterable[LiveGrant]]) -> int:
        """Replace the live mirror with the sessions ``read_ledger`` returns. Returns the count.

        The mirror is cleared *before* the ledger is read: a grant committed after the read
        publishes itself after the clear, so none is lost between the two (read first, and
        a grant landing in between would be wiped with the old mirror).
        """
        keys = list(self.redis.scan_iter(f"{PREFIX}session:*")) + list(self.redis.scan_iter(f"{PREFIX}device:*"))
        pipe = self.redis.pipeline()
        if keys:
            pipe.delete(*keys)
        pipe.delete(EXPIRY_INDEX)
        pipe.execute()
        sessions = read_ledger()
        count = 0
        pipe = self.redis.pipeline(transaction=False)
        for session in sessions:
            key = f"{PREFIX}session:{session.grant_id}"
            stamp = _ts(session.expires_at)
            pipe.hset(key, mapping={"router": session.router, "mac": session.mac, "expires_at": str(stamp)})
            pipe.set(f"{PREFIX}device:{session.router}:{session.mac}", session.grant_id)
            pipe.zadd(EXPIRY_INDEX, {str(session.grant_id): stamp})
            count += 1
            if count % 1000 == 0:
                pipe.execute()
        pipe.set(MIRROR_KEY, "1")
        pipe.publish(EXPIRY_CHANNEL, "-")
        pipe.execute()
        return count

    def mirror_lost(self) -> bool:
        """True when Redis no longer holds the mirror :meth:`rebuild` made (data lost)."""
        return not self.redis.exists(MIRROR_KEY)

    # -- counters ------------------------------------------------------------------
    def hit(self, key: str, now: datetime, window_seconds: int) -> int:
        """Add one event to a sliding window and return how many fall inside it.

        Hand-written rather than a rate-limit library because the window must follow
        the injected clock (tests move time; they never sleep).
        """
        full_key = f"{PREFIX}rate:{key}"
        stamp = _ts(now)
        pipe = self.redis.pipeline()
        pipe.zremrangebyscore(full_key, "-inf", stamp - window_seconds)
        pipe.zadd(full_key, {f"{stamp}:{secrets.token_hex(4)}": stamp})
        pipe.zcard(full_key)
        pipe.expire(full_key, max(window_seconds, 1) + 60)
        return int(pipe.execute()[2])

    def take(self, key: str, now: datetime, window_seconds: int, limit: int) -> bool:
        """Add one event to a sliding window only if it holds fewer than ``limit``; True if added.

        One Lua script, so concurrent callers can never take more than ``limit`` between them,
        and refused tries add nothing (a flood does not grow the key or stretch the lockout).
        """
        stamp = _ts(now)
        taken = self.redis.eval(
            _TAKE_SCRIPT,
            1,
            f"{PREFIX}rate:{key}",
            str(stamp - window_seconds),
            str(stamp),
            str(limit),
            f"{stamp}:{secrets.token_hex(4)}",
            str(max(window_seconds, 1) + 60),
        )
        return bool(taken)

    def count(self, key: str, now: datetime, window_seconds: int) -> int:
        """How many events of ``key`` fall in the window ending ``now`` (no new hit)."""
        full_key = f"{PREFIX}rate:{key}"
        stamp = _ts(now)
        return int(cast(int, self.redis.zcount(full_key, stamp - window_seconds, "+inf")))

    def last_hit_age(self, key: str, now: datetime) -> float | None:
        """Seconds since the newest event of ``key``, or None when there is none."""
        newest = cast("list[tuple[bytes, float]]", self.redis.zrange(f"{PREFIX}rate:{key}", -1, -1, withscores=True))
        if not newest:
            return None
        return _ts(now) - float(newest[0][1])

    def mark(self, key: str, now: datetime, keep_seconds: int) -> None:
        """Remember ``now`` as the last time of ``key`` (one SET: when only the newest
        event counts, a sliding window is four commands in a transaction for nothing)."""
        self.redis.set(f"{PREFIX}mark:{key}", repr(_ts(now)), ex=max(keep_seconds, 1))

    def mark_age(self, key: str, now: datetime) -> float | None:
        """Seconds since :meth:`mark` last noted ``key``, or None (never, or forgotten)."""
        stamp = cast("bytes | None", self.redis.get(f"{PREFIX}mark:{key}"))
        return None if stamp is None else _ts(now) - float(stamp)

    # -- leader lock ---------------------------------------------------------------
    def acquire_leader(self, owner: str, ttl_seconds: int) -> bool:
        """Take or keep the worker leader lock; True when ``owner`` holds it."""
        key = f"{PREFIX}worker-leader"
        if self.redis.set(key, owner, nx=True, ex=ttl_seconds):
            return True
        if self.redis.get(key) == owner.encode():
            self.redis.expire(key, ttl_seconds)
            return True
        return False

    def release_leader(self, owner: str) -> None:
        key = f"{PREFIX}worker-leader"
        if self.redis.get(key) == owner.encode():
            self.redis.delete(key)

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except (redis.RedisError, OSError):
            return False
