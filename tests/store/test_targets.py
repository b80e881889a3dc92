"""Markers, cache publishing and bulk status on both store pairs (no Luigi run needed)."""
from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa

from pms_luigi.cache.publish import Cache
from pms_luigi.core import calendar
from pms_luigi.pipeline.targets import State, StepSpec, step_status
from pms_luigi.store import markers as mk


def _spec(upstream=lambda d: []) -> StepSpec:
    return StepSpec("pms.Test", 1, ("book",), upstream)


def _mark(world, family, on, run_id, upstream=None, version=1):
    with world.engine.begin() as conn:
        mk.upsert_marker(conn, family=family, business_date=on, version=version, run_id=run_id,
                         started_at=datetime.now(UTC), rows_written=1,
                         payload_digest="d", upstream=upstream or {}, metadata={"n": 1})


class StatementCounter:
    def __init__(self, engine: sa.Engine):
        self.engine, self.count = engine, 0

    def __enter__(self) -> StatementCounter:
        sa.event.listen(self.engine, "before_cursor_execute", self._hit)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._hit)

    def _hit(self, *args: object) -> None:
        self.count += 1


def test_marker_upsert_is_idempotent_and_keeps_one_row(world) -> None:
    on = date(2026, 11, 26)
    _mark(world, "pms.Test", on, "run-a")
    _mark(world, "pms.Test", on, "run-b")
    with world.engine.connect() as conn:
        found = mk.read_markers(conn, "pms.Test", [on])
        n = conn.execute(sa.text("SELECT count(*) FROM task_markers")).scalar_one()
    assert n == 1
    assert found[on].run_id == "run-b"
    assert found[on].metadata == {"n": 1}


def test_marker_rolls_back_with_the_step_transaction(world) -> None:
    on = date(2026, 11, 26)
    try:
        with world.engine.begin() as conn:
            mk.upsert_marker(conn, family="pms.Test", business_date=on, version=1, run_id="x",
                             started_at=datetime.now(UTC), rows_written=0,
                             payload_digest="d", upstream={}, metadata={})
            raise RuntimeError("crash before commit")
    except RuntimeError:
        pass
    with world.engine.connect() as conn:
        assert mk.read_markers(conn, "pms.Test", [on]) == {}


def test_status_states_version_upstream_and_cache(world) -> None:
    cache = Cache(world.redis, world.namespace, 3600)
    d1, d2 = date(2026, 11, 25), date(2026, 11, 26)
    _mark(world, "pms.Up", d1, "up-1")
    _mark(world, "pms.Test", d1, "t-1", upstream={"pms.Up@2026-11-25": "up-1"})
    _mark(world, "pms.Test", d2, "t-2", upstream={"pms.Up@2026-11-25": "old"})
    spec = StepSpec("pms.Test", 1, ("book",), lambda d: ["pms.Up@2026-11-25"])
    status = step_status(world.engine, cache, spec, [d1, d2, date(2026, 11, 27)], 5)
    assert status[d1].state is State.CACHE_MISSING
    assert status[d2].state is State.STALE and "pms.Up@2026-11-25" in status[d2].reason
    assert status[date(2026, 11, 27)].state is State.MISSING
    cache.publish("pms.Test", d1, {"book": "{}"}, "t-1", "d")
    assert step_status(world.engine, cache, spec, [d1], 5)[d1].state is State.DONE
    bumped = StepSpec("pms.Test", 2, ("book",), spec.upstream_keys)
    assert step_status(world.engine, cache, bumped, [d1], 5)[d1].state is State.STALE


def test_bulk_status_over_1000_dates_is_constant_queries(world) -> None:
    cache = Cache(world.redis, world.namespace, 3600)
    dates = calendar.business_days(date(2022, 1, 3), date(2026, 11, 26))[-1000:]
    assert len(dates) == 1000
    with world.engine.begin() as conn:
        for on in dates[:300]:
            mk.upsert_marker(conn, family="pms.Test", business_date=on, version=1,
                             run_id=f"r{on}", started_at=datetime.now(UTC),
                             rows_written=1, payload_digest="d", upstream={}, metadata={})
    with StatementCounter(world.engine) as counter:
        status = step_status(world.engine, cache, _spec(), dates, 5)
    assert counter.count <= 4  # markers, upstream run_ids, reference date (+ pragma)
    assert sum(s.state is not State.MISSING for s in status.values()) == 300


def test_latest_pointer_moves_forward_only(world) -> None:
    cache = Cache(world.redis, world.namespace, 3600)
    cache.publish("pms.Test", date(2026, 11, 26), {"book": '{"d":"26"}'}, "r26", "x")
    cache.publish("pms.Test", date(2025, 1, 2), {"book": '{"d":"old"}'}, "r02", "y")
    assert cache.get_json("book", "latest") == {"d": "26"}
    assert cache.get_json("book", date(2025, 1, 2)) == {"d": "old"}
    assert world.redis.get(f"{world.namespace}:book:latest_date") == "2026-11-26"
    assert world.redis.ttl(f"{world.namespace}:book:2025-01-02") > 0
    assert world.redis.ttl(f"{world.namespace}:book:latest") == -1
