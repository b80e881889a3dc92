"""Pricing formulas against published numbers.

Sources of the expected values: the Tesouro Nacional's LTN methodology example (879.43); the
ANBIMA rules as published with the open-source pyield library (NTN-B 2035 cotação 99.3651 /
PU 4271.864805; NTN-F 2035 PU 895.359254; NTN-F coupon dates); a table of DI1 PUs and DV01s
whose 11 % / 1424 du line matches the public ``dib3-utils`` example (55 448.42); B3's and
brokers' settlement examples for DOL, WDO, IND and WIN; the DDI and FRC conventions of B3.
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pms_luigi.core import calendar, pricing
from pms_luigi.core.pricing.base import PNL_COLUMNS
from tests.unit.pricing.legs import Market, legs

# ------------------------------------------------------------------------------- ANBIMA bonds


def test_ltn_tesouro_methodology_example() -> None:
    du = calendar.du(date(2003, 3, 21), date(2003, 10, 1))
    assert du == 134
    assert pricing.year_fraction_252(134) == 0.53174603174603  # exponent truncated to 14
    pu = pricing.ltn_pu(0.2733, du)
    assert pu == 879.434493  # ANBIMA PU, truncated to 6
    assert pricing.truncate(pu, 2) == 879.43  # Tesouro Direto retail price, truncated to 2


def test_ntnb_2035_quote_and_pu() -> None:
    quote = pricing.ntnb_quote(date(2024, 5, 31), date(2035, 5, 15), 0.061490)
    assert quote == 99.3651
    assert pricing.ntnb_pu(4299.160173, quote) == 4271.864805


def test_ntnf_2035_pu() -> None:
    assert pricing.ntnf_pu(date(2024, 7, 5), date(2035, 1, 1), 0.11921) == 895.359254


def test_coupon_constants_follow_anbima_rounding() -> None:
    assert pricing.NTNF_COUPON == round(1000 * (1.10**0.5 - 1), 5) == 48.80885
    assert pricing.NTNB_COUPON_PCT == round(100 * (1.06**0.5 - 1), 6) == 2.956301


def test_ntnf_coupon_schedule_and_holiday_payment() -> None:
    # pyield ntnf.datas_pagamento("15-05-2024", "01-01-2027"): six dates back from maturity
    assert pricing.coupon_dates(date(2024, 5, 15), date(2027, 1, 1)) == [
        date(2024, 7, 1), date(2025, 1, 1), date(2025, 7, 1), date(2026, 1, 1),
        date(2026, 7, 1), date(2027, 1, 1)]
    pay, cf, du = pricing.ntnf_cash_flows(date(2024, 5, 15), date(2027, 1, 1))
    # Jan 1 is a holiday: paid on the next business day, and du is unchanged by the roll
    assert pay[1] == date(2025, 1, 2) and pay[-1] == date(2027, 1, 4)
    assert du[1] == calendar.du(date(2024, 5, 15), date(2025, 1, 1))
    assert list(cf) == [48.80885] * 5 + [1048.80885]


def test_ntnb_flows_on_a_weekend_15th_keep_du() -> None:
    # 2025-11-15 is a Saturday: paid Monday 17th, du counted [settle, date) is the same
    pay, cf, du = pricing.ntnb_cash_flows(date(2025, 6, 2), date(2035, 5, 15))
    assert pay[0] == date(2025, 11, 17)
    assert du[0] == calendar.du(date(2025, 6, 2), date(2025, 11, 15))
    assert cf[0] == 2.956301 and cf[-1] == 102.956301


def test_bond_implied_rates_invert_prices() -> None:
    assert pricing.ntnf_rate(date(2024, 7, 5), date(2035, 1, 1), 895.359254) == pytest.approx(
        0.11921, abs=5e-7)
    assert pricing.ntnb_rate(date(2024, 5, 31), date(2035, 5, 15), 99.3651) == pytest.approx(
        0.061490, abs=5e-7)
    assert pricing.ltn_rate(879.434493, 134) == pytest.approx(0.2733, abs=1e-8)


def test_bond_pricing_is_vectorized_over_rates() -> None:
    rates = np.array([0.11921, 0.12, 0.13])
    vec = pricing.ntnf_pu(date(2024, 7, 5), date(2035, 1, 1), rates)
    assert list(vec) == [pricing.ntnf_pu(date(2024, 7, 5), date(2035, 1, 1), r) for r in rates]


def test_bond_dv01s() -> None:
    # LTN DV01 is 1/100 of a DI1 contract with the same du and rate
    assert pricing.ltn_dv01(0.13, 252) == pytest.approx(0.078315, abs=1e-6)
    # NTN-F / NTN-B: +1bp reprice ≈ duration; a 10y NTN-F moves ~R$0.5 per bond per bp
    dv = pricing.ntnf_dv01(date(2024, 7, 5), date(2035, 1, 1), 0.11921)
    bump = (pricing.ntnf_pu(date(2024, 7, 5), date(2035, 1, 1), 0.11921)
            - pricing.ntnf_pu(date(2024, 7, 5), date(2035, 1, 1), 0.11931))
    assert dv == pytest.approx(bump, abs=2e-6) and 0.4 < dv < 0.6
    dvb = pricing.ntnb_dv01(date(2024, 5, 31), date(2035, 5, 15), 0.06149, 4299.160173)
    quote_bump = (99.3651 - pricing.ntnb_quote(date(2024, 5, 31), date(2035, 5, 15), 0.06159))
    assert dvb == pytest.approx(4299.160173 * quote_bump / 100, rel=2e-3)


def test_bond_settlement_at_maturity_refused() -> None:
    with pytest.raises(ValueError, match="on or after maturity"):
        pricing.ntnf_pu(date(2027, 1, 1), date(2027, 1, 1), 0.1)


def test_truncate_guards_binary_representation() -> None:
    assert pricing.truncate(879.43, 2) == 879.43  # 879.42999999999995 in binary
    assert pricing.truncate(0.29, 2) == 0.29  # 0.28999999999999998
    assert pricing.truncate(-1.239, 2) == -1.23  # toward zero
    assert pricing.truncate(4271.8648059999, 6) == 4271.864805


# ------------------------------------------------------------------------------- DI1


@pytest.mark.parametrize(("rate", "du", "pu", "dv01"), [
    (0.1300, 252, 88_495.58, 7.8315),
    (0.1425, 21, 98_895.98, 0.7213),
    (0.1450, 504, 76_276.20, 13.3234),
    (0.1380, 1260, 52_394.86, 23.0206),
    (0.1100, 1424, 55_448.42, 28.2277),
])
def test_di1_table(rate: float, du: int, pu: float, dv01: float) -> None:
    assert round(pricing.di1_pu(rate, du), 2) == pu
    assert round(pricing.di1_dv01(rate, du), 4) == dv01


def test_di1_rate_inverts_pu_and_maturity_is_face() -> None:
    assert pricing.di1_rate(pricing.di1_pu(0.11, 1424), 1424) == pytest.approx(0.11, abs=1e-14)
    assert pricing.di1_rate(55_448.42, 1424) == pytest.approx(0.11, abs=1e-7)
    assert pricing.di1_pu(0.15, 0) == 100_000.0
    assert np.isnan(pricing.di1_rate(100_000.0, 0))
    vec = pricing.di1_pu(np.array([0.13, 0.11]), np.array([252, 1424]))
    assert np.allclose(vec, [pricing.di1_pu(0.13, 252), pricing.di1_pu(0.11, 1424)], rtol=0, atol=0)
    with pytest.raises(ValueError, match="du"):
        pricing.di1_pu(0.1, -1)


def test_cdi_factor_compounds_each_fixing() -> None:
    # CETIP daily factor convention (8 decimals): 13.65 % a.a. -> 1.00050788
    assert pricing.cdi_factor([0.1365], daily_decimals=8) == 1.00050788
    # Dec 30 + Dec 31 fixings into the first session of January: two factors
    one = pricing.cdi_factor([0.149])
    assert pricing.cdi_factor([0.149, 0.149]) == pytest.approx(one**2, rel=1e-15)
    assert one == pytest.approx(1.149 ** (1 / 252), rel=1e-15)
    assert pricing.cdi_factor([]) == 1.0


def test_di1_daily_settlement_carry_plus_rate_equals_ajuste() -> None:
    # P 2025-06-02 14.500 % du 399 -> PA 80 703.30; D 14.600 % du 398 -> PA 80 635.43; DI 14.90 %
    pa_p, pa_d = round(pricing.di1_pu(0.145, 399), 2), round(pricing.di1_pu(0.146, 398), 2)
    assert (pa_p, pa_d) == (80_703.30, 80_635.43)
    fc = pricing.cdi_factor([0.149])
    ajuste = pricing.daily_settlement(pa_d, pa_p, 100, 1.0, fc=fc)
    assert round(ajuste, 2) == -11_236.26
    pivot = pricing.di1_pu(0.145, 398)
    carry, rate_move = (pivot - pa_p * fc) * 100, (pa_d - pivot) * 100
    assert round(carry, 2) == -111.39 and round(rate_move, 2) == -11_124.87
    assert round(carry + rate_move, 2) == round(ajuste, 2)


# ------------------------------------------------------------------------------- DOL/WDO/IND/WIN


def test_point_values() -> None:
    assert dict(pricing.POINT_VALUES) == {"DI1": 1.0, "DDI": 0.5, "DOL": 50.0, "WDO": 10.0,
                                          "IND": 1.0, "WIN": 0.2}
    assert pricing.CONTRACT_SPECS["DOL"].usd_per_contract == 50_000.0
    assert pricing.CONTRACT_SPECS["WDO"].usd_per_contract == 10_000.0
    assert pricing.CONTRACT_SPECS["DDI"].usd_per_contract == 50_000.0


@pytest.mark.parametrize(("typ", "qty", "ref", "price", "expected"), [
    ("DOL", 10, 5_400.0, 5_432.5, 16_250.00),
    ("WDO", 1, 5_529.50, 5_539.36, 98.60),
    ("IND", 5, 130_000.0, 131_250.0, 6_250.00),
    ("WIN", 1, 104_000.0, 104_200.0, 40.00),
])
def test_futures_settlement_examples(typ: str, qty: int, ref: float, price: float,
                                     expected: float) -> None:
    ad = pricing.daily_settlement(price, ref, qty, pricing.POINT_VALUES[typ])
    assert round(ad, 2) == expected
    # the short side pays exactly what the long receives
    assert pricing.daily_settlement(price, ref, -qty, pricing.POINT_VALUES[typ]) == -ad
    # the pricer's daily P&L over a frame is that ajuste, all of it market
    frame = legs(contract_size=pricing.POINT_VALUES[typ], quantity=float(qty),
                 prev_quantity=float(qty), price=price, prev_price=ref)
    pnl = pd.DataFrame(pricing.PRICERS[typ].daily_pnl(frame, Market())).iloc[0]
    assert tuple(pnl.index) == PNL_COLUMNS and pnl["total"] == pnl["market"] == ad
    assert pnl["carry"] == pnl["fx"] == pnl["realized"] == pnl["new_trades"] == 0.0


def test_dol_fx_delta_example() -> None:
    # a 1 % move at 5 400 is 54 points x R$50 = R$2 700 per DOL
    assert pricing.daily_settlement(5_454.0, 5_400.0, 1, 50.0) == 2_700.0


# ------------------------------------------------------------------------------- DDI / FRC / NDF


def test_ddi_example() -> None:
    pu = pricing.ddi_pu(0.05, 180)
    assert round(pu, 2) == 97_560.98
    dv01_pts = pricing.ddi_dv01(0.05, 180)
    assert round(dv01_pts, 4) == 4.7588
    assert round(dv01_pts * 0.5, 2) == 2.38  # US$ per contract per bp
    assert round(dv01_pts * 0.5 * 5.40, 2) == 12.85  # R$ at PTAX 5.40
    assert pricing.ddi_rate(pu, 180) == pytest.approx(0.05, abs=1e-14)
    assert pricing.ddi_pu(0.05, 0) == 100_000.0


def test_ddi_correction_factor_includes_fx() -> None:
    fc = pricing.ddi_correction_factor([0.149], 5.50, 5.45)
    assert fc == pytest.approx(1.149 ** (1 / 252) / (5.50 / 5.45), rel=1e-15)


def test_frc_example() -> None:
    assert round(pricing.frc_rate(0.050, 30, 0.055, 210) * 100, 4) == 5.5602


def test_ndf_forward_and_mtm() -> None:
    # covered parity in local conventions: 5.40 × 1.149^(63/252) / (1 + 5 % × 91/360)
    f = pricing.ndf_forward(5.40, 0.149, 63, 0.05, 91)
    assert f == pytest.approx(5.40 * 1.149**0.25 / (1 + 0.05 * 91 / 360), rel=1e-15)
    assert round(f, 4) == 5.5210
    assert pricing.ndf_mtm(1_000_000, 5.50, 5.60) == pytest.approx(100_000.0, abs=1e-6)
    assert pricing.ndf_mtm(-1_000_000, 5.50, 5.60, 0.97) == pytest.approx(-97_000.0, abs=1e-6)
