"""NTN-F — Nota do Tesouro Nacional série F, the fixed-rate coupon bond (ANBIMA methodology).

R$1 000 face, 10 % a.a. paid semiannually on 1 Jan / 1 Jul, maturity on 1 Jan; quoted as an
annual yield on 252 business days:

* coupon = 1 000·((1.10)^0.5 − 1) = 48.808848… **rounded to 5 decimals**: R$48.80885; the
  last flow adds the face (1 048.80885);
* PU = Σ_k **round9**(CF_k/(1 + y)^n_k), n_k = trunc14(du_k/252), **truncated to 6**;
* DV01 per bond = PV(y) − PV(y + 1 bp) on the untruncated sum.

A coupon falling on 1 Jan is paid on the next business day (du is unchanged by the roll).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np

from pms_luigi.core.pricing.anbima import (
    CouponBondPricer,
    cash_flows,
    present_value,
    pv01,
    solve_yield,
)
from pms_luigi.core.pricing.base import Legs, MarketData, Terms
from pms_luigi.core.pricing.rounding import ArrayLike, FloatOrArray, scalar_or_array, truncate

__all__ = ["NTNF_COUPON", "NTNF_FACE", "PRICER", "NtnfPricer", "ntnf_cash_flows", "ntnf_dv01",
           "ntnf_pu", "ntnf_rate"]

#: NTN-F face value, R$ per bond.
NTNF_FACE: Final = 1_000.0
#: Semiannual coupon: 1000·((1.10)^0.5 − 1) = 48.808848… rounded to 5 decimals (ANBIMA).
NTNF_COUPON: Final = 48.80885


def ntnf_cash_flows(settlement: date, maturity: date
                    ) -> tuple[list[date], np.ndarray, np.ndarray]:
    """NTN-F flows after ``settlement``: (payment dates, R$ per bond, du from settlement).

    Examples:
        Settled 2024-05-15, the 2027 bond pays its 1 Jan coupons on 2 Jan 2025 and on
        4 Jan 2027 (the next business days), with du counted to 1 Jan:

        >>> pay, cf, du = ntnf_cash_flows(date(2024, 5, 15), date(2027, 1, 1))
        >>> pay[1].isoformat(), pay[-1].isoformat(), [float(x) for x in cf[-2:]]
        ('2025-01-02', '2027-01-04', [48.80885, 1048.80885])
    """
    return cash_flows(settlement, maturity, NTNF_COUPON, NTNF_FACE + NTNF_COUPON)


def ntnf_pu(settlement: date, maturity: date, rate: ArrayLike) -> FloatOrArray:
    """NTN-F PU = trunc6(Σ_k round9(CF_k/(1 + y)^trunc14(du_k/252))); vectorized over ``rate``.

    Raises:
        ValueError: settlement on or after maturity.

    Examples:
        The ANBIMA rule as published with pyield's ``ntnf.pu``: settle 2024-07-05,
        maturity 2035-01-01, 11.921 % → 895.359254. The coupon's rounding:

        >>> ntnf_pu(date(2024, 7, 5), date(2035, 1, 1), 0.11921)
        895.359254
        >>> round(1000 * (1.10 ** 0.5 - 1), 5) == NTNF_COUPON
        True
    """
    _, cf, du = ntnf_cash_flows(settlement, maturity)
    return truncate(present_value(cf, du, rate, 9), 6)


def ntnf_rate(settlement: date, maturity: date, pu: ArrayLike) -> FloatOrArray:
    """Yield implied by an NTN-F PU (Newton on the untruncated price).

    Examples:
        >>> round(ntnf_rate(date(2024, 7, 5), date(2035, 1, 1), 895.359254), 5)
        0.11921
    """
    _, cf, du = ntnf_cash_flows(settlement, maturity)
    return solve_yield(cf, du, pu)


def ntnf_dv01(settlement: date, maturity: date, rate: ArrayLike) -> FloatOrArray:
    """NTN-F DV01 per bond, R$/bp magnitude: PV(y) − PV(y + 1 bp), untruncated.

    Examples:
        A ten-year NTN-F moves about half a real per bond per bp:

        >>> round(ntnf_dv01(date(2024, 7, 5), date(2035, 1, 1), 0.11921), 2)
        0.52
    """
    _, cf, du = ntnf_cash_flows(settlement, maturity)
    return scalar_or_array(pv01(cf, du, rate))


@dataclass(frozen=True)
class NtnfPricer(CouponBondPricer):
    """NTN-F over frames: redeemed at 1 048.80885, coupon R$48.80885."""

    def settlement_price(self, legs: Legs, market: MarketData) -> np.ndarray:
        """Face plus the last coupon, R$1 048.80885."""
        return np.full(len(legs), NTNF_FACE + NTNF_COUPON)

    def pu_at(self, settlement: date, maturity: date, rate: float, vna: float) -> float:
        """:func:`ntnf_pu`."""
        return ntnf_pu(settlement, maturity, rate)

    def yield_at(self, settlement: date, maturity: date, price: float, vna: float) -> float:
        """:func:`ntnf_rate`."""
        return ntnf_rate(settlement, maturity, price)

    def dv01_at(self, settlement: date, maturity: date, rate: float, vna: float) -> float:
        """:func:`ntnf_dv01`."""
        return ntnf_dv01(settlement, maturity, rate)

    def coupon(self, legs: Legs, market: MarketData) -> float:
        """R$48.80885 per bond."""
        return NTNF_COUPON


PRICER: Final = NtnfPricer("NTNF", Terms(daily_settled=False, rate_quoted=True,
                                         final_from_terms=True, needs_maturity=True))
