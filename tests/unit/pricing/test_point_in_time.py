"""The pricers count du with the calendar of the price date (``as_of`` = that date).

Lei 14.759 (published 2023-12-22) made Nov 20 a national holiday from 2024; the market's
counts switched on reference date 2023-12-26. Priced on 2023-06-01, a contract maturing in
2028 has the three weekday Nov 20s of 2024-2026 as business days (du 1,154 to 2028-01-03);
priced on 2024-06-03, they are holidays. The frame verbs MTM uses must give the count of
each row's own date, in one frame holding both dates.
"""
from __future__ import annotations

from datetime import date

import numpy as np

from pms_luigi.core import calendar, pricing
from tests.unit.pricing.legs import Market, legs

BEFORE, AFTER = date(2023, 6, 1), date(2024, 6, 3)
RATE = 0.1050


def _du(on: date, maturity: date) -> int:
    return int(calendar.du(on, maturity, as_of=on))


def test_di1_frame_verbs_count_with_each_rows_own_calendar() -> None:
    maturity = date(2028, 1, 3)
    assert _du(BEFORE, maturity) == 1154 == calendar.du(BEFORE, maturity) + 3
    frame = legs(2, maturity=np.datetime64(maturity),
                 on=np.array([BEFORE, AFTER], dtype="datetime64[D]"), rate=RATE)
    pricer, market = pricing.PRICERS["DI1"], Market()
    expected = np.array([pricing.di1_pu(RATE, _du(d, maturity)) for d in (BEFORE, AFTER)])
    assert np.array_equal(pricer.price(frame, market), expected)
    assert pricer.price(frame, market)[0] != pricing.di1_pu(RATE, calendar.du(BEFORE, maturity))
    # the published 2023 PU reads back as the published rate (today's count would miss it)
    implied = pricer.rate(frame.assign(price=expected), market)
    assert np.allclose(implied, RATE, rtol=0, atol=1e-9)
    assert np.array_equal(pricer.dv01(frame, market),
                          [pricing.di1_dv01(RATE, _du(d, maturity)) for d in (BEFORE, AFTER)])


def test_ltn_counts_as_of_its_settlement_date() -> None:
    maturity = date(2028, 1, 1)
    pricer = pricing.PRICERS["LTN"]
    for on in (BEFORE, AFTER):
        assert pricer.pu_at(on, maturity, RATE, np.nan) == pricing.ltn_pu(RATE, _du(on, maturity))
    assert pricer.pu_at(BEFORE, maturity, RATE, np.nan) != pricing.ltn_pu(
        RATE, calendar.du(BEFORE, maturity))


def test_coupon_bonds_count_every_flow_as_of_settlement() -> None:
    maturity = date(2029, 1, 1)
    for on in (BEFORE, AFTER):
        pay, _, du = pricing.ntnf_cash_flows(on, maturity)
        assert du.tolist() == [_du(on, p) for p in pay]
    _, _, du_then = pricing.ntnf_cash_flows(BEFORE, maturity)
    # Nov 20 of 2024, 2025, 2026 and 2028 fall on weekdays: business days as of 2023-06-01
    assert du_then[-1] == calendar.du(BEFORE, date(2029, 1, 2)) + 4
    assert pricing.ntnf_pu(BEFORE, maturity, RATE) != pricing.ntnf_pu(AFTER, maturity, RATE)
