"""The price policy of the MTM (missing and stale prices, days without a B3 session)
and the NAV roll.
"""
from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from pms_luigi.core import calendar, mtm, pricing
from pms_luigi.core.errors import InvalidInput, MissingPrice
from tests.unit.mtm.builders import D, P, cdi, inputs, mark, price, row, trade


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
        mtm.mark_to_market(inputs(d24, trades=[*trades, trade("x", d24, "DI1F27", 1, 87_000.0)],
                                  **base))

# ------------------------------------------------------------------------------- NAV


def test_capital_flows_enter_nav_not_pnl() -> None:
    res = mtm.mark_to_market(inputs(
        D, P, [trade("t3", P, "PETR4", 1000, 30.0)], [mark(P, "PETR4", 1000, 30.0)],
        [price(D, "PETR4", 30.5)], flow=-1_000_000.0))
    assert res.book["pnl_brl"] == 500.0
    assert res.book["nav_brl"] == 100_000_000.0 + 500.0 - 1_000_000.0
    assert res.book["pnl_bps"] == pytest.approx(500 / 100_000_000 * 1e4)
    assert res.book["cdi_rate"] is None  # no fixing of P in the inputs
    assert res.book["leverage"] == pytest.approx(30_500.0 / res.book["nav_brl"])
