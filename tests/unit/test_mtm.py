"""Positions from the ledger and the daily MTM with P&L explain (pms_luigi.core.mtm).

Hand-built frames with the DB column names. DI1 prices are B3-style settlement PUs (2
decimals) of the stated rates; DI fixings 14.90 % (the 2025 DI). Expected amounts are worked
by hand from the B3 formulas of finance-conventions.md §2 and written as literals.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pms_luigi.core import calendar, frames, mtm, pricing
from pms_luigi.core.errors import InvalidInput, MissingCdi, MissingFxFixing, MissingPrice, MissingVna

# ------------------------------------------------------------------------------- builders

_I = dict(name="x", lot_size=1.0, underlying=None, is_active=True)
INSTRUMENTS: dict[str, dict[str, Any]] = {
    "DI1F26": dict(asset_class="RATES", instrument_type="DI1", currency="BRL", exchange="B3",
                   maturity_date=date(2026, 1, 2), contract_size=1.0),
    "DI1F27": dict(asset_class="RATES", instrument_type="DI1", currency="BRL", exchange="B3",
                   maturity_date=date(2027, 1, 4), contract_size=1.0),
    "DDIF27": dict(asset_class="CUPOM", instrument_type="DDI", currency="USD", exchange="B3",
                   maturity_date=date(2027, 1, 4), contract_size=0.5),
    "DOLQ25": dict(asset_class="FX", instrument_type="DOL", currency="BRL", exchange="B3",
                   maturity_date=date(2025, 8, 1), contract_size=50.0),
    "DOLG26": dict(asset_class="FX", instrument_type="DOL", currency="BRL", exchange="B3",
                   maturity_date=date(2026, 2, 2), contract_size=50.0),
    "WDOQ25": dict(asset_class="FX", instrument_type="WDO", currency="BRL", exchange="B3",
                   maturity_date=date(2025, 8, 1), contract_size=10.0),
    "INDQ25": dict(asset_class="EQUITY", instrument_type="IND", currency="BRL", exchange="B3",
                   maturity_date=date(2025, 8, 13), contract_size=1.0),
    "WINQ25": dict(asset_class="EQUITY", instrument_type="WIN", currency="BRL", exchange="B3",
                   maturity_date=date(2025, 8, 13), contract_size=0.2),
    "INDG26": dict(asset_class="EQUITY", instrument_type="IND", currency="BRL", exchange="B3",
                   maturity_date=date(2026, 2, 11), contract_size=1.0),
    "LTN_2026": dict(asset_class="RATES", instrument_type="LTN", currency="BRL",
                     exchange="TESOURO", maturity_date=date(2026, 1, 1), contract_size=1.0),
    "LTN_2027": dict(asset_class="RATES", instrument_type="LTN", currency="BRL",
                     exchange="TESOURO", maturity_date=date(2027, 1, 1), contract_size=1.0),
    "NTNF_2031": dict(asset_class="RATES", instrument_type="NTNF", currency="BRL",
                      exchange="TESOURO", maturity_date=date(2031, 1, 1), contract_size=1.0),
    "NTNB_2035": dict(asset_class="INFLATION", instrument_type="NTNB", currency="BRL",
                      exchange="TESOURO", maturity_date=date(2035, 5, 15), contract_size=1.0),
    "PETR4": dict(asset_class="EQUITY", instrument_type="EQUITY", currency="BRL", exchange="B3",
                  maturity_date=None, contract_size=1.0),
    "AAPL": dict(asset_class="EQUITY", instrument_type="EQUITY", currency="USD",
                 exchange="NASDAQ", maturity_date=None, contract_size=1.0),
    "NDF_SEP25": dict(asset_class="FX", instrument_type="NDF", currency="BRL", exchange="OTC",
                      maturity_date=date(2025, 9, 1), contract_size=1.0),
}
P, D = date(2025, 6, 2), date(2025, 6, 3)  # Mon, Tue: two ordinary sessions


def instruments() -> pd.DataFrame:
    return pd.DataFrame([{"instrument_id": k, **_I, **v} for k, v in INSTRUMENTS.items()])


def trade(tid: str, on: date, iid: str, qty: float, px: float, sid: str = "S1",
          cost: float = 0.0) -> dict[str, Any]:
    return dict(trade_id=tid, trade_date=on, instrument_id=iid, strategy_id=sid, quantity=qty,
                price=px, cost_brl=cost, source="DISCRETIONARY", proposal_id=None)


def price(on: date, iid: str, px: float, rate: float | None = None) -> dict[str, Any]:
    return dict(price_date=on, instrument_id=iid, price=px, rate=rate, source="B3")


def mark(on: date, iid: str, qty: float, px: float, price_date: date | None = None,
         sid: str = "S1") -> dict[str, Any]:
    return dict(business_date=on, instrument_id=iid, strategy_id=sid, quantity=qty, price=px,
                price_date=price_date or on, is_stale=False, staleness_bd=0)


def fx(*rows: tuple[date, float], kind: str = "PTAX") -> list[dict[str, Any]]:
    return [dict(fixing_date=d, pair="USDBRL", kind=kind, rate=r) for d, r in rows]


def cdi(*days: date, rate: float = 0.149) -> list[dict[str, Any]]:
    return [dict(fixing_date=d, rate=rate) for d in days]


def inputs(on: date, prev: date | None, trades: list[dict[str, Any]],
           prev_marks: list[dict[str, Any]] | pd.DataFrame, prices: list[dict[str, Any]],
           fx_rows: list[dict[str, Any]] = (), cdi_rows: list[dict[str, Any]] = (),
           vna_rows: list[dict[str, Any]] = (), nav_prev: float = 100_000_000.0,
           flow: float = 0.0, max_stale_bd: int = 0, b3: bool | None = None) -> mtm.MtmInputs:
    pm = prev_marks if isinstance(prev_marks, pd.DataFrame) else pd.DataFrame(
        prev_marks, columns=["business_date", "instrument_id", "strategy_id", "quantity",
                             "price", "price_date", "is_stale", "staleness_bd"])
    return mtm.MtmInputs(
        business_date=on, prev_date=prev, instruments=instruments(),
        trades=pd.DataFrame(trades, columns=list(trade("t", D, "PETR4", 1, 1))),
        prev_marks=pm,
        prices=pd.DataFrame(prices, columns=["price_date", "instrument_id", "price", "rate",
                                             "source"]),
        fx=pd.DataFrame(list(fx_rows), columns=["fixing_date", "pair", "kind", "rate"]),
        cdi=pd.DataFrame(list(cdi_rows), columns=["fixing_date", "rate"]),
        vna=pd.DataFrame(list(vna_rows), columns=["ref_date", "index_name", "value"]),
        nav_prev=nav_prev, capital_flow_brl=flow,
        is_b3_session=calendar.is_b3_session(on) if b3 is None else b3,
        max_stale_bd=max_stale_bd)


def row(result: mtm.MtmResult, iid: str, sid: str = "S1") -> pd.Series:
    m = result.marks
    sel = m[(m["instrument_id"] == iid) & (m["strategy_id"] == sid)]
    assert len(sel) == 1, f"{iid}/{sid} rows: {len(sel)}"
    return sel.iloc[0]


def cents(x: Any) -> np.ndarray:
    return np.round(np.asarray(x, dtype=float) * 100).astype(np.int64)


def assert_explained(result: mtm.MtmResult) -> None:
    """Σ parts + residual == total, exactly in centavos, per row and for the book."""
    m = result.marks
    parts = sum(cents(m[c]) for c in mtm.PNL_PARTS) + cents(m["pnl_residual_brl"])
    assert (parts == cents(m["pnl_brl"])).all()
    assert cents(m["pnl_brl"]).sum() == cents(result.book["pnl_brl"])
    b = result.book
    assert cents(b["nav_brl"]) == cents(b["nav_prev_brl"]) + cents(b["pnl_brl"]) + cents(
        b["capital_flow_brl"])
    assert tuple(m.columns) == mtm.MARK_COLUMNS and tuple(b) == mtm.BOOK_COLUMNS


# ------------------------------------------------------------------------------- positions


@pytest.mark.parametrize("values", [
    [date(2024, 2, 29), None, date(1969, 12, 31), date(2024, 3, 1)],  # the DB drivers' dates
    [datetime(2024, 3, 1, 23, 59), date(2024, 3, 4), pd.Timestamp("2024-03-05 06:00")],
    ["2024-03-01", "2024-03-04", None],  # strings: the parser
    np.array(["2024-03-01", "NaT"], dtype="datetime64[s]"),
    [],
])
def test_to_days_gives_the_parsers_days(values: Any) -> None:
    """``to_days`` skips the parser for date objects; the days are the parser's (floor)."""
    parsed = pd.to_datetime(pd.Series(values, dtype=object)).to_numpy().astype("datetime64[D]")
    got = frames.to_days(values)
    assert got.dtype == np.dtype("datetime64[D]")
    np.testing.assert_array_equal(got, parsed)
    np.testing.assert_array_equal(frames.to_days(pd.Series(values, dtype=object)), parsed)


def test_positions_average_cost_partial_close_and_flip() -> None:
    t = pd.DataFrame([
        trade("a1", date(2025, 5, 26), "LTN_2027", 1000, 800.0, cost=10),
        trade("a2", date(2025, 5, 27), "LTN_2027", 1000, 810.0),  # avg -> 805
        trade("a3", date(2025, 5, 28), "LTN_2027", -500, 820.0),  # realize 500 x 15
        trade("a4", date(2025, 5, 29), "LTN_2027", -2000, 815.0),  # close 1500 x 10, flip
        trade("b1", date(2025, 5, 26), "LTN_2027", 300, 790.0, sid="S2"),
        trade("b2", date(2025, 5, 28), "LTN_2027", -300, 780.0, sid="S2"),  # flat
    ])
    pos = mtm.positions_as_of(t, date(2025, 5, 29)).set_index("strategy_id")
    assert pos.loc["S1", "quantity"] == -500
    assert pos.loc["S1", "avg_cost"] == 815.0  # the flip restarts the cost at its price
    assert pos.loc["S1", "realized_pnl"] == pytest.approx(500 * 15 + 1500 * 10, abs=1e-9)
    assert pos.loc["S1", "cost_brl"] == 10 and pos.loc["S1", "n_trades"] == 4
    assert pos.loc["S2", "quantity"] == 0 and np.isnan(pos.loc["S2", "avg_cost"])
    assert pos.loc["S2", "realized_pnl"] == pytest.approx(-3000, abs=1e-9)
    mid = mtm.positions_as_of(t, date(2025, 5, 28)).set_index("strategy_id")
    assert mid.loc["S1", "quantity"] == 1500 and mid.loc["S1", "avg_cost"] == 805.0
    # input row order does not matter
    again = mtm.positions_as_of(t.sample(frac=1, random_state=7), date(2025, 5, 29))
    pd.testing.assert_frame_equal(again, mtm.positions_as_of(t, date(2025, 5, 29)))


def test_positions_short_side_and_expiry_drop() -> None:
    t = pd.DataFrame([
        trade("1", date(2025, 12, 1), "DI1F26", -10, 98_000.0),
        trade("2", date(2025, 12, 2), "DI1F26", -10, 98_100.0),  # short avg 98 050
        trade("3", date(2025, 12, 3), "DI1F26", 5, 98_000.0),  # short covered below cost: +250
    ])
    pos = mtm.positions_as_of(t, date(2025, 12, 3))
    assert pos["quantity"].item() == -15 and pos["avg_cost"].item() == 98_050.0
    assert pos["realized_pnl"].item() == pytest.approx(250.0)
    inst = instruments()
    assert len(mtm.positions_as_of(t, date(2025, 12, 30), inst)) == 1
    assert mtm.positions_as_of(t, date(2026, 1, 2), inst).empty  # matured on Jan 2


def _reference_ledger(rows: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Plain per-trade loop of the average-cost rules, to check the vectorized scan."""
    q = cost = realized = 0.0
    for dq, px in rows:
        if q == 0 or np.sign(q) == np.sign(dq):
            cost += dq * px
            q += dq
        elif abs(dq) <= abs(q):
            avg = cost / q
            realized += -dq * (px - avg)
            q = round(q + dq, 6)
            cost = avg * q
        else:
            avg = cost / q
            realized += q * (px - avg)
            q = round(q + dq, 6)
            cost = q * px
    return q, (cost / q if q else float("nan")), realized


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(-50, 50).filter(bool),
                                   st.integers(90, 110)), min_size=1, max_size=12),
                min_size=1, max_size=4))
def test_positions_match_a_reference_loop(groups: list[list[tuple[int, int]]]) -> None:
    rows = []
    for g, seq in enumerate(groups):
        for k, (dq, px) in enumerate(seq):
            rows.append(trade(f"{k:03d}", date(2025, 5, 1 + k), "PETR4", dq, float(px),
                              sid=f"S{g}"))
    pos = mtm.positions_as_of(pd.DataFrame(rows), date(2025, 6, 30)).set_index("strategy_id")
    for g, seq in enumerate(groups):
        q, avg, realized = _reference_ledger([(float(a), float(b)) for a, b in seq])
        got = pos.loc[f"S{g}"]
        assert got["quantity"] == q
        assert got["realized_pnl"] == pytest.approx(realized, abs=1e-6)
        if q:
            assert got["avg_cost"] == pytest.approx(avg, rel=1e-12)
        else:
            assert np.isnan(got["avg_cost"])


# ------------------------------------------------------------------------------- DI1


def test_di1_carry_plus_market_equals_b3_ajuste() -> None:
    # Long 100 DI1F27 (long PU = "dado"). P: 14.500 %, du 399 -> PA 80 703.30.
    # D: 14.600 %, du 398 -> PA 80 635.43. DI of P 14.90 %: FC = 1.149^(1/252).
    # B3 ajuste = (80 635.43 − 80 703.30 × FC) × 100 = −11 236.26
    res = mtm.mark_to_market(inputs(
        D, P, [trade("t1", P, "DI1F27", 100, 80_700.0)],
        [mark(P, "DI1F27", 100, 80_703.30)],
        [price(P, "DI1F27", 80_703.30, 0.145), price(D, "DI1F27", 80_635.43, 0.146)],
        cdi_rows=cdi(P)))
    r = row(res, "DI1F27")
    assert r["pnl_brl"] == -11_236.26
    assert r["pnl_carry_brl"] == -111.39  # PU(14.5 %, du 398) − PA_P·FC
    assert r["pnl_market_brl"] == -11_124.87  # PA_D − PU(14.5 %, du 398)
    assert r["pnl_residual_brl"] == 0.0 and r["pnl_new_trades_brl"] == 0.0
    assert r["pnl_carry_brl"] + r["pnl_market_brl"] == pytest.approx(-11_236.26, abs=1e-9)
    assert r["market_value_brl"] == 0.0  # settled daily
    assert r["notional_brl"] == pytest.approx(8_063_543.0)
    # long PU loses when rates rise: 100 × DV01(14.6 %, 398) = 100 × 11.1128
    assert r["dv01_brl"] == pytest.approx(-100 * pricing.di1_dv01(0.146, 398))
    assert round(r["dv01_brl"], 2) == -1_111.28
    assert r["pnl_bps"] == pytest.approx(-11_236.26 / 100_000_000 * 1e4)
    assert_explained(res)


def test_flat_rate_di1_shows_no_pnl_once_fc_is_applied() -> None:
    # Rate unchanged at the DI (14.90 %): PA 80 258.92 (du 399) -> 80 303.16 (du 398).
    # Without FC this looks like +R$4 424; with FC it is PU rounding only (−R$0.76).
    res = mtm.mark_to_market(inputs(
        D, P, [trade("t1", P, "DI1F27", 100, 80_258.92)], [mark(P, "DI1F27", 100, 80_258.92)],
        [price(D, "DI1F27", 80_303.16, 0.149)], cdi_rows=cdi(P)))
    r = row(res, "DI1F27")
    assert (80_303.16 - 80_258.92) * 100 == pytest.approx(4_424.0)
    assert r["pnl_brl"] == -0.76
    assert abs(r["pnl_brl"]) <= 100 * 0.01  # at most the 2-decimal PU rounding per contract
    assert abs(r["pnl_carry_brl"]) <= 1.0 and abs(r["pnl_market_brl"]) <= 1.0


def test_new_trades_and_costs_on_d() -> None:
    # Carried 100 DI1F27; on D buy 50 more at 80 600.00 and sell 20 at 80 650.00, R$12 costs.
    res = mtm.mark_to_market(inputs(
        D, P, [trade("t1", P, "DI1F27", 100, 80_700.0),
               trade("t2", D, "DI1F27", 50, 80_600.0, cost=8.0),
               trade("t3", D, "DI1F27", -20, 80_650.0, cost=4.0)],
        [mark(P, "DI1F27", 100, 80_703.30)],
        [price(D, "DI1F27", 80_635.43, 0.146)], cdi_rows=cdi(P)))
    r = row(res, "DI1F27")
    # trades on D settle against D's price: (80 635.43 − 80 600)·50 + (80 635.43 − 80 650)·(−20)
    assert r["pnl_new_trades_brl"] == pytest.approx(1_771.50 + 291.40)
    assert r["pnl_costs_brl"] == -12.0
    assert r["pnl_brl"] == pytest.approx(-11_236.26 + 2_062.90 - 12.0, abs=1e-9)
    assert r["quantity"] == 130
    assert_explained(res)


def test_di1_across_year_end_chain_and_expiries() -> None:
    """Dec 30 (session, first day) -> Dec 31 (ANBIMA day, B3 closed) -> Jan 2 (session).

    DI1F27: 14.20 % du 251 -> PA 87 611.83; Jan 2 14.25 % du 249 -> PA 87 666.28.
    Jan 2's FC compounds the DI of Dec 30 AND Dec 31: 1.149^(2/252).
    DI1F26 matures on Jan 2: final settlement at 100 000 against PA 99 889.83 (14.90 %, du 2).
    LTN 2026 matures Jan 1 (holiday): redeemed at R$1 000 on Jan 2.
    """
    d30, d31, j2 = date(2025, 12, 30), date(2025, 12, 31), date(2026, 1, 2)
    ltn30, ltn31 = 998.898289, 999.448993  # ANBIMA PUs at 14.90 %, du 2 and 1
    trades = [trade("f27", d30, "DI1F27", 200, 87_600.0, cost=20.0),
              trade("f26", d30, "DI1F26", -50, 99_889.83),
              trade("ltn", d30, "LTN_2026", 1000, 998.80),
              trade("dol", d30, "DOLG26", 10, 5_500.0)]
    prices = [price(d30, "DI1F27", 87_611.83, 0.142), price(d30, "DI1F26", 99_889.83, 0.149),
              price(d30, "LTN_2026", ltn30, 0.149), price(d30, "DOLG26", 5_520.0),
              price(d31, "LTN_2026", ltn31, 0.149),
              price(j2, "DI1F27", 87_666.28, 0.1425), price(j2, "DOLG26", 5_480.0)]
    fxs = fx((date(2025, 12, 29), 5.50), (d30, 5.52), (d31, 5.53), (j2, 5.49))
    day1 = mtm.mark_to_market(inputs(d30, None, trades, [], prices, fxs, cdi(d30, d31),
                                     nav_prev=50_000_000.0, flow=0.0))
    assert_explained(day1)
    f27 = row(day1, "DI1F27")
    assert f27["pnl_new_trades_brl"] == pytest.approx(11.83 * 200) and f27["pnl_costs_brl"] == -20
    # Dec 31: no B3 session -> exchange P&L zero, marks carry the Dec 30 settlement prices
    day2 = mtm.mark_to_market(inputs(d31, d30, trades, day1.marks, prices, fxs, cdi(d30, d31),
                                     nav_prev=day1.book["nav_brl"]))
    assert_explained(day2)
    assert day2.book["is_b3_session"] is False
    for iid in ("DI1F27", "DI1F26", "DOLG26"):
        r = row(day2, iid)
        assert r["pnl_brl"] == 0.0 and r["price_date"] == d30 and not r["is_stale"]
    ltn = row(day2, "LTN_2026")  # ANBIMA prices the bond on Dec 31
    assert ltn["pnl_brl"] == pytest.approx(1000 * (ltn31 - ltn30), abs=0.006)
    # Jan 2: FC with two fixings; expiries settle and drop out of the live book
    day3 = mtm.mark_to_market(inputs(j2, d31, trades, day2.marks, prices, fxs, cdi(d30, d31),
                                     nav_prev=day2.book["nav_brl"]))
    assert_explained(day3)
    fc2 = 1.149 ** (2 / 252)
    f27 = row(day3, "DI1F27")
    assert f27["pnl_brl"] == round((87_666.28 - 87_611.83 * fc2) * 200, 2) == -8_435.86
    assert f27["pnl_carry_brl"] + f27["pnl_market_brl"] == pytest.approx(-8_435.86, abs=1e-9)
    f26 = row(day3, "DI1F26")
    assert f26["price"] == 100_000.0 and f26["price_date"] == j2
    assert f26["pnl_brl"] == round((100_000 - 99_889.83 * fc2) * -50, 2) == 0.05
    assert f26["dv01_brl"] == 0.0 and f26["notional_brl"] == 0.0
    redeemed = row(day3, "LTN_2026")
    assert redeemed["price"] == 1000.0 and redeemed["market_value_brl"] == 0.0
    assert redeemed["pnl_brl"] == pytest.approx(1000 * (1000.0 - ltn31), abs=0.006)
    assert row(day3, "DOLG26")["pnl_brl"] == (5_480.0 - 5_520.0) * 50 * 10
    assert day3.book["n_positions"] == 2  # DI1F27 and DOLG26 are still live
    # NAV path = initial NAV + Σ daily P&L (no flows)
    total = sum(r.book["pnl_brl"] for r in (day1, day2, day3))
    assert cents(day3.book["nav_brl"]) == cents(50_000_000.0) + cents(total)
    # the day after, the matured contracts are gone
    j5 = date(2026, 1, 5)
    day4 = mtm.mark_to_market(inputs(
        j5, j2, trades, day3.marks,
        prices + [price(j5, "DI1F27", 87_700.00, 0.1424), price(j5, "DOLG26", 5_470.0)],
        fxs, cdi(d30, d31, j2), nav_prev=day3.book["nav_brl"]))
    assert sorted(day4.marks["instrument_id"]) == ["DI1F27", "DOLG26"]
    # a missing Dec 31 fixing is named
    with pytest.raises(MissingCdi, match="2025-12-31"):
        mtm.mark_to_market(inputs(j2, d31, trades, day2.marks, prices, fxs, cdi(d30),
                                  nav_prev=day2.book["nav_brl"]))


# ------------------------------------------------------------------------------- other futures


def test_dol_wdo_ind_win_examples() -> None:
    res = mtm.mark_to_market(inputs(
        D, P,
        [trade("d", P, "DOLQ25", 10, 5_400.0), trade("i", P, "INDQ25", 5, 130_000.0),
         trade("w", D, "WDOQ25", 1, 5_529.50), trade("n", D, "WINQ25", 1, 104_000.0)],
        [mark(P, "DOLQ25", 10, 5_400.0), mark(P, "INDQ25", 5, 130_000.0)],
        [price(D, "DOLQ25", 5_432.5), price(D, "INDQ25", 131_250.0),
         price(D, "WDOQ25", 5_539.36), price(D, "WINQ25", 104_200.0)]))
    assert row(res, "DOLQ25")["pnl_brl"] == 16_250.00
    assert row(res, "DOLQ25")["pnl_market_brl"] == 16_250.00
    assert row(res, "DOLQ25")["fx_delta_usd"] == 500_000.0  # 10 × US$50 000
    assert row(res, "INDQ25")["pnl_brl"] == 6_250.00
    assert row(res, "INDQ25")["equity_delta_brl"] == 656_250.0  # 5 × 131 250 × R$1
    assert row(res, "WDOQ25")["pnl_new_trades_brl"] == 98.60  # bought on D
    assert row(res, "WINQ25")["pnl_brl"] == 40.00
    assert res.book["pnl_brl"] == 16_250 + 6_250 + 98.60 + 40
    assert_explained(res)


def test_ddi_settles_in_brl_at_ptax_with_fx_correction() -> None:
    # Long 10 DDIF27. P: 5.000 % dc 581 -> PA 92 533.09; D: 5.100 % dc 580 -> PA 92 407.21.
    # FC = 1.149^(1/252) / (PTAX_P / PTAX_{P-1}) = ... / (5.62/5.60); BRL at PTAX_P = 5.62.
    res = mtm.mark_to_market(inputs(
        D, P, [trade("t", P, "DDIF27", 10, 92_530.0)], [mark(P, "DDIF27", 10, 92_533.09)],
        [price(P, "DDIF27", 92_533.09, 0.05), price(D, "DDIF27", 92_407.21, 0.051)],
        fx((date(2025, 5, 30), 5.60), (P, 5.62), (D, 5.65)), cdi(P)))
    r = row(res, "DDIF27")
    fc_di = 1.149 ** (1 / 252)
    fc = fc_di / (5.62 / 5.60)
    ajuste = (92_407.21 - 92_533.09 * fc) * 0.5 * 5.62 * 10
    assert r["pnl_brl"] == round(ajuste, 2) == 4_287.68
    assert r["pnl_fx_brl"] == round(92_533.09 * (fc_di - fc) * 0.5 * 5.62 * 10, 2) == 9_258.41
    assert r["fx_rate"] == 5.62
    assert r["dv01_brl"] == pytest.approx(-10 * 0.5 * 5.62 * pricing.ddi_dv01(0.051, 580))
    assert_explained(res)
    with pytest.raises(MissingFxFixing, match="PTAX fixing for USDBRL on 2025-05-30"):
        mtm.mark_to_market(replace(res_inputs := inputs(
            D, P, [trade("t", P, "DDIF27", 10, 92_530.0)], [mark(P, "DDIF27", 10, 92_533.09)],
            [price(D, "DDIF27", 92_407.21, 0.051)], fx((P, 5.62)), cdi(P))))
    assert res_inputs.fx_kind == "PTAX"


# ------------------------------------------------------------------------------- cash instruments


def test_bond_partial_close_realizes_against_previous_mark() -> None:
    # 1000 LTN carried at 800.00; on D sell 400 at 805.00; D's PU 803.00.
    res = mtm.mark_to_market(inputs(
        D, P, [trade("b", P, "LTN_2027", 1000, 798.0), trade("s", D, "LTN_2027", -400, 805.0,
                                                             cost=3.0)],
        [mark(P, "LTN_2027", 1000, 800.0)], [price(D, "LTN_2027", 803.0)]))
    r = row(res, "LTN_2027")
    assert r["pnl_realized_brl"] == 400 * 5.0  # closed 400 at 805 vs the 800 mark
    assert r["pnl_carry_brl"] + r["pnl_market_brl"] == pytest.approx(600 * 3.0, abs=0.011)
    assert r["pnl_new_trades_brl"] == 0.0 and r["pnl_costs_brl"] == -3.0
    assert r["pnl_brl"] == 600 * 803 - 1000 * 800 + 400 * 805 - 3 == 3_797.0
    assert r["quantity"] == 600 and r["avg_cost"] == 798.0  # ledger average is kept
    assert r["market_value_brl"] == 600 * 803.0
    assert r["dv01_brl"] < 0  # long bond loses when yields rise
    assert_explained(res)


def test_bond_flip_realizes_old_and_opens_new_lot() -> None:
    # 1000 LTN at the 800.00 mark; sell 1500 at 805.00 (short 500 from 805); D's PU 803.00.
    res = mtm.mark_to_market(inputs(
        D, P, [trade("b", P, "LTN_2027", 1000, 800.0), trade("s", D, "LTN_2027", -1500, 805.0)],
        [mark(P, "LTN_2027", 1000, 800.0)], [price(D, "LTN_2027", 803.0)]))
    r = row(res, "LTN_2027")
    assert r["pnl_realized_brl"] == 1000 * 5.0
    assert r["pnl_new_trades_brl"] == -500 * (803.0 - 805.0)
    assert r["pnl_carry_brl"] == 0.0 and r["pnl_market_brl"] == 0.0
    assert r["pnl_brl"] == 6_000.0
    assert r["quantity"] == -500 and r["avg_cost"] == 805.0
    assert_explained(res)


def test_ntnb_coupon_is_carry_and_needs_vna() -> None:
    # NTN-B 2035 pays 2.956301 % of VNA on Thu 2025-05-15. Real yield 7.00 % both days.
    p, d = date(2025, 5, 14), date(2025, 5, 15)
    vna_p, vna_d = 4_500.000000, 4_501.500000
    pu_p = pricing.ntnb_pu(vna_p, pricing.ntnb_quote(p, date(2035, 5, 15), 0.07))
    pu_d = pricing.ntnb_pu(vna_d, pricing.ntnb_quote(d, date(2035, 5, 15), 0.07))  # ex-coupon
    args = dict(prev=p, trades=[trade("b", p, "NTNB_2035", 1000, pu_p)],
                prev_marks=[mark(p, "NTNB_2035", 1000, pu_p)],
                prices=[price(p, "NTNB_2035", pu_p, 0.07), price(d, "NTNB_2035", pu_d, 0.07)])
    vnas = [dict(ref_date=p, index_name="NTNB", value=vna_p),
            dict(ref_date=d, index_name="NTNB", value=vna_d)]
    res = mtm.mark_to_market(inputs(d, vna_rows=vnas, **args))
    r = row(res, "NTNB_2035")
    coupon = 1000 * vna_d * 0.02956301
    assert round(coupon, 2) == 133_077.89
    assert r["pnl_brl"] == round(1000 * (pu_d - pu_p) + coupon, 2)
    assert r["pnl_carry_brl"] == round(1000 * (pu_d - pu_p) + coupon, 2)  # yield unchanged
    assert r["pnl_market_brl"] == 0.0
    assert r["dv01_brl"] == pytest.approx(-1000 * pricing.ntnb_dv01(d, date(2035, 5, 15), 0.07,
                                                                    vna_d))
    with pytest.raises(MissingVna, match="2025-05-15"):
        mtm.mark_to_market(inputs(d, vna_rows=vnas[:1], **args))


def test_ntnf_coupon_on_holiday_paid_next_business_day() -> None:
    # NTN-F 2031 coupon of Jan 1, 2026 is paid on Fri Jan 2 to the holders of Dec 31.
    d31, j2 = date(2025, 12, 31), date(2026, 1, 2)
    pu31 = pricing.ntnf_pu(d31, date(2031, 1, 1), 0.135)
    pu2 = pricing.ntnf_pu(j2, date(2031, 1, 1), 0.135)
    res = mtm.mark_to_market(inputs(
        j2, d31, [trade("b", d31, "NTNF_2031", 100, pu31)], [mark(d31, "NTNF_2031", 100, pu31)],
        [price(d31, "NTNF_2031", pu31, 0.135), price(j2, "NTNF_2031", pu2, 0.135)]))
    r = row(res, "NTNF_2031")
    assert r["pnl_brl"] == round(100 * (pu2 - pu31 + 48.80885), 2)
    assert r["pnl_carry_brl"] == r["pnl_brl"] and r["pnl_market_brl"] == 0.0


def test_usd_item_translation_at_the_days_fixing() -> None:
    # 100 AAPL: US$200 -> US$202; PTAX 5.40 -> 5.50.
    res = mtm.mark_to_market(inputs(
        D, P, [trade("a", P, "AAPL", 100, 200.0)], [mark(P, "AAPL", 100, 200.0)],
        [price(D, "AAPL", 202.0)], fx((P, 5.40), (D, 5.50))))
    r = row(res, "AAPL")
    assert r["pnl_brl"] == 100 * 202 * 5.50 - 100 * 200 * 5.40 == 3_100.0
    assert r["pnl_market_brl"] == 100 * 2 * 5.50
    assert r["pnl_fx_brl"] == 2_000.0  # 100 × 200 × (5.50 − 5.40)
    assert r["fx_rate"] == 5.50 and r["fx_delta_usd"] == 20_200.0
    assert r["market_value_brl"] == pytest.approx(111_100.0)


def test_ndf_marked_at_forward_with_days_fixing_for_notional() -> None:
    # Long US$1m NDF at 5.5000; forward 5.5200 on P, 5.5450 on D; PTAX on D 5.49.
    res = mtm.mark_to_market(inputs(
        D, P, [trade("n", P, "NDF_SEP25", 1_000_000, 5.50)],
        [mark(P, "NDF_SEP25", 1_000_000, 5.52)], [price(D, "NDF_SEP25", 5.545)],
        fx((D, 5.49))))
    r = row(res, "NDF_SEP25")
    assert r["pnl_brl"] == pytest.approx(25_000.0)
    assert r["market_value_brl"] == pytest.approx(45_000.0)  # 1m × (5.545 − 5.50), DF = 1
    assert r["fx_delta_usd"] == 1_000_000 and r["notional_brl"] == pytest.approx(5_490_000.0)
    with pytest.raises(MissingFxFixing, match="on 2025-06-03"):
        mtm.mark_to_market(inputs(
            D, P, [trade("n", P, "NDF_SEP25", 1_000_000, 5.50)],
            [mark(P, "NDF_SEP25", 1_000_000, 5.52)], [price(D, "NDF_SEP25", 5.545)]))


# ------------------------------------------------------------------------------- prices policy


def _stale_case(max_stale: int, price_rows: list[dict[str, Any]]) -> mtm.MtmInputs:
    return inputs(
        D, P, [trade("t1", P, "DI1F27", 100, 80_700.0), trade("t2", P, "DOLQ25", 10, 5_400.0),
               trade("t3", P, "PETR4", 1000, 30.0)],
        [mark(P, "DI1F27", 100, 80_703.30), mark(P, "DOLQ25", 10, 5_400.0),
         mark(P, "PETR4", 1000, 30.0)],
        price_rows, cdi_rows=cdi(P), max_stale_bd=max_stale)


def test_missing_prices_fail_naming_every_instrument_and_the_date() -> None:
    rows = [price(P, "DI1F27", 80_703.30, 0.145), price(P, "DOLQ25", 5_400.0),
            price(D, "PETR4", 31.0)]
    with pytest.raises(MissingPrice) as err:
        mtm.mark_to_market(_stale_case(0, rows))
    assert err.value.instruments == ["DI1F27", "DOLQ25"]
    assert "2025-06-03" in str(err.value) and "DI1F27" in str(err.value)
    assert "DOLQ25" in str(err.value)


def test_stale_price_within_policy_is_flagged_and_reported() -> None:
    rows = [price(P, "DI1F27", 80_703.30, 0.145), price(P, "DOLQ25", 5_400.0),
            price(D, "PETR4", 31.0)]
    res = mtm.mark_to_market(_stale_case(2, rows))
    r = row(res, "DI1F27")
    assert r["is_stale"] and r["staleness_bd"] == 1 and r["price_date"] == P
    assert r["pnl_brl"] == 0.0  # no new settlement price: FC runs only between price dates
    assert not row(res, "PETR4")["is_stale"] and row(res, "PETR4")["pnl_brl"] == 1000.0
    dq = res.dq_issues
    assert sorted(dq["instrument_id"]) == ["DI1F27", "DOLQ25"]
    assert set(dq["step"]) == {"pms.MarkToMarket"} and set(dq["severity"]) == {"WARNING"}
    assert "2025-06-02" in dq.iloc[0]["message"] and tuple(dq.columns) == mtm.DQ_COLUMNS
    assert res.metadata["stale_prices"] == 2
    assert res.metadata["stale_instruments"] == ["DI1F27", "DOLQ25"]
    assert res.metadata["positions_marked"] == 3


def test_price_older_than_policy_fails_and_entry_price_is_never_used() -> None:
    old = date(2025, 5, 28)  # 3 sessions before D
    rows = [price(old, "DI1F27", 80_600.0, 0.146), price(D, "DOLQ25", 5_410.0),
            price(D, "PETR4", 31.0)]
    with pytest.raises(MissingPrice, match="within 2 business days on 2025-06-03 for: DI1F27"):
        mtm.mark_to_market(_stale_case(2, rows))
    # a position opened on D at a trade price, with no market price at all: still missing
    with pytest.raises(MissingPrice, match="INDQ25"):
        mtm.mark_to_market(inputs(D, P, [trade("t", D, "INDQ25", 1, 130_000.0)], [], [],
                                  max_stale_bd=5))


def test_non_b3_session_day_has_zero_exchange_pnl() -> None:
    # Wed 2025-12-24: ANBIMA business day, B3 closed. DI1/IND keep the Dec 23 settlement.
    d23, d24 = date(2025, 12, 23), date(2025, 12, 24)
    assert calendar.is_business_day(d24) and not calendar.is_b3_session(d24)
    ltn23 = pricing.ltn_pu(0.14, calendar.du(d23, date(2027, 1, 1)))
    ltn24 = pricing.ltn_pu(0.1395, calendar.du(d24, date(2027, 1, 1)))
    base = dict(prev=d23, prev_marks=[mark(d23, "DI1F27", 100, 87_000.0),
                                      mark(d23, "INDG26", 5, 160_000.0),
                                      mark(d23, "LTN_2027", 1000, ltn23)],
                prices=[price(d23, "DI1F27", 87_000.0, 0.1422),
                        price(d23, "INDG26", 160_000.0), price(d23, "LTN_2027", ltn23, 0.14),
                        price(d24, "LTN_2027", ltn24, 0.1395)],
                cdi_rows=cdi(d23, d24))
    trades = [trade("a", d23, "DI1F27", 100, 87_000.0), trade("b", d23, "INDG26", 5, 160_000.0),
              trade("c", d23, "LTN_2027", 1000, ltn23)]
    res = mtm.mark_to_market(inputs(d24, trades=trades, **base))
    assert res.book["is_b3_session"] is False
    for iid, px in (("DI1F27", 87_000.0), ("INDG26", 160_000.0)):
        r = row(res, iid)
        assert r["pnl_brl"] == 0.0 and r["price"] == px and r["price_date"] == d23
    assert row(res, "INDG26")["equity_delta_brl"] == 800_000.0  # book still marked
    assert row(res, "DI1F27")["dv01_brl"] < 0
    assert row(res, "LTN_2027")["pnl_brl"] == round(1000 * (ltn24 - ltn23), 2) != 0.0
    assert res.book["pnl_brl"] == row(res, "LTN_2027")["pnl_brl"]
    with pytest.raises(InvalidInput, match="without a B3 session"):
        mtm.mark_to_market(inputs(d24, trades=trades + [trade("x", d24, "DI1F27", 1, 87_000.0)],
                                  **base))


# ------------------------------------------------------------------------------- ledger checks


def test_ledger_must_agree_with_previous_marks() -> None:
    with pytest.raises(InvalidInput, match="rerun MarkToMarket"):
        mtm.mark_to_market(inputs(
            D, P, [trade("t1", P, "DI1F27", 120, 80_700.0)], [mark(P, "DI1F27", 100, 80_703.30)],
            [price(D, "DI1F27", 80_635.43, 0.146)], cdi_rows=cdi(P)))
    with pytest.raises(InvalidInput, match="has no mark"):
        mtm.mark_to_market(inputs(
            D, P, [trade("t1", P, "DI1F27", 100, 80_700.0)], [],
            [price(D, "DI1F27", 80_635.43, 0.146)], cdi_rows=cdi(P)))
    with pytest.raises(InvalidInput, match="on or after the contract's maturity"):
        mtm.mark_to_market(inputs(
            date(2026, 1, 2), date(2025, 12, 31),
            [trade("t1", date(2026, 1, 2), "DI1F26", 1, 100_000.0)], [], []))


def test_capital_flows_enter_nav_not_pnl() -> None:
    res = mtm.mark_to_market(inputs(
        D, P, [trade("t3", P, "PETR4", 1000, 30.0)], [mark(P, "PETR4", 1000, 30.0)],
        [price(D, "PETR4", 30.5)], flow=-1_000_000.0))
    assert res.book["pnl_brl"] == 500.0
    assert res.book["nav_brl"] == 100_000_000.0 + 500.0 - 1_000_000.0
    assert res.book["pnl_bps"] == pytest.approx(500 / 100_000_000 * 1e4)
    assert res.book["cdi_rate"] is None  # no fixing of P in the inputs
    assert res.book["leverage"] == pytest.approx(30_500.0 / res.book["nav_brl"])


# ------------------------------------------------------------------------------- properties

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
            f = ((lambda s, y: pricing.ltn_pu(y, calendar.du(s, mat))) if iid == "LTN_2027"
                 else (lambda s, y: pricing.ntnf_pu(s, mat, y)))
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


def test_dol_and_ndf_final_settlement_at_ptax() -> None:
    # DOLQ25 matures Fri 2025-08-01: final price = 1 000 × PTAX of Jul 31 (5.5712).
    p, d = date(2025, 7, 31), date(2025, 8, 1)
    res = mtm.mark_to_market(inputs(
        d, p, [trade("d", p, "DOLQ25", 10, 5_560.0)], [mark(p, "DOLQ25", 10, 5_560.0)], [],
        fx((p, 5.5712))))
    r = row(res, "DOLQ25")
    assert r["price"] == pytest.approx(5_571.2) and r["pnl_brl"] == 5_600.00
    assert r["fx_delta_usd"] == 0.0 and res.book["n_positions"] == 0
    # NDF_SEP25 matures Mon 2025-09-01: settles on PTAX of Fri Aug 29, undiscounted.
    p, d = date(2025, 8, 29), date(2025, 9, 1)
    res = mtm.mark_to_market(inputs(
        d, p, [trade("n", date(2025, 6, 2), "NDF_SEP25", -2_000_000, 5.60)],
        [mark(p, "NDF_SEP25", -2_000_000, 5.43)], [], fx((p, 5.41))))
    r = row(res, "NDF_SEP25")
    assert r["price"] == 5.41 and r["pnl_brl"] == pytest.approx(40_000.0)
    assert r["market_value_brl"] == 0.0 and r["notional_brl"] == 0.0
    # positions are rebuilt from the whole ledger: the NDF is gone the day after
    assert mtm.positions_as_of(pd.DataFrame([trade("n", date(2025, 6, 2), "NDF_SEP25",
                                                   -2_000_000, 5.60)]), d, instruments()).empty


def test_first_day_refuses_older_trades() -> None:
    with pytest.raises(InvalidInput, match="predate the fund's first business date"):
        mtm.mark_to_market(inputs(D, None, [trade("t", P, "PETR4", 10, 30.0)], [],
                                  [price(D, "PETR4", 30.5)]))
    first = mtm.mark_to_market(inputs(D, None, [trade("t", D, "PETR4", 10, 30.0, cost=1.0)], [],
                                      [price(D, "PETR4", 30.5)]))
    r = row(first, "PETR4")
    assert r["pnl_new_trades_brl"] == 5.0 and r["pnl_costs_brl"] == -1.0 and r["pnl_brl"] == 4.0
