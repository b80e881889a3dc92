"""NTN-B — Nota do Tesouro Nacional série B, the IPCA-linked coupon bond (ANBIMA methodology).

Face is the VNA (the updated nominal value, R$1 000 on 2000-07-15 indexed to IPCA; ANBIMA
publishes it daily and it is taken as an input); 6 % a.a. real paid semiannually on the 15th
(Feb/Aug or May/Nov series); quoted as an annual real yield on 252 business days:

* coupon = 100·((1.06)^0.5 − 1) = **2.956301 %** of the VNA (6 decimals); the last flow is
  102.956301 %;
* cotação (quote, base 100) = Σ_k **round10**(CF_k/(1 + y)^n_k), n_k = trunc14(du_k/252),
  **truncated to 4**;
* PU = VNA × cotação / 100, **truncated to 6**;
* DV01 per bond (R$ per bp of real yield) = VNA·(Q(y) − Q(y + 1 bp))/100, untruncated.

A coupon on a weekend 15th is paid on the next business day (du is unchanged by the roll).
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
from pms_luigi.core.pricing.base import Legs, MarketData, Terms, days
from pms_luigi.core.pricing.rounding import ArrayLike, FloatOrArray, scalar_or_array, truncate

__all__ = ["NTNB_COUPON_PCT", "PRICER", "NtnbPricer", "ntnb_cash_flows", "ntnb_dv01",
           "ntnb_pu", "ntnb_quote", "ntnb_rate"]

#: Semiannual coupon in % of VNA: 100·((1.06)^0.5 − 1) rounded to 6 decimals (ANBIMA).
NTNB_COUPON_PCT: Final = 2.956301


def ntnb_cash_flows(settlement: date, maturity: date
                    ) -> tuple[list[date], np.ndarray, np.ndarray]:
    """NTN-B flows after ``settlement`` in % of VNA: 2.956301 each, 102.956301 at maturity.

    Examples:
        Settled 2025-06-02, the 2035 bond's 15 Nov 2025 coupon (a Saturday) is paid on
        Monday the 17th:

        >>> pay, cf, du = ntnb_cash_flows(date(2025, 6, 2), date(2035, 5, 15))
        >>> pay[0].isoformat(), float(cf[0]), float(cf[-1])
        ('2025-11-17', 2.956301, 102.956301)
    """
    return cash_flows(settlement, maturity, NTNB_COUPON_PCT, 100.0 + NTNB_COUPON_PCT)


def ntnb_quote(settlement: date, maturity: date, rate: ArrayLike) -> FloatOrArray:
    """NTN-B cotação (base 100) = trunc4(Σ_k round10(CF_k/(1 + y)^trunc14(du_k/252))).

    Raises:
        ValueError: settlement on or after maturity.

    Examples:
        The ANBIMA rule as published with pyield's NTN-B functions: settle 2024-05-31,
        maturity 2035-05-15, 6.1490 % → 99.3651. The coupon's rounding:

        >>> ntnb_quote(date(2024, 5, 31), date(2035, 5, 15), 0.061490)
        99.3651
        >>> round(100 * (1.06 ** 0.5 - 1), 6) == NTNB_COUPON_PCT
        True
    """
    _, cf, du = ntnb_cash_flows(settlement, maturity)
    return truncate(present_value(cf, du, rate, 10), 4)


def ntnb_pu(vna: ArrayLike, quote: ArrayLike) -> FloatOrArray:
    """NTN-B PU = trunc6(VNA × cotação / 100).

    Examples:
        >>> ntnb_pu(4299.160173, 99.3651)
        4271.864805
    """
    return truncate(np.asarray(vna, dtype=np.float64) * np.asarray(quote, dtype=np.float64)
                    / 100.0, 6)


def ntnb_rate(settlement: date, maturity: date, quote: ArrayLike) -> FloatOrArray:
    """Real yield implied by an NTN-B cotação (Newton on the untruncated quote).

    Examples:
        >>> round(ntnb_rate(date(2024, 5, 31), date(2035, 5, 15), 99.3651), 5)
        0.06149
    """
    _, cf, du = ntnb_cash_flows(settlement, maturity)
    return solve_yield(cf, du, quote)


def ntnb_dv01(settlement: date, maturity: date, rate: ArrayLike, vna: ArrayLike
              ) -> FloatOrArray:
    """NTN-B DV01 per bond in R$ per bp of real yield (magnitude): VNA·(Q(y) − Q(y+1bp))/100.

    Examples:
        >>> round(ntnb_dv01(date(2024, 5, 31), date(2035, 5, 15), 0.06149, 4299.160173), 2)
        3.27
    """
    _, cf, du = ntnb_cash_flows(settlement, maturity)
    return scalar_or_array(np.asarray(vna, dtype=np.float64) * pv01(cf, du, rate) / 100.0)


@dataclass(frozen=True)
class NtnbPricer(CouponBondPricer):
    """NTN-B over frames: priced on the VNA of the price date."""

    def settlement_price(self, legs: Legs, market: MarketData) -> np.ndarray:
        """trunc6(VNA × 102.956301 %): the VNA of the maturity date, else of D."""
        v_mat = market.vna_or_nan(days(legs, "maturity"))
        v = np.where(np.isfinite(v_mat), v_mat, market.vna(days(legs, "date")))
        return np.asarray(truncate(v * (100.0 + NTNB_COUPON_PCT) / 100.0, 6), dtype=np.float64)

    def vna(self, legs: Legs, market: MarketData) -> np.ndarray:
        """The VNA of each row's price date (MissingVna when it is not published)."""
        return market.vna(days(legs, "on"))

    def pu_at(self, settlement: date, maturity: date, rate: float, vna: float) -> float:
        """:func:`ntnb_pu` of :func:`ntnb_quote`."""
        return ntnb_pu(vna, ntnb_quote(settlement, maturity, rate))

    def yield_at(self, settlement: date, maturity: date, price: float, vna: float) -> float:
        """:func:`ntnb_rate` of the cotação price / VNA × 100."""
        return ntnb_rate(settlement, maturity, price / vna * 100.0)

    def dv01_at(self, settlement: date, maturity: date, rate: float, vna: float) -> float:
        """:func:`ntnb_dv01`."""
        return ntnb_dv01(settlement, maturity, rate, vna)

    def coupon(self, legs: Legs, market: MarketData) -> float:
        """2.956301 % of D's VNA."""
        return float(market.vna(days(legs, "date")[:1])[0]) * NTNB_COUPON_PCT / 100.0


PRICER: Final = NtnbPricer("NTNB", Terms(daily_settled=False, rate_quoted=True,
                                         final_from_terms=True, needs_maturity=True))
