"""End to end on both store pairs: the demo fund loaded, EndOfDay over its history, then
reruns, cache loss, invalidation, backfill of an old date, refused dates, missing data.

One world per backend for the module (a copy of the session's 40-day demo fund, see
``conftest.DemoWorlds``) and every test leaves it complete again, so the tests read as an
operator's day.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from pms_luigi import demo
from pms_luigi.cli.pack import pack_folder
from pms_luigi.core import calendar
from pms_luigi.core.errors import NotBusinessDay
from pms_luigi.ops import backfill as backfills
from pms_luigi.ops import invalidate as invalidation
from pms_luigi.ops import runner
from pms_luigi.pipeline import graph
from pms_luigi.store import markers as mk
from pms_luigi.store import schema as s
from pms_luigi.tasks import EndOfDay
from tests.conftest import BACKENDS, FUND_11, DemoFund, DemoWorlds, World

END = FUND_11.end
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=BACKENDS)
def built(request: pytest.FixtureRequest, demo_worlds: DemoWorlds,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, demo.DemoData]]:
    """The shared demo fund with its last close built here: every EOD date complete."""
    with demo_worlds.copy(FUND_11, request.param, tmp_path_factory.mktemp("pipeline")) as built:
        assert backfills.backfill(built[1].start, END, chunk=50) == runner.ExitCode.OK
        yield built


def _counts(w: World, on: date) -> dict[str, int]:
    with w.engine.connect() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)
                                     .where(t.c.business_date == on)).scalar_one()
                for t in (s.position_marks, s.book_snapshots, s.risk_snapshots, s.attribution)}


def _run_ids(w: World, families: list[str], on: date) -> dict[str, str]:
    with w.engine.connect() as conn:
        return {f: mk.read_markers(conn, f, [on])[on].run_id for f in families}


def _n_runs(w: World, status: str | None = None) -> int:
    stmt = sa.select(sa.func.count()).select_from(s.task_runs)
    if status:
        stmt = stmt.where(s.task_runs.c.status == status)
    with w.engine.connect() as conn:
        return conn.execute(stmt).scalar_one()


EOD = ["pms.MarkToMarket", "pms.PerformanceAttribution"]


def test_history_is_complete_and_a_second_run_does_nothing(built) -> None:
    w, data = built
    days = calendar.business_days(data.start, END)
    assert backfills.missing(EOD, days) == {f: [] for f in EOD}
    assert _counts(w, END)["position_marks"] > 10
    before = _n_runs(w)
    assert runner.run_kind("eod", END) == runner.ExitCode.OK
    assert _n_runs(w) == before  # nothing ran, not even a re-publish


def test_flushed_cache_is_republished_from_the_db_without_recompute(built) -> None:
    w, _ = built
    runs, counts = _run_ids(w, EOD, END), _counts(w, END)
    book = w.redis.get(f"{w.namespace}:book:{END}")
    w.redis.delete(*w.keys())
    assert runner.run_kind("eod", END) == runner.ExitCode.OK
    assert _run_ids(w, EOD, END) == runs
    assert _counts(w, END) == counts
    assert w.redis.get(f"{w.namespace}:book:{END}") == book
    assert w.redis.hget(f"{w.namespace}:marker:pms.MarkToMarket:{END}", "run_id") == \
        runs["pms.MarkToMarket"]
    assert _n_runs(w, "REPUBLISHED") >= 2


def test_invalidated_step_replaces_its_rows_without_duplicates(built) -> None:
    w, _ = built
    runs, counts = _run_ids(w, EOD, END), _counts(w, END)
    with w.engine.connect() as conn:
        marks = conn.execute(sa.select(s.position_marks.c.pnl_brl).where(
            s.position_marks.c.business_date == END).order_by(
            s.position_marks.c.instrument_id, s.position_marks.c.strategy_id)).scalars().all()
    hit = invalidation.invalidate("pms.MarkToMarket", END, downstream=True)
    assert set(hit) == {("pms.MarkToMarket", END), ("pms.PerformanceAttribution", END)}
    assert runner.run_kind("eod", END) == runner.ExitCode.OK
    new = _run_ids(w, EOD, END)
    assert all(new[f] != runs[f] for f in EOD)
    assert _counts(w, END) == counts
    with w.engine.connect() as conn:
        again = conn.execute(sa.select(s.position_marks.c.pnl_brl).where(
            s.position_marks.c.business_date == END).order_by(
            s.position_marks.c.instrument_id, s.position_marks.c.strategy_id)).scalars().all()
    assert again == marks  # same inputs, same numbers


def test_upstream_rerun_makes_consumers_stale(built) -> None:
    _w, _ = built
    prev = calendar.previous_business_day(END)
    invalidation.invalidate("pms.MarkToMarket", prev, downstream=False)
    assert runner.build([graph.FAMILIES["pms.MarkToMarket"](date=prev)]) == runner.ExitCode.OK
    status = graph.FAMILIES["pms.MarkToMarket"].statuses([END])[END]
    assert status.state.value == "stale" and f"pms.MarkToMarket@{prev}" in status.reason
    assert runner.run_kind("eod", END) == runner.ExitCode.OK  # MTM(END) and its attribution
    assert backfills.missing(EOD, [prev, END]) == {"pms.MarkToMarket": [],
                                               "pms.PerformanceAttribution": [prev]}
    assert backfills.backfill(prev, END) == runner.ExitCode.OK
    assert backfills.missing(EOD, [prev, END]) == {f: [] for f in EOD}


def test_backfilled_old_date_never_moves_latest_nor_floods_redis(built) -> None:
    w, data = built
    old = calendar.add_business_days(data.start, 3)
    assert w.redis.get(f"{w.namespace}:book:latest_date") == END.isoformat()
    hit = invalidation.invalidate("pms.MarkToMarket", old, downstream=True)
    assert len(hit) > 40  # every later MTM chained on it, and their attributions
    assert backfills.backfill(data.start, END, chunk=50) == runner.ExitCode.OK
    assert w.redis.get(f"{w.namespace}:book:latest_date") == END.isoformat()
    assert w.redis.get(f"{w.namespace}:book:{old}") is None  # outside the cache window
    assert backfills.missing(EOD, calendar.business_days(data.start, END)) == {f: [] for f in EOD}


def test_non_business_date_is_refused_with_the_holiday_name(built) -> None:
    with pytest.raises(NotBusinessDay, match=r"2026-11-20.*Black Awareness"):
        EndOfDay(date=date(2026, 11, 20))
    proc = subprocess.run(
        [sys.executable, "-m", "luigi", "--module", "pms_luigi.tasks", "pms.EndOfDay",
         "--date", "2026-11-20", "--local-scheduler"],
        cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "Black Awareness" in proc.stderr + proc.stdout


def test_date_without_market_data_fails_with_missing_data_exit_code(built) -> None:
    nxt = calendar.next_business_day(END)
    assert runner.run_kind("eod", nxt) == runner.ExitCode.MISSING_DATA
    proc = subprocess.run(
        [sys.executable, "-m", "luigi", "--module", "pms_luigi.tasks", "pms.EndOfDay",
         "--date", nxt.isoformat(), "--local-scheduler"],
        cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "MarketDataReady" in proc.stderr + proc.stdout


def test_preopen_publishes_proposals_and_the_pack(built) -> None:
    w, _ = built
    nxt = calendar.next_business_day(END)
    assert runner.run_kind("preopen", nxt) == runner.ExitCode.OK
    with w.engine.connect() as conn:
        pack = conn.execute(sa.select(s.morning_packs).where(
            s.morning_packs.c.business_date == nxt)).mappings().one()
        book = conn.execute(sa.select(s.book_snapshots).where(
            s.book_snapshots.c.business_date == END)).mappings().one()
    assert pack["payload"]["summary"]["book"]["nav_brl"] == pytest.approx(book["nav_brl"])
    assert w.redis.get(f"{w.namespace}:morning_pack:latest_date") == nxt.isoformat()
    folder = pack_folder(nxt, pack["payload"]["fund_name"])  # <out>/<store>/<fund>/<D>/
    assert folder.parent.parent.parent == w.data_dir / "out"
    assert (folder / "morning_pack.pdf").exists()
    before = _n_runs(w)
    assert runner.run_kind("preopen", nxt) == runner.ExitCode.OK
    assert _n_runs(w) == before


def test_nav_path_equals_initial_nav_plus_daily_pnl_plus_flows(built) -> None:
    w, data = built
    with w.engine.connect() as conn:
        books = conn.execute(sa.select(s.book_snapshots).order_by(
            s.book_snapshots.c.business_date)).mappings().all()
        marks_pnl = dict(conn.execute(
            sa.select(s.position_marks.c.business_date, sa.func.sum(s.position_marks.c.pnl_brl))
            .group_by(s.position_marks.c.business_date)).all())
    flows = data.capital_flows.groupby("flow_date")["amount_brl"].sum()
    nav = data.initial_nav
    for b in books:
        nav += b["pnl_brl"] + float(flows.get(b["business_date"], 0.0))
        assert b["nav_brl"] == pytest.approx(nav, abs=0.005), b["business_date"]
        assert b["pnl_brl"] == pytest.approx(marks_pnl[b["business_date"]], abs=0.005)
    assert len(books) == len(calendar.business_days(data.start, END))


# ============================================================================================
# incremental attribution == full recomputation, on both store pairs

YEAR_END = date(2026, 1, 20)  # 40 business days back: Nov 2025 .. Jan 2026 (month, quarter, year)
YEAR_END_FUND = DemoFund(seed=5, end=YEAR_END, chunk=15)


@pytest.fixture(scope="module", params=BACKENDS)
def year_end(request: pytest.FixtureRequest, demo_worlds: DemoWorlds,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, demo.DemoData]]:
    with demo_worlds.copy(YEAR_END_FUND, request.param,
                          tmp_path_factory.mktemp("year_end")) as built:
        yield built


def _methods(w: World, days: list[date]) -> dict[date, str | None]:
    with w.engine.connect() as conn:
        found = mk.read_markers(conn, "pms.PerformanceAttribution", days)
    return {d: found[d].metadata.get("method") for d in days}


def _assert_persisted_equals_full(w: World, start: date, days: list[date]) -> None:
    """Every persisted attribution equals attribution.attribute over all marks since start."""
    from pms_luigi.core import attribution
    from pms_luigi.store import readers as rd

    keys = ["period", "dimension", "bucket"]
    with w.engine.connect() as conn:
        marks = rd.marks_between(conn, start, days[-1])
        books = rd.books_between(conn, start, days[-1])
        strategies, instruments = rd.strategies(conn), rd.instruments(conn)
        stored = rd.fetch(conn, sa.select(s.attribution).where(
            s.attribution.c.business_date.in_(days)))
        stats = rd.fetch(conn, sa.select(s.performance_stats).where(
            s.performance_stats.c.business_date.in_(days)))
    for on in days:
        full = attribution.attribute(marks, books, strategies, instruments, on, start).rows
        got = stored[stored["business_date"] == on].sort_values(keys).reset_index(drop=True)
        full = full.sort_values(keys).reset_index(drop=True)
        assert got[keys].to_dict("records") == full[keys].to_dict("records"), on
        assert (np.round(got["pnl_brl"].to_numpy() * 100) ==
                np.round(full["pnl_brl"].to_numpy() * 100)).all(), on  # to the centavo
        np.testing.assert_allclose(got["contribution_bps"], full["contribution_bps"], rtol=0,
                                   atol=1e-9, err_msg=str(on))
        assert len(stats[stats["business_date"] == on]) == 3


def test_incremental_attribution_equals_full_recomputation(year_end) -> None:
    w, data = year_end
    days = calendar.business_days(data.start, YEAR_END)
    assert days[0] < date(2025, 12, 1) and days[-1] > date(2026, 1, 2)
    methods = _methods(w, days)
    assert methods[days[0]] == "full"
    assert {d: m for d, m in methods.items() if m != "incremental"} == {days[0]: "full"}
    _assert_persisted_equals_full(w, data.start, days)


def test_mtm_rerun_restates_later_attributions_by_chaining(year_end) -> None:
    w, data = year_end
    days = calendar.business_days(data.start, YEAR_END)
    mid = days[len(days) // 2]
    before = _run_ids(w, ["pms.PerformanceAttribution"], days[-1])
    # an MTM rerun without --downstream: later MTMs and every attribution from mid on go stale
    invalidation.invalidate("pms.MarkToMarket", mid, downstream=False)
    assert runner.build([graph.FAMILIES["pms.MarkToMarket"](date=mid)]) == runner.ExitCode.OK
    later = [d for d in days if d >= mid]
    # planned at once: MTM(mid) is done again, but every later MTM chains on it, and every
    # attribution from mid on consumed an MTM that is (or will be) rebuilt
    assert backfills.missing(EOD, later) == {"pms.MarkToMarket": later[1:],
                                         "pms.PerformanceAttribution": later}
    report: list[backfills.BackfillReport] = []
    assert backfills.backfill(data.start, YEAR_END, chunk=15, report=report) == runner.ExitCode.OK
    assert len(report[0].chunk_codes) == 2  # one pass: 20 dates in chunks of 15
    assert _run_ids(w, ["pms.PerformanceAttribution"], days[-1]) != before
    assert {_methods(w, later)[d] for d in later} == {"incremental"}
    _assert_persisted_equals_full(w, data.start, later)


def test_reference_data_change_falls_back_to_the_full_recomputation(year_end) -> None:
    w, data = year_end
    last = YEAR_END
    with w.engine.begin() as conn:
        inst = conn.execute(sa.select(s.instruments.c.instrument_id, s.instruments.c.asset_class)
                            .where(s.instruments.c.asset_class == "CUPOM")).first()
        assert inst is not None
        conn.execute(sa.update(s.instruments).where(
            s.instruments.c.instrument_id == inst.instrument_id).values(asset_class="FX"))
    try:
        invalidation.invalidate("pms.PerformanceAttribution", last, downstream=False)
        assert runner.run_kind("eod", last) == runner.ExitCode.OK
        assert _methods(w, [last])[last] == "full"  # the base rows used the old taxonomy
        _assert_persisted_equals_full(w, data.start, [last])
    finally:
        with w.engine.begin() as conn:
            conn.execute(sa.update(s.instruments).where(
                s.instruments.c.instrument_id == inst.instrument_id).values(asset_class="CUPOM"))
        invalidation.invalidate("pms.PerformanceAttribution", last, downstream=False)
        assert runner.run_kind("eod", last) == runner.ExitCode.OK


def test_class_level_upstream_keys_match_requires(built) -> None:
    """The bulk status uses the class-level keys (no task instantiation): the same steps as
    requires() gives Luigi, on inception (MTM has no upstream step then) and later dates."""
    from pms_luigi.pipeline import context
    from pms_luigi.pipeline.graph import FAMILIES
    from pms_luigi.pipeline.step import PmsTask

    _, data = built
    ctx = context.current()
    for cls in FAMILIES.values():
        for on in (calendar.next_business_day(data.start), END):
            steps = [t for t in cls(date=on).requires() if isinstance(t, PmsTask)]
            assert cls.upstream_keys_for(on, ctx) == \
                [mk.upstream_key(t.family(), t.date) for t in steps]
    inception = FAMILIES["pms.MarkToMarket"](date=data.start)
    assert inception.upstream_keys_for(data.start, ctx) == []
    assert [t.task_family for t in inception.requires()] == ["pms.MarketDataReady"]
