"""The key scheme and atomic publishing of payloads and cache markers.

Key scheme (``ns`` = configured namespace, default ``pms``):

    {ns}:{kind}:{YYYY-MM-DD}        JSON payload of one step for one date (TTL)
    {ns}:{kind}:latest              JSON payload of the newest date published (no TTL)
    {ns}:{kind}:latest_date         that date, ISO
    {ns}:marker:{family}:{date}     hash {run_id, digest, published_at} (TTL)

``kind`` is what dashboards read: book, risk, attribution, proposals, morning_pack. Every
payload value is an envelope ``{"schema_version", "kind", "business_date", "run_id", "fund",
"data"}`` (:func:`pms_luigi.cache.payloads.envelope`; documented in ``docs/payloads.md``,
one JSON Schema per kind in ``docs/schemas``); the marker hashes are plain hashes.
A publish writes every payload key and the marker in one MULTI/EXEC, after the DB commit.
"latest" moves forward only: the transaction WATCHes ``latest_date`` and leaves it alone
when the date published is older, so a backfill never replaces today's book.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import redis

from pms_luigi.faults import fault_point

log = logging.getLogger("pms_luigi")


@dataclass(frozen=True)
class Cache:
    client: redis.Redis
    namespace: str
    ttl_seconds: int

    def payload_key(self, kind: str, on: date | str) -> str:
        return f"{self.namespace}:{kind}:{on if isinstance(on, str) else on.isoformat()}"

    def marker_key(self, family: str, on: date) -> str:
        return f"{self.namespace}:marker:{family}:{on.isoformat()}"

    def publish(self, family: str, on: date, payloads: dict[str, str], run_id: str,
                digest: str) -> None:
        """Write payloads + marker atomically; move ``latest`` pointers only forward."""
        latest_keys = [self.payload_key(kind, "latest_date") for kind in payloads]
        marker = {"run_id": run_id, "digest": digest,
                  "published_at": datetime.now(UTC).isoformat()}

        def _tx(pipe: redis.client.Pipeline) -> None:
            current = pipe.mget(latest_keys)
            pipe.multi()
            for (kind, text), cur in zip(payloads.items(), current, strict=True):
                pipe.set(self.payload_key(kind, on), text, ex=self.ttl_seconds)
                if cur is None or cur <= on.isoformat():
                    pipe.set(self.payload_key(kind, "latest"), text)
                    pipe.set(self.payload_key(kind, "latest_date"), on.isoformat())
            pipe.hset(self.marker_key(family, on), mapping=marker)
            pipe.expire(self.marker_key(family, on), self.ttl_seconds)
            # Commands are queued, EXEC not sent: a crash here must leave Redis untouched.
            fault_point("mid_publish", family)

        self.client.transaction(_tx, *latest_keys)

    def published_run_ids(self, family: str, kinds: Iterable[str],
                          dates: list[date]) -> dict[date, str | None]:
        """run_id of the cached marker per date, or None when the marker or a payload is gone.

        One pipeline for any number of dates.
        """
        kinds = list(kinds)
        pipe = self.client.pipeline(transaction=False)
        for on in dates:
            pipe.hget(self.marker_key(family, on), "run_id")
            pipe.exists(*[self.payload_key(kind, on) for kind in kinds])
        try:
            replies = pipe.execute()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            # Redis unreachable: the cache output does not exist as far as any reader can
            # tell. Reporting "not published" (rather than raising inside Luigi's complete())
            # turns a Redis outage into CACHE_MISSING → the step's publish fails → exit 5,
            # instead of a scheduling error with no hint that only the cache is down.
            log.warning("Redis unreachable while checking %s cache markers: %s",
                        family, type(exc).__name__)
            return dict.fromkeys(dates)
        out: dict[date, str | None] = {}
        for i, on in enumerate(dates):
            run_id, n_payloads = replies[2 * i], replies[2 * i + 1]
            out[on] = run_id if n_payloads == len(kinds) else None
        return out

    def get_json(self, kind: str, on: date | str) -> object | None:
        """The parsed value of ``{ns}:{kind}:{on}`` (``on``: a date or "latest"): the whole
        envelope, the step's payload under ``["data"]``; None when the key is absent."""
        text = self.client.get(self.payload_key(kind, on))
        return None if text is None else json.loads(text)

    def delete_dates(self, family: str, kinds: Iterable[str], dates: list[date]) -> None:
        keys = [self.marker_key(family, on) for on in dates]
        keys += [self.payload_key(kind, on) for kind in kinds for on in dates]
        if keys:
            self.client.delete(*keys)
