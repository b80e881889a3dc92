"""Properties of the MTM over random books: explain, order, opposite book, scaling."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pms_luigi.core import calendar, mtm, pricing
from tests.unit.mtm.builders import (
    INSTRUMENTS,
    D,
    P,
    assert_explained,
    cdi,
    cents,
    fx,
    inputs,
    mark,
    price,
    trade,
)

_POOL = ["DI1F27", "DOLQ25", "INDQ25", "WINQ25", "LTN_2027", "NTNF_2031", "PETR4", "NDF_SEP25"]


@st.composite
def books(draw: st.DrawFn) -> dict[str, Any]:
    """A random book on (P, D): prices from rates for DI1/bonds, trades on P and on D."""
    px: dict[str, tuple[float, float, float | None, float | None]] = {}
    for iid in _POOL:
        move = draw(st.floats(-0.02, 0.02))
        if iid == "DI1F27":
            r0 = draw(st.floats(0.09, 0.16))
            r1 = r0 + move / 10
            px[iid] = (round(pricing.di1_pu(r0, 399), 2), round(pricing.di1_pu(r1, 398), 2), r0,
                       r1)
        elif iid in ("LTN_2027", "NTNF_2031"):
            y0 = draw(st.floats(0.09, 0.16))
            y1 = y0 + move / 10
            mat = INSTRUMENTS[iid]["maturity_date"]
            f = ((lambda s, y, mat=mat: pricing.ltn_pu(y, calendar.du(s, mat)))
                 if iid == "LTN_2027" else (lambda s, y, mat=mat: pricing.ntnf_pu(s, mat, y)))
            rates = draw(st.booleans())  # with or without published rates
            px[iid] = (f(P, y0), f(D, y1), y0 if rates else None, y1 if rates else None)
        else:
            base = {"DOLQ25": 5400.0, "INDQ25": 130_000.0, "WINQ25": 130_000.0,
                    "PETR4": 31.0, "NDF_SEP25": 5.55}[iid]
            x0 = round(base * (1 + draw(st.floats(-0.01, 0.01))), 2 if iid != "NDF_SEP25" else 4)
            px[iid] = (x0, round(x0 * (1 + move), 2 if iid != "NDF_SEP25" else 4), None, None)
    positions = draw(st.lists(st.tuples(st.sampled_from(_POOL), st.sampled_from(["S1", "S2"])),
                              min_size=1, max_size=6, unique=True))
    trades, marks = [], []
    k = 0
    for iid, sid in positions:
        x0, x1, _, _ = px[iid]
        opening = draw(st.lists(st.integers(-30, 30).filter(bool), max_size=3))
        for q in opening:
            k += 1
            trades.append(trade(f"t{k:03d}", P, iid, q, round(x0 * (1 + draw(
                st.floats(-0.002, 0.002))), 4), sid))
        qp = sum(opening)
        if qp:
            marks.append(mark(P, iid, qp, x0, sid=sid))
        for q in draw(st.lists(st.integers(-40, 40).filter(bool), max_size=3,
                               min_size=0 if qp else 1)):
            k += 1
            trades.append(trade(f"t{k:03d}", D, iid, q, round(x1 * (1 + draw(
                st.floats(-0.002, 0.002))), 4), sid, cost=draw(st.sampled_from([0.0, 1.5]))))
    prices = [price(P, i, v[0], v[2]) for i, v in px.items()] + [
        price(D, i, v[1], v[3]) for i, v in px.items()]
    return dict(trades=trades, marks=marks, prices=prices, px=px)


def _run(book: dict[str, Any], scale: float = 1.0, shuffle: int | None = None
         ) -> mtm.MtmResult:
    t = pd.DataFrame(book["trades"])
    t["quantity"] = t["quantity"] * scale
    pm = pd.DataFrame(book["marks"], columns=["business_date", "instrument_id", "strategy_id",
                                              "quantity", "price", "price_date", "is_stale",
                                              "staleness_bd"])
    pm["quantity"] = pm["quantity"] * scale
    inp = inputs(D, P, [], pm, book["prices"], fx((P, 5.45), (D, 5.50)), cdi(P))
    inp.trades = t
    if shuffle is not None:
        inp.trades = inp.trades.sample(frac=1, random_state=shuffle)
        inp.prev_marks = inp.prev_marks.sample(frac=1, random_state=shuffle)
        inp.prices = inp.prices.sample(frac=1, random_state=shuffle)
        inp.instruments = inp.instruments.sample(frac=1, random_state=shuffle)
    return mtm.mark_to_market(inp)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books())
def test_property_explain_sums_to_total_and_matches_cash_flows(book: dict[str, Any]) -> None:
    res = _run(book)
    assert_explained(res)
    m = res.marks
    assert (m["pnl_residual_brl"].abs() <= 0.05).all()  # only the rounding of the parts
    fc = 1.149 ** (1 / 252)
    t = pd.DataFrame(book["trades"])
    for r in m.itertuples():
        x0, x1, _, _ = book["px"][r.instrument_id]
        mine = t[(t["instrument_id"] == r.instrument_id) & (t["strategy_id"] == r.strategy_id)]
        qp = mine.loc[mine["trade_date"] == P, "quantity"].sum()
        today = mine[mine["trade_date"] == D]
        cs = INSTRUMENTS[r.instrument_id]["contract_size"]
        cash = (today["quantity"] * today["price"]).sum()
        if r.instrument_id == "DI1F27":  # B3: carried with FC + trades against D's price
            expected = (x1 - x0 * fc) * qp + x1 * today["quantity"].sum() - cash
        else:  # every other type: ΔV + cash paid (no coupon falls in this window)
            expected = ((qp + today["quantity"].sum()) * x1 - qp * x0 - cash) * cs
        expected -= today["cost_brl"].sum()
        assert r.pnl_brl == pytest.approx(expected, abs=0.006)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), st.integers(0, 1000))
def test_property_row_order_opposite_book_and_scaling(book: dict[str, Any], seed: int) -> None:
    base = _run(book)
    pd.testing.assert_frame_equal(_run(book, shuffle=seed).marks, base.marks)
    costs = cents(base.marks["pnl_costs_brl"])  # costs do not scale with quantity
    opposite = _run(book, scale=-1.0)
    gross = cents(base.marks["pnl_brl"]) - costs
    assert (cents(opposite.marks["pnl_brl"]) - costs == -gross).all()
    assert cents(opposite.book["pnl_brl"]) == -cents(base.book["pnl_brl"]) + 2 * costs.sum()
    assert np.allclose(opposite.marks["dv01_brl"], -base.marks["dv01_brl"], rtol=1e-12, atol=0)
    # a position next to its opposite (another strategy) nets to zero before costs
    both = dict(book, trades=book["trades"] + [dict(t, strategy_id=t["strategy_id"] + "_X",
                                                     trade_id=t["trade_id"] + "x",
                                                     quantity=-t["quantity"], cost_brl=0.0)
                                               for t in book["trades"]],
                marks=book["marks"] + [dict(m, strategy_id=m["strategy_id"] + "_X",
                                            quantity=-m["quantity"]) for m in book["marks"]])
    assert cents(_run(both).book["pnl_brl"]) == costs.sum()
    double = _run(book, scale=2.0)
    assert (np.abs(cents(double.marks["pnl_brl"]) - costs
                   - 2 * (cents(base.marks["pnl_brl"]) - costs)) <= 1).all()
    assert np.allclose(double.marks["dv01_brl"], 2 * base.marks["dv01_brl"], rtol=1e-12, atol=0)
    assert np.allclose(double.marks["fx_delta_usd"], 2 * base.marks["fx_delta_usd"], rtol=1e-12)
