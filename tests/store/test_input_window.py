"""The backfill's input window (``store.window``, held by the run context) on both store
pairs: a step's input reads inside a chunk window return exactly what their own queries
return, from one read per table."""
from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from pms_luigi import demo
from pms_luigi.core import calendar
from pms_luigi.store import availability
from pms_luigi.store import readers as rd
from pms_luigi.store import schema as s
from pms_luigi.store import window as win
from pms_luigi.store.loader import load_inputs
from pms_luigi.store.window import InputWindow

END = date(2026, 11, 26)


@pytest.fixture
def loaded(world):
    data = demo.generate(seed=3, end=END, n_days=60)
    load_inputs(world.engine, data.frames())
    return world


def _reads(conn, on: date, held: InputWindow | None = None
           ) -> dict[str, pd.DataFrame]:
    """The input reads of an MTM step of ``on``, with its ranges."""
    start = calendar.add_business_days(on, -40)
    return {"prices": rd.prices_between_typed(conn, start, on, held),
            "fx": rd.fx_between(conn, start, on, held),
            "cdi": rd.cdi_between(conn, calendar.add_business_days(on, -10), on, held),
            "vna": rd.vna_between(conn, calendar.add_business_days(on, -30), on, held),
            "trades": rd.trades_upto_typed(conn, on, ["trade_id", "trade_date", "quantity"],
                                           held),
            "instruments": rd.instruments(conn, held)}


def test_window_reads_equal_direct_reads_with_one_read_per_table(loaded) -> None:
    dates = calendar.business_days(date(2026, 10, 26), END)
    with loaded.engine.connect() as conn:
        direct = {d: _reads(conn, d) for d in dates}
        window = InputWindow(dates[-1])
        served = {d: _reads(conn, d, window) for d in dates}
    assert window.reads == 6  # one per request kind, for all 23 dates
    for d in dates:
        for name, frame in direct[d].items():
            assert len(frame), (name, d)
            pd.testing.assert_frame_equal(served[d][name], frame, check_exact=True,
                                          obj=f"{name} {d}")
            assert served[d][name].map(type).equals(frame.map(type)), (name, d)


def test_requests_outside_the_window_read_the_database(loaded) -> None:
    """A date after the window's last, or a range starting before the rows read: the
    database answers (same rows as without a window)."""
    last = date(2026, 11, 20)
    window = InputWindow(last)
    with loaded.engine.connect() as conn:
        inside = rd.fx_between(conn, date(2026, 11, 2), last, window)
        after = rd.fx_between(conn, date(2026, 11, 2), END, window)  # beyond it: direct
        earlier = rd.fx_between(conn, date(2026, 10, 1), last, window)  # earlier: a new read
        again = rd.fx_between(conn, date(2026, 10, 15), date(2026, 11, 10), window)  # inside
        assert window.reads == 2
        direct = {"after": rd.fx_between(conn, date(2026, 11, 2), END)}
    with loaded.engine.connect() as conn:
        assert after.equals(direct["after"])
        for got, (lo, hi) in ((inside, (date(2026, 11, 2), last)),
                              (earlier, (date(2026, 10, 1), last)),
                              (again, (date(2026, 10, 15), date(2026, 11, 10)))):
            pd.testing.assert_frame_equal(got, rd.fx_between(conn, lo, hi), check_exact=True)
    assert after["fixing_date"].max() > last


def test_backfilled_mtm_equals_each_date_read_on_its_own(loaded) -> None:
    """A backfill (its chunks read inputs through the window) stores, for every date, what the
    step computes from its own queries: the payload digest of the marker is reproduced by a
    recomputation outside any window (written with the marker's run_id, then rolled back)."""
    from pms_luigi.cache.payloads import envelopes
    from pms_luigi.ops import backfill as backfills
    from pms_luigi.pipeline import context
    from pms_luigi.pipeline.step import payload_digest
    from pms_luigi.pipeline.steps.mark_to_market import MarkToMarket
    from pms_luigi.store import markers as mk

    context.forget()
    dates = calendar.business_days(date(2026, 9, 1), END)
    first, last = dates[0], dates[24]
    assert backfills.backfill(first, last, ["pms.MarkToMarket"], chunk=10, workers=1,
                           progress=None) == 0
    with loaded.engine.connect() as conn:
        markers = mk.read_markers(conn, "pms.MarkToMarket", dates[:25])
    assert len(markers) == 25
    ctx = context.current()
    for d in dates[:25:6]:
        assert ctx.window is None
        task = MarkToMarket(date=d)
        result = task.compute(task.read_inputs(ctx))
        with loaded.engine.connect() as conn, conn.begin() as tx:
            task.write(conn, result, markers[d].run_id)
            texts = envelopes(task.payload_texts(conn, result), d, markers[d].run_id,
                              ctx.fund.name)
            tx.rollback()
        assert payload_digest(texts) == markers[d].payload_digest, d


def test_market_data_checks_of_a_chunk_are_one_question_with_each_date_s_answer(loaded) -> None:
    """``MarketDataReady`` in a chunk: one read for its dates, the answer of each date the
    one its own query gives — holes in every input included (prices, PTAX, the CDI of the
    day before), each named as the single-date check names it."""
    dates = calendar.business_days(date(2026, 10, 26), END)
    b3_day = next(d for d in dates[3:] if calendar.is_b3_session(d))
    with loaded.engine.begin() as conn:
        conn.execute(sa.delete(s.market_prices).where(s.market_prices.c.price_date == b3_day))
        conn.execute(sa.delete(s.fx_fixings).where(s.fx_fixings.c.fixing_date == dates[6],
                                                   s.fx_fixings.c.kind == "PTAX"))
        conn.execute(sa.delete(s.cdi_fixings).where(s.cdi_fixings.c.fixing_date == dates[9]))
    window = InputWindow(dates[-1])
    with loaded.engine.connect() as conn:
        direct = {d: availability.market_data_missing(conn, d) for d in dates}
        served = {d: win.per_date(window, "market_data_missing", d, lambda lo, hi:
                                  availability.market_data_missing_between(conn, lo, hi))
                  for d in dates}
    assert window.reads == 1 and served == direct
    assert direct[b3_day] == [f"market_prices: no settlement price dated {b3_day}"]
    assert direct[dates[6]] == [f"fx_fixings: no PTAX USDBRL fixing dated {dates[6]}"]
    assert direct[dates[10]] == [f"cdi_fixings: no CDI rate dated {dates[9]} (the previous "
                                 "business day)"]
    assert sum(map(bool, direct.values())) == 3
