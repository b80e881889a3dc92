"""What a build carries from one date to the next (``RunContext.carried``), on both store
pairs: the risk snapshot's factor window and performance index (``pms.MarkToMarket``), and
the attribution rows, book series and equity-curve text (``pms.PerformanceAttribution``).

A backfill that carries them gives the figures a date-by-date recomputation without them
gives, bit for bit; a carried state that no longer describes the database (the previous
date rerun by another process after a price correction, a key or value that does not match)
is not used. Tests run in file order on one world per store pair.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from pms_luigi import demo
from pms_luigi.cache.payloads import envelopes
from pms_luigi.core import calendar, risk
from pms_luigi.core.errors import ExitCode
from pms_luigi.ops import backfill as backfills
from pms_luigi.ops import invalidate
from pms_luigi.pipeline import context
from pms_luigi.pipeline.context import RunContext
from pms_luigi.pipeline.step import PmsTask, payload_digest
from pms_luigi.pipeline.steps.attribution import AttributionResult, PerformanceAttribution
from pms_luigi.pipeline.steps.mark_to_market import MarkToMarket, MtmResult
from pms_luigi.store import markers as mk
from pms_luigi.store import readers as rd
from pms_luigi.store import schema as s
from pms_luigi.store.loader import load_inputs
from tests.conftest import BACKENDS, World, make_world

END = date(2026, 11, 26)
MTM = MarkToMarket.family()
ATTR = PerformanceAttribution.family()


@pytest.fixture(scope="module", params=BACKENDS)
def fund(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[World, list[date]]]:
    """A 40-day demo fund, loaded, nothing built."""
    with make_world(request.param, tmp_path_factory.mktemp("carried")) as w:
        data = demo.generate(seed=5, end=END, n_days=40)
        load_inputs(w.engine, data.frames())
        context.forget()
        yield w, calendar.business_days(data.start, END)


Seen = dict[date, tuple[Any, Any]]


def _recorded(monkeypatch: pytest.MonkeyPatch, cls: type[PmsTask]) -> Seen:
    """The inputs and result of every ``cls`` step computed in this process, by date."""
    out: Seen = {}
    compute = cls.compute

    def recorded(self: PmsTask, inputs: Any) -> Any:
        result = compute(self, inputs)
        out[self.date] = (inputs, result)
        return result

    monkeypatch.setattr(cls, "compute", recorded)
    return out


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Seen:
    """Every MarkToMarket computed in this process: (MtmTaskInputs, MtmResult) by date."""
    return _recorded(monkeypatch, MarkToMarket)


@pytest.fixture
def attributed(monkeypatch: pytest.MonkeyPatch) -> Seen:
    """Every PerformanceAttribution computed: (AttributionInputs, AttributionResult)."""
    return _recorded(monkeypatch, PerformanceAttribution)


def _fresh(cls: type[PmsTask], on: date) -> tuple[Any, Any]:
    """The step of ``on`` recomputed from the database alone: a new context, nothing
    carried (not written)."""
    with context.activated(RunContext.from_environment()) as ctx:
        task = cls(date=on)
        inputs = task.read_inputs(ctx)
        return inputs, task.compute(inputs)


def _risk(result: MtmResult) -> dict[str, Any]:
    return result.frames[s.risk_snapshots].iloc[0].to_dict()


def _same(carried: MtmResult, fresh: MtmResult) -> None:
    assert _risk(carried) == _risk(fresh)
    pd.testing.assert_frame_equal(carried.factors.changes, fresh.factors.changes,
                                  check_exact=True)


def test_backfill_carries_the_risk_state_and_equals_the_fresh_recomputation(
        fund: tuple[World, list[date]], seen: Seen) -> None:
    _, days = fund
    with context.activated():
        assert backfills.backfill(days[0], END, [MTM], chunk=7, progress=None) == ExitCode.OK
    assert sorted(seen) == days
    built = dict(seen)
    # every date after the first reused the previous date's window, and no date read the
    # book history since inception (the performance index was carried from inception on)
    assert [d for d in days if built[d][0].factors is None] == days[:1]
    assert all(built[d][0].performance is not None and built[d][0].books.empty for d in days)
    for d in days:
        inputs, fresh = _fresh(MarkToMarket, d)
        assert inputs.factors is None and (d == days[0] or inputs.performance is None)
        _same(built[d][1], fresh)


def test_a_corrected_previous_date_rerun_elsewhere_is_not_reused(
        fund: tuple[World, list[date]], seen: Seen) -> None:
    """MTM(D−1) rerun by another process after a price correction: MTM(D) of the build finds
    another run's book for D−1 and other prices, rebuilds both states from the database and
    equals the fresh recomputation (the carried ones would not)."""
    w, days = fund
    prev, last = days[-2], days[-1]
    with context.activated() as ctx:  # this build carries the state of prev
        invalidate.invalidate(MTM, prev, downstream=True)
        assert backfills.backfill(prev, prev, [MTM], progress=None) == ExitCode.OK
        held = ctx.carried.risk_factors
        assert held is not None and held.on == prev
        (key,) = ctx.carried.performance_index
        with context.activated(RunContext.from_environment()):  # another process
            with w.engine.begin() as conn:
                conn.execute(sa.update(s.market_prices)
                             .where(s.market_prices.c.price_date == prev)
                             .values(price=s.market_prices.c.price * 1.01))
            code, _ = invalidate.rerun(MTM, prev, progress=None)
            assert code == ExitCode.OK
        with w.engine.connect() as conn:
            assert rd.row_on(conn, s.book_snapshots, prev)["run_id"] != key[1]
        assert backfills.backfill(last, last, [MTM], progress=None) == ExitCode.OK
    inputs, result = seen[last]
    assert inputs.factors is held and inputs.performance is None and len(inputs.books)
    _same(result, _fresh(MarkToMarket, last)[1])
    # the window was rebuilt from the corrected prices: its changes of prev are not the
    # ones the carried window held
    assert not result.factors.changes.loc[[prev]].equals(held.changes.loc[[prev]])


def test_a_carried_index_is_used_only_for_the_run_and_value_it_ends_on(
        fund: tuple[World, list[date]]) -> None:
    w, days = fund
    prev, last = days[-2], days[-1]
    with w.engine.connect() as conn:
        book = rd.row_on(conn, s.book_snapshots, prev)
    index = risk.PerformanceIndex(1.5, 2.0, prev, float(book["pnl_bps"]))
    cases = {  # carried index -> reused?
        (prev, book["run_id"], index.last_bps): True,
        (prev, "another run", index.last_bps): False,
        (days[-3], book["run_id"], index.last_bps): False,
        (prev, book["run_id"], index.last_bps + 1e-6): False,
    }
    for (on, run_id, bps), used in cases.items():
        with context.activated(RunContext.from_environment()) as ctx:
            ctx.carried.performance_index = {(on, run_id): risk.PerformanceIndex(
                index.level, index.peak, on, bps)}
            inputs = MarkToMarket(date=last).read_inputs(ctx)
        assert (inputs.performance is not None) is used
        assert inputs.books.empty is used


def _same_attribution(carried: AttributionResult, fresh: AttributionResult) -> None:
    for tbl in (s.attribution, s.performance_stats):
        pd.testing.assert_frame_equal(carried.frames[tbl], fresh.frames[tbl], check_exact=True)
    pd.testing.assert_frame_equal(carried.books, fresh.books, check_exact=True)
    assert carried.metadata == fresh.metadata


def _published_as_stored(w: World, on: date) -> bool:
    """The marker's digest is that of the payload rebuilt from the database."""
    task = PerformanceAttribution(date=on)
    with w.engine.connect() as conn:
        marker = mk.read_markers(conn, ATTR, [on])[on]
        texts = envelopes(task.payload_texts(conn), on, marker.run_id,
                          context.current().fund.name)
    return payload_digest(texts) == marker.payload_digest


def test_backfill_carries_the_attribution_state_and_equals_the_fresh_recomputation(
        fund: tuple[World, list[date]], attributed: Seen) -> None:
    """Every date after the first chains on the rows, books and curve text the build kept:
    the rows, stats and books equal a recomputation from the database, and each published
    payload (its equity curve spliced from the kept text) is the one the database gives."""
    w, days = fund
    with context.activated():
        assert backfills.backfill(days[0], END, [ATTR], chunk=7, progress=None) == ExitCode.OK
    built = dict(attributed)
    assert sorted(built) == days
    assert [d for d in days if built[d][0].curve is None] == days[:1]
    for d in days:
        inputs, fresh = _fresh(PerformanceAttribution, d)
        assert inputs.curve is None
        _same_attribution(built[d][1], fresh)
        assert _published_as_stored(w, d)


def test_an_attribution_rerun_elsewhere_is_not_chained_on_from_the_build(
        fund: tuple[World, list[date]], attributed: Seen) -> None:
    """Attribution of D−1 restated by another process (a price correction, MTM and
    attribution of D−1 rerun): attribution of D in the build does not take the rows, books
    or curve it kept for D−1 and equals the recomputation from the database."""
    w, days = fund
    prev, last = days[-2], days[-1]
    with context.activated() as ctx:  # this build attributes prev and keeps what it read
        for d in (prev, last):
            invalidate.invalidate(ATTR, d)
        assert backfills.backfill(prev, prev, [ATTR], progress=None) == ExitCode.OK
        ((_, kept_run),) = ctx.carried.attribution_runs
        with context.activated(RunContext.from_environment()):
            with w.engine.begin() as conn:
                conn.execute(sa.update(s.market_prices)
                             .where(s.market_prices.c.price_date == prev)
                             .values(price=s.market_prices.c.price * 1.01))
            code, _ = invalidate.rerun(MTM, prev, downstream=True, progress=None)
            assert code == ExitCode.OK
        with w.engine.connect() as conn:
            assert mk.read_markers(conn, ATTR, [prev])[prev].run_id != kept_run
        assert backfills.backfill(last, last, [ATTR], progress=None) == ExitCode.OK
    inputs, result = attributed[last]
    assert inputs.base == prev and inputs.curve is None
    _same_attribution(result, _fresh(PerformanceAttribution, last)[1])
    assert _published_as_stored(w, last)
