"""MTM of cash instruments: bonds (realized, flips, coupons), USD items, NDFs."""
from __future__ import annotations

from datetime import date

import pytest

from pms_luigi.core import mtm, pricing
from pms_luigi.core.errors import MissingFxFixing, MissingVna
from tests.unit.mtm.builders import D, P, assert_explained, fx, inputs, mark, price, row, trade


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
