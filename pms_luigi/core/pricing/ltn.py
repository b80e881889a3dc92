"""LTN — Letra do Tesouro Nacional, the zero-coupon federal bond (ANBIMA methodology).

R$1 000 at maturity (1 Jan / Apr / Jul / Oct), quoted as an annual yield on 252 business days:

* PU = 1 000 / (1 + y)^n, n = du/252 **truncated to 14 decimals**, PU **truncated to 6**;
  Tesouro Direto's retail price truncates the PU to 2.
* DV01 per bond (R$ per bp, magnitude) = the DI1 DV01 with the same du and rate / 100
  (R$1 000 against the DI1's 100 000 points).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np

from pms_luigi.core import calendar
from pms_luigi.core.pricing.anbima import BondPricer
from pms_luigi.core.pricing.base import Legs, MarketData, Terms
from pms_luigi.core.pricing.di1 import di1_dv01
from pms_luigi.core.pricing.rounding import (
    ArrayLike,
    FloatOrArray,
    scalar_or_array,
    truncate,
    year_fraction_252,
)

__all__ = ["LTN_FACE", "PRICER", "LtnPricer", "ltn_dv01", "ltn_pu", "ltn_rate"]

#: LTN face value, R$ per bond.
LTN_FACE: Final = 1_000.0


def ltn_pu(rate: ArrayLike, du: ArrayLike) -> FloatOrArray:
    """LTN PU = 1 000/(1 + y)^trunc14(du/252), **truncated to 6** (ANBIMA).

    Examples:
        The Tesouro Nacional example: settle 2003-03-21, maturity 2003-10-01 (du 134),
        27.33 % → PU 879.434493, retail price 879.43.

        >>> du = calendar.du(date(2003, 3, 21), date(2003, 10, 1))
        >>> du, ltn_pu(0.2733, du), truncate(ltn_pu(0.2733, du), 2)
        (134, 879.434493, 879.43)
    """
    y = np.asarray(rate, dtype=np.float64)
    n = np.asarray(year_fraction_252(du), dtype=np.float64)
    return truncate(LTN_FACE / np.power(1.0 + y, n), 6)


def ltn_rate(pu: ArrayLike, du: ArrayLike) -> FloatOrArray:
    """Yield implied by an LTN PU (untruncated inverse of :func:`ltn_pu`); NaN where du = 0.

    Examples:
        >>> round(ltn_rate(879.434493, 134), 6)
        0.2733
    """
    p = np.asarray(pu, dtype=np.float64)
    n = np.asarray(year_fraction_252(du), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(n > 0, np.power(LTN_FACE / p, 1.0 / np.where(n > 0, n, 1.0)) - 1.0, np.nan)
    return scalar_or_array(y)


def ltn_dv01(rate: ArrayLike, du: ArrayLike) -> FloatOrArray:
    """LTN DV01 per bond, R$/bp magnitude = DI1 DV01 / 100 (same du and rate).

    Examples:
        >>> round(ltn_dv01(0.13, 252), 6)
        0.078315
    """
    return scalar_or_array(np.asarray(di1_dv01(rate, du)) / 100.0)


@dataclass(frozen=True)
class LtnPricer(BondPricer):
    """LTN over frames: redeemed at R$1 000, no coupon."""

    def settlement_price(self, legs: Legs, market: MarketData) -> np.ndarray:
        """R$1 000 at maturity (paid on the next business day when it is a holiday)."""
        return np.full(len(legs), LTN_FACE)

    def pu_at(self, settlement: date, maturity: date, rate: float, vna: float) -> float:
        """:func:`ltn_pu`."""
        return ltn_pu(rate, calendar.du(settlement, maturity, as_of=settlement))

    def yield_at(self, settlement: date, maturity: date, price: float, vna: float) -> float:
        """:func:`ltn_rate`."""
        return ltn_rate(price, calendar.du(settlement, maturity, as_of=settlement))

    def dv01_at(self, settlement: date, maturity: date, rate: float, vna: float) -> float:
        """:func:`ltn_dv01`."""
        return ltn_dv01(rate, calendar.du(settlement, maturity, as_of=settlement))


PRICER: Final = LtnPricer("LTN", Terms(daily_settled=False, rate_quoted=True,
                                       final_from_terms=True, needs_maturity=True))
