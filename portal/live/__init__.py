"""Live state in Redis: a fast mirror of what is on right now, rebuilt from the ledger.

``server`` opens Redis (a URL, or a private embedded server); ``store`` is everything the
product keeps there.
"""

from portal.live.server import LiveStoreUnavailable, RedisHandle, open_redis
from portal.live.store import LiveGrant, LiveStore

__all__ = ["LiveGrant", "LiveStore", "LiveStoreUnavailable", "RedisHandle", "open_redis"]
