"""The Daraja access token in Redis, shared by every process on one Daraja account.

Daraja invalidates a token when a new one is minted for the same app, so two web processes
and a worker each minting their own would keep invalidating each other. This store (a
:class:`portal.mpesa.client.TokenStore`) holds the one current token and a lock that lets
one process mint while the others wait and then use it.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager
from datetime import datetime
from typing import cast

import redis

PREFIX = "p2c:daraja-token:"
KEEP_SECONDS = 2 * 3600  # longer than any Daraja token lives (3599 s); validity is valid_until


class RedisTokenStore:
    def __init__(self, client: redis.Redis, base_url: str, consumer_key: str, lock_seconds: float = 30.0) -> None:
        account = hashlib.sha256(f"{base_url}\n{consumer_key}".encode()).hexdigest()[:16]
        self._redis = client
        self._key = PREFIX + account
        self._lock_seconds = lock_seconds

    def load(self) -> tuple[str, datetime] | None:
        try:
            data = cast("dict[bytes, bytes]", self._redis.hgetall(self._key))
        except redis.RedisError:
            return None  # Redis down: each process mints for itself, as before
        if b"token" not in data or b"valid_until" not in data:
            return None
        try:
            return data[b"token"].decode(), datetime.fromisoformat(data[b"valid_until"].decode())
        except ValueError:
            return None

    def save(self, token: str, valid_until: datetime) -> None:
        try:
            pipe = self._redis.pipeline()
            pipe.hset(self._key, mapping={"token": token, "valid_until": valid_until.isoformat()})
            pipe.expire(self._key, KEEP_SECONDS)  # relative: the product's clock may not be Redis's
            pipe.execute()
        except redis.RedisError:
            pass  # the token still works in this process

    def mint_lock(self) -> AbstractContextManager[object]:
        return _Lock(
            self._redis.lock(self._key + ":mint", timeout=self._lock_seconds, blocking_timeout=self._lock_seconds)
        )


class _Lock(AbstractContextManager[object]):
    """The cross-process lock; without Redis, minting goes on unlocked rather than failing."""

    def __init__(self, lock: redis.lock.Lock) -> None:
        self._lock = lock
        self._held = False

    def __enter__(self) -> object:
        try:
            self._held = bool(self._lock.acquire())
        except redis.RedisError:
            self._held = False
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._held:
            try:
                self._lock.release()
            except redis.RedisError:
                pass
