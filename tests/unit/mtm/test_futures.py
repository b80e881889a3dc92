"""MTM of B3 futures: DI1, DDI, DOL/WDO, IND/WIN by the daily settlement (ajuste)."""
from __future__ import annotations

from dataclasses import replace
from datetime import date

import pandas as pd
import pytest

from pms_luigi.core import mtm, pricing
from pms_luigi.core.errors import MissingCdi, MissingFxFixing
from tests.unit.mtm.builders import (
    D,
    P,
    assert_explained,
    cdi,
    cents,
    fx,
    inputs,
    instruments,
    mark,
    price,
    row,
    trade,
)

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
        [*prices, price(j5, "DI1F27", 87_700.00, 0.1424), price(j5, "DOLG26", 5_470.0)],
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
