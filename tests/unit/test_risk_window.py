"""Tests for the risk state a caller carries from one date to the next: the factor-change
window (``risk.FactorHistory``) and the performance index of the drawdown
(``risk.PerformanceIndex``).

Carried or not, the figures are the same bit for bit; a state the next date's inputs do not
continue (a corrected price, a late or missing row, another instrument master, another fixing
kind, an earlier date) is rebuilt from those inputs, never reused.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

import numpy as np
import pandas as pd
import pytest

from pms_luigi.core import calendar, risk
from pms_luigi.core.errors import InvalidInput
from tests.unit.test_risk import INSTRUMENTS, LIMITS, SCENARIOS, book, synthetic_market

#: Business days of prices each date reads (the MTM step reads the VaR window + 5).
WINDOW_BD = 60


@pytest.fixture(scope="module")
def market() -> tuple[list[date], pd.DataFrame, pd.DataFrame]:
    """Sessions from Oct 2025 to Mar 2026: the window moves across Christmas (an ANBIMA day
    without a B3 session) and the IND roll of Feb 2026."""
    return synthetic_market(date(2025, 10, 1), date(2026, 3, 20))


@pytest.fixture
def rebuilds(monkeypatch: pytest.MonkeyPatch) -> list[date]:
    """The dates a FactorHistory was built from scratch for (``FactorHistory.of`` calls)."""
    calls: list[date] = []
    fresh = risk.FactorHistory.of.__func__  # type: ignore[attr-defined]

    def counted(cls: type[risk.FactorHistory], *args: object, **kw: object
                ) -> risk.FactorHistory:
        calls.append(args[3])  # type: ignore[arg-type]
        return fresh(cls, *args, **kw)

    monkeypatch.setattr(risk.FactorHistory, "of", classmethod(counted))
    return calls


def window(hist: pd.DataFrame, fx: pd.DataFrame, on: date
           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The price and fixing rows the MTM step reads for ``on``: the last WINDOW_BD business
    days, by date then instrument (the readers' order)."""
    start = calendar.add_business_days(on, -WINDOW_BD)
    h = hist[(hist["price_date"] >= start) & (hist["price_date"] <= on)]
    f = fx[(fx["fixing_date"] >= start) & (fx["fixing_date"] <= on)]
    return (h.sort_values(["price_date", "instrument_id"], kind="stable").reset_index(drop=True),
            f.reset_index(drop=True))


def carried(dates: list[date], inputs: Callable[[date], tuple[pd.DataFrame, pd.DataFrame]],
            **kw: object) -> Iterator[tuple[date, risk.FactorHistory]]:
    """The state of each date, each advanced from the previous date's."""
    state = None
    for on in dates:
        h, f = inputs(on)
        state = risk.FactorHistory.of(h, INSTRUMENTS, f, on, **kw) if state is None \
            else state.advance(h, INSTRUMENTS, f, on, **kw)
        yield on, state


def test_advanced_date_after_date_equals_factor_changes(market, rebuilds) -> None:
    """A moving window (dropping its first date, the IBOV roll, a day without a B3 session):
    every date's changes equal the fresh pass, and only the first date is built in full."""
    _, hist, fx = market
    dates = calendar.business_days(date(2025, 12, 15), date(2026, 3, 6))
    for on, state in carried(dates, lambda on: window(hist, fx, on)):
        h, f = window(hist, fx, on)
        pd.testing.assert_frame_equal(state.changes, risk.factor_changes(h, INSTRUMENTS, f, on),
                                      check_exact=True)
        assert state.on == on
    assert rebuilds == [dates[0]]
    assert {"DI_252", "REAL_1260", "USDBRL", "IBOV"} <= set(state.changes.columns)


def test_rows_after_the_date_are_ignored_and_later_taken_in(market, rebuilds) -> None:
    """The whole history given every date (rows after the date included, point in time): the
    window grows from its first date and is never rebuilt."""
    sessions, hist, fx = market
    dates = sessions[-30:]
    for on, state in carried(dates, lambda on: (hist, fx), fx_kind="PTAX"):
        pd.testing.assert_frame_equal(
            state.changes, risk.factor_changes(hist, INSTRUMENTS, fx, on, fx_kind="PTAX"),
            check_exact=True)
    assert rebuilds == [dates[0]]


def _corrected(h: pd.DataFrame, on: date) -> pd.DataFrame:
    """A settlement rate of a date already read, corrected by 10 bp."""
    out = h.copy()
    row = (out["price_date"] == calendar.previous_business_day(on)) \
        & (out["instrument_id"] == "DI1F28")
    assert row.sum() == 1
    out.loc[row, "rate"] += 0.0010
    return out


def _late_row(h: pd.DataFrame, on: date) -> pd.DataFrame:
    """A row for a date already read that was not there the day before."""
    prev = h[h["price_date"] < on]["price_date"].max()
    row = pd.DataFrame([(prev, "INDG26", 150_000.0, None, "B3")], columns=h.columns)
    return pd.concat([h, row]).sort_values(["price_date", "instrument_id"], kind="stable") \
        .reset_index(drop=True)


def _missing_row(h: pd.DataFrame, on: date) -> pd.DataFrame:
    """A row of a date already read, gone."""
    gone = (h["price_date"] == calendar.previous_business_day(on)) \
        & (h["instrument_id"] == "NTNB_2030")
    return h[~gone].reset_index(drop=True)


def _reversed(h: pd.DataFrame, on: date) -> pd.DataFrame:
    """The same rows, not in date order."""
    return h.iloc[::-1].reset_index(drop=True)


@pytest.mark.parametrize("change", [_corrected, _late_row, _missing_row, _reversed])
def test_inputs_that_do_not_continue_the_state_rebuild_it(market, rebuilds, change) -> None:
    """The next date's rows differ from the rows held: the state is rebuilt from them (its
    changes are those of the changed rows, not of the held ones)."""
    sessions, hist, fx = market
    prev, on = sessions[-6], sessions[-5]
    h0, f0 = window(hist, fx, prev)
    held = risk.FactorHistory.of(h0, INSTRUMENTS, f0, prev)
    h, f = window(hist, fx, on)
    changed = change(h, on)
    nxt = held.advance(changed, INSTRUMENTS, f, on)
    pd.testing.assert_frame_equal(nxt.changes, risk.factor_changes(changed, INSTRUMENTS, f, on),
                                  check_exact=True)
    assert rebuilds == [prev, on]
    if change is _corrected:  # what the held levels would have said differs
        unchanged = held.advance(h, INSTRUMENTS, f, on).changes
        assert (nxt.changes["DI_504"] - unchanged["DI_504"]).abs().max() > 1.0


def test_another_master_kind_or_an_earlier_date_rebuild_the_state(market, rebuilds) -> None:
    sessions, hist, fx = market
    prev, on = sessions[-6], sessions[-5]
    held = risk.FactorHistory.of(*_args(hist, fx, prev))
    moved = INSTRUMENTS.assign(maturity_date=INSTRUMENTS["maturity_date"].where(
        INSTRUMENTS["instrument_id"] != "DI1F31", date(2031, 7, 1)))
    h, f = window(hist, fx, on)
    cases = [
        (held.advance(h, moved, f, on), risk.factor_changes(h, moved, f, on)),
        (held.advance(h, INSTRUMENTS, f, on, fx_kind="PTAX"),
         risk.factor_changes(h, INSTRUMENTS, f, on, fx_kind="PTAX")),
        (held.advance(h, INSTRUMENTS, f, on, max_fill=0),
         risk.factor_changes(h, INSTRUMENTS, f, on, max_fill=0)),
        (held.advance(*_args(hist, fx, sessions[-8])),
         risk.factor_changes(*_args(hist, fx, sessions[-8]))),
    ]
    for state, fresh in cases:
        pd.testing.assert_frame_equal(state.changes, fresh, check_exact=True)
    assert len(rebuilds) == 1 + len(cases)


def _args(hist: pd.DataFrame, fx: pd.DataFrame, on: date
          ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, date]:
    h, f = window(hist, fx, on)
    return h, INSTRUMENTS, f, on


def test_a_corrected_fixing_is_read_every_date(market, rebuilds) -> None:
    """USDBRL comes from the fixings given each date, not from the state."""
    sessions, hist, fx = market
    prev, on = sessions[-6], sessions[-5]
    held = risk.FactorHistory.of(*_args(hist, fx, prev))
    h, f = window(hist, fx, on)
    f = f.assign(rate=np.where(f["fixing_date"] == prev, f["rate"] * 1.01, f["rate"]))
    nxt = held.advance(h, INSTRUMENTS, f, on)
    pd.testing.assert_frame_equal(nxt.changes, risk.factor_changes(h, INSTRUMENTS, f, on),
                                  check_exact=True)
    assert rebuilds == [prev]


def test_new_rows_are_checked_like_a_fresh_pass(market) -> None:
    sessions, hist, fx = market
    prev, on = sessions[-6], sessions[-5]
    held = risk.FactorHistory.of(*_args(hist, fx, prev))
    h, f = window(hist, fx, on)
    twice = pd.concat([h, h[h["price_date"] == on].iloc[:1]], ignore_index=True)
    with pytest.raises(InvalidInput, match="duplicate market_prices row"):
        held.advance(twice, INSTRUMENTS, f, on)
    with pytest.raises(InvalidInput, match="market_prices"):
        held.advance(h.drop(columns=["rate"]), INSTRUMENTS, f, on)


# ----------------------------------------------------------------------------- performance index

def test_performance_index_folded_day_by_day_is_the_whole_series_product() -> None:
    bps = np.random.default_rng(11).normal(2.0, 60.0, 1_500)
    index = risk.PerformanceIndex()
    for x in bps:
        index = index.advance(x)
    whole = risk.PerformanceIndex.of(bps)
    assert (index.level, index.peak, index.drawdown) == (whole.level, whole.peak,
                                                         whole.drawdown)
    assert index.drawdown == risk.performance_drawdown(pd.Series(bps))
    r = np.concatenate([[1.0], np.cumprod(1.0 + bps / 1e4)])
    assert whole.drawdown == 1.0 - r[-1] / r.max()
    assert risk.PerformanceIndex.of([]).drawdown == 0.0
    with pytest.raises(InvalidInput, match="pnl_bps"):
        index.advance(float("nan"))


def test_risk_snapshot_with_carried_state_is_identical_date_after_date(market) -> None:
    """The snapshot of each date from the carried FactorHistory and PerformanceIndex equals
    the one from the price history and the book history (nav_history)."""
    sessions, hist, fx = market
    dates = sessions[-4:]
    pnl_bps = pd.Series(np.random.default_rng(5).normal(0.0, 40.0, len(sessions)),
                        index=sessions)
    before = risk.PerformanceIndex.of(pnl_bps[pnl_bps.index < dates[0]])
    for on, state in carried(dates, lambda on: window(hist, fx, on)):
        h, f = window(hist, fx, on)
        args = (book(on), INSTRUMENTS, h, f, 100e6, on, LIMITS, SCENARIOS)
        kw = {"window": 40, "min_history": 30}
        navs = pd.DataFrame({"business_date": sessions, "nav_brl": 100e6,
                             "pnl_bps": pnl_bps.to_numpy()})
        index = before.advance(pnl_bps[on], on)
        assert risk.risk_snapshot(*args, **kw, changes=state.changes, performance=index) == \
            risk.risk_snapshot(*args, **kw, nav_history=navs)
        before = index
    with pytest.raises(InvalidInput, match="performance index of"):
        risk.risk_snapshot(*args, **kw, performance=before.advance(1.0, dates[0]))
    with pytest.raises(InvalidInput, match="only one of"):
        risk.risk_snapshot(*args, **kw, performance=before, drawdown=0.1)
