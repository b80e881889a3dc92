"""The marks read only the prices their staleness rule can use (``mark_window_start``).

The MarkToMarket step hands the engine the prices from :func:`mtm.mark_window_start` on,
not the year of prices the risk snapshot reads. Over the demo book, date after date, the
marks, the book and the data-quality rows are the same either way — with every price
published, and with prices missing on some dates under a staleness allowance, where the
stale marks, the prices too old to use and the previous marks' price dates all matter.
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pms_luigi import demo
from pms_luigi.core import calendar, mtm
from pms_luigi.core.errors import MissingPrice
from pms_luigi.core.frames import to_days

END = date(2025, 9, 30)


def _inputs(frames: dict[str, pd.DataFrame], d: date, p: date | None, prev: mtm.MtmResult | None,
            prices: pd.DataFrame, max_stale: int) -> mtm.MtmInputs:
    trades = frames["trades"]
    return mtm.MtmInputs(
        business_date=d, prev_date=p, instruments=frames["instruments"],
        trades=trades[to_days(trades["trade_date"]) <= np.datetime64(d, "D")],
        prev_marks=prev.marks if prev is not None else pd.DataFrame(
            columns=list(mtm.PREV_MARK_COLUMNS)),
        prices=prices, fx=frames["fx_fixings"], cdi=frames["cdi_fixings"], vna=frames["vna"],
        nav_prev=float(prev.book["nav_brl"]) if prev is not None else 250e6,
        capital_flow_brl=0.0, is_b3_session=calendar.is_b3_session(d),
        max_stale_bd=max_stale)


def _outcome(inp: mtm.MtmInputs) -> mtm.MtmResult | str:
    try:
        return mtm.mark_to_market(inp)
    except MissingPrice as exc:
        return str(exc)


@pytest.mark.parametrize(("max_stale", "holes"), [(0, 0.0), (3, 0.1)])
def test_marks_from_the_window_are_those_from_the_year(max_stale: int, holes: float) -> None:
    frames = demo.generate(seed=11, end=END, n_days=45).frames()
    prices = frames["market_prices"]
    days = calendar.business_days(frames["fund"]["inception_date"].iloc[0], END)
    if holes:  # after the first week, B3 instruments miss their price on some dates
        rng = np.random.default_rng(5)
        b3 = frames["instruments"].loc[frames["instruments"]["exchange"] == "B3",
                                       "instrument_id"]
        drop = prices["instrument_id"].isin(b3) & (rng.random(len(prices)) < holes) \
            & (to_days(prices["price_date"]) > np.datetime64(days[5], "D"))
        prices = prices.loc[~drop].reset_index(drop=True)
    day = to_days(prices["price_date"])
    prev_full = prev_window = None
    stale_seen = narrower = 0
    for p, d in zip([None, *days[:-1]], days, strict=True):
        full = prices.loc[day <= np.datetime64(d, "D")].reset_index(drop=True)
        prev_dates = (to_days(prev_window.marks["price_date"]) if prev_window is not None
                      else np.array([], "datetime64[D]"))
        start = np.datetime64(mtm.mark_window_start(d, prev_dates, max_stale), "D")
        window = full.loc[to_days(full["price_date"]) >= start].reset_index(drop=True)
        narrower += len(window) < len(full)
        got_full = _outcome(_inputs(frames, d, p, prev_full, full, max_stale))
        got_window = _outcome(_inputs(frames, d, p, prev_window, window, max_stale))
        if isinstance(got_full, str) or isinstance(got_window, str):
            assert got_window == got_full, d  # the same missing prices, named the same way
            break
        pd.testing.assert_frame_equal(got_window.marks, got_full.marks, check_exact=True)
        assert got_window.book == got_full.book, d
        pd.testing.assert_frame_equal(got_window.dq_issues, got_full.dq_issues)
        stale_seen += int(got_full.marks["is_stale"].sum())
        prev_full, prev_window = got_full, got_window
    assert narrower > 10  # the window really left rows out
    assert (stale_seen > 0) == bool(holes)
