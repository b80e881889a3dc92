"""The pricer protocol: the registry, and the verbs over frames against the formulas.

Each verb over a frame of legs must give, row by row, exactly what the scalar formula of its
module gives (the MTM's figures rest on that). The daily P&L of the futures against B3's
examples is in test_formulas.py.
"""
from __future__ import annotations

import dataclasses
from datetime import date
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest

from pms_luigi.core import calendar, pricing
from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.pricing.base import EXPOSURE_COLUMNS
from tests.unit.pricing.legs import D, Market, P, legs

VERBS = ("settlement_price", "rate", "price", "fx_rate", "daily_pnl", "dv01", "exposures")


def test_registry_is_immutable_and_every_pricer_has_the_verbs() -> None:
    assert isinstance(pricing.PRICERS, MappingProxyType)
    with pytest.raises(TypeError):
        pricing.PRICERS["CDS"] = pricing.PRICERS["DI1"]  # type: ignore[index]
    assert set(pricing.PRICERS) == {"DI1", "DDI", "DOL", "WDO", "IND", "WIN", "LTN", "NTNF",
                                    "NTNB", "NDF", "EQUITY"}
    for itype, pricer in pricing.PRICERS.items():
        assert pricer.instrument_type == itype
        assert all(callable(getattr(pricer, verb)) for verb in VERBS)
        with pytest.raises(dataclasses.FrozenInstanceError):
            pricer.terms = pricer.terms  # type: ignore[misc]
        spec = pricer.terms.spec
        assert (spec is not None) == (itype in pricing.CONTRACT_SPECS)


def test_unknown_type_names_the_instrument() -> None:
    with pytest.raises(InvalidInput, match="CDS_BR has instrument_type 'CDS'") as err:
        pricing.pricer_for("CDS", "CDS_BR")
    assert (err.value.table, err.value.row, err.value.field) == (
        "instruments", "CDS_BR", "instrument_type")


def test_rate_verbs_equal_the_formulas_row_by_row() -> None:
    """price / rate / dv01 over a frame (repeated rows, several maturities and dates) equal
    the scalar formulas exactly."""
    on = np.array([P, D, D, P], dtype="datetime64[D]")
    rate = np.array([0.1421, 0.1433, 0.1433, 0.1187])
    vna = {P: 4_500.0, D: 4_501.5}
    cases = {
        "DI1": (np.array(["2027-01-04", "2027-01-04", "2027-01-04", "2031-01-02"]),
                lambda s, m, r: pricing.di1_pu(r, calendar.du(s, m)),
                lambda s, m, r: pricing.di1_dv01(r, calendar.du(s, m))),
        "DDI": (np.array(["2027-01-04", "2027-01-04", "2027-01-04", "2031-01-02"]),
                lambda s, m, r: pricing.ddi_pu(r, (m - s).days), None),
        "LTN": (np.array(["2027-01-01", "2027-01-01", "2027-01-01", "2029-01-01"]),
                lambda s, m, r: pricing.ltn_pu(r, calendar.du(s, m)),
                lambda s, m, r: pricing.ltn_dv01(r, calendar.du(s, m))),
        "NTNF": (np.array(["2031-01-01", "2031-01-01", "2031-01-01", "2035-01-01"]),
                 pricing.ntnf_pu, pricing.ntnf_dv01),
        "NTNB": (np.array(["2035-05-15", "2035-05-15", "2035-05-15", "2045-05-15"]),
                 lambda s, m, r: pricing.ntnb_pu(vna[s], pricing.ntnb_quote(s, m, r)),
                 lambda s, m, r: pricing.ntnb_dv01(s, m, r, vna[s])),
    }
    for itype, (mats, pu, dv01) in cases.items():
        pricer, market = pricing.PRICERS[itype], Market(vna=vna)
        frame = legs(4, maturity=mats.astype("datetime64[D]"), on=on, rate=rate)
        rows = list(zip(on.tolist(), mats.astype("datetime64[D]").tolist(), rate, strict=True))
        expected = np.array([pu(s, m, r) for s, m, r in rows])
        assert np.array_equal(pricer.price(frame, market), expected), itype
        implied = pricer.rate(frame.assign(price=expected), market)
        assert np.allclose(implied, rate, rtol=0, atol=2e-6), itype
        if dv01 is not None:
            assert np.array_equal(pricer.dv01(frame, market),
                                  np.array([dv01(s, m, r) for s, m, r in rows])), itype


def test_di1_daily_pnl_splits_the_ajuste_at_the_previous_rate() -> None:
    """P 14.500 % du 399 → PA 80 703.30; D 14.600 % du 398 → PA 80 635.43; DI 14.90 %:
    ajuste −11 236.26 per 100 = carry −111.39 + market −11 124.87; a trade of D at 80 600
    gains (PA_D − PO)."""
    frame = legs(maturity=np.datetime64("2027-01-04"), quantity=150.0, prev_quantity=100.0,
                 price=80_635.43, prev_price=80_703.30, prev_rate=0.145, day_quantity=50.0,
                 day_cash=50 * 80_600.0)
    pnl = pd.DataFrame(pricing.PRICERS["DI1"].daily_pnl(frame, Market(di=0.149))).iloc[0]
    assert round(pnl["carry"], 2) == -111.39 and round(pnl["market"], 2) == -11_124.87
    assert round(pnl["new_trades"], 2) == 1_771.50
    assert round(pnl["total"], 2) == round(-11_236.26 + 1_771.50, 2)


def test_settlement_prices_fixed_by_the_contracts() -> None:
    mat = np.datetime64("2025-08-01")  # a Friday: PTAX of Thursday Jul 31
    market = Market(ptax={date(2025, 7, 31): 5.5712}, vna={date(2025, 8, 1): 4_400.0, D: 1.0})
    frame = legs(maturity=mat, date=mat)
    final = {t: float(p.settlement_price(frame, market)[0]) for t, p in pricing.PRICERS.items()}
    assert final["DI1"] == final["DDI"] == 100_000.0 and final["LTN"] == 1_000.0
    assert final["NTNF"] == 1_048.80885
    assert final["NTNB"] == pricing.truncate(4_400.0 * 1.02956301, 6)
    assert final["DOL"] == final["WDO"] == pytest.approx(5_571.2) and final["NDF"] == 5.5712
    assert all(np.isnan(final[t]) for t in ("IND", "WIN", "EQUITY"))  # read from prices


def test_exposures_of_each_type() -> None:
    frame = legs(quantity=10.0, price=5_432.5, contract_size=50.0, fx_rate=5.62,
                 currency="USD", avg_cost=5_400.0, realized_total=0.0)
    sized = {t: frame.assign(contract_size=pricing.POINT_VALUES.get(t, 1.0))
             for t in pricing.PRICERS}
    got = {t: pd.DataFrame(p.exposures(sized[t])).iloc[0] for t, p in pricing.PRICERS.items()}
    for row in got.values():
        assert tuple(row.index) == EXPOSURE_COLUMNS
    assert got["DOL"]["fx_delta"] == 500_000.0 and got["DOL"]["market_value"] == 0.0
    assert got["DDI"]["notional"] == 10 * 5_432.5 * 0.5 * 5.62  # US$ points at PTAX
    assert got["IND"]["equity_delta"] == 54_325.0
    assert got["EQUITY"]["fx_delta"] == 54_325.0 and got["EQUITY"]["equity_delta"] == 0.0
    assert got["NDF"]["market_value"] == 10 * (5_432.5 - 5_400.0)  # undiscounted
    assert got["LTN"]["market_value"] == got["LTN"]["notional"] == 54_325.0
