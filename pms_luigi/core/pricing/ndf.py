"""NDF — USDBRL non-deliverable forward: forward by covered parity, MTM, final at PTAX.

An NDF pays N·(PTAX_fixing − F_contract) in BRL at maturity (long USD > 0), the PTAX being
that of the business day before maturity. It is a cash instrument marked at the day's
forward (``market_prices.price``, taken as given): value = q·(F − average forward) plus what
closed lots realized and has not been paid yet, **undiscounted** (DF = 1). Discounting would
scale the value by 1/(1 + r_pre)^(du/252): for a 3-month NDF at 15 % the undiscounted MTM
overstates its own MTM by about 3.5 %, not the notional. Its notional is translated at the
day's FX fixing and its FX delta is the US$ notional.

Forward in local conventions: F = S·(1 + r_pre)^(du/252) / (1 + cupom·dc/360), r_pre the DI
rate for the NDF's du and ``cupom`` the onshore dollar rate (DDI / FRC curve, linear 360).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from pms_luigi.core.pricing.base import (
    Columns,
    Legs,
    MarketData,
    Terms,
    days,
    flags,
    num,
    prev_business_day,
)
from pms_luigi.core.pricing.cash import CashPricer
from pms_luigi.core.pricing.rounding import ArrayLike, FloatOrArray, scalar_or_array, whole_days

__all__ = ["PRICER", "NdfPricer", "ndf_forward", "ndf_mtm"]


def ndf_forward(spot: ArrayLike, rate_brl: ArrayLike, du: ArrayLike, cupom: ArrayLike,
                dc: ArrayLike) -> FloatOrArray:
    """USDBRL forward by covered parity: S·(1 + r_pre)^(du/252) / (1 + cupom·dc/360).

    Examples:
        Spot 5.40, DI 14.9 % for 63 du, cupom 5 % for 91 dc:

        >>> round(ndf_forward(5.40, 0.149, 63, 0.05, 91), 4)
        5.521
    """
    s = np.asarray(spot, dtype=np.float64)
    d = whole_days(du)
    growth = np.power(1.0 + np.asarray(rate_brl, dtype=np.float64), d / 252.0)
    return scalar_or_array(s * growth / (1.0 + np.asarray(cupom, dtype=np.float64)
                                         * np.asarray(dc, dtype=np.float64) / 360.0))


def ndf_mtm(notional_usd: ArrayLike, contract_forward: ArrayLike, market_forward: ArrayLike,
            discount_factor: ArrayLike = 1.0) -> FloatOrArray:
    """MTM in BRL of an NDF (long USD > 0): N·(F_market − F_contract)·DF.

    DF = 1/(1 + r_pre)^(du/252) discounts the payoff at today's forward to today; the
    mark-to-market uses DF = 1 (see the module docstring).

    Examples:
        >>> round(ndf_mtm(1_000_000, 5.50, 5.60), 6)
        100000.0
        >>> round(ndf_mtm(-1_000_000, 5.50, 5.60, 0.97), 6)
        -97000.0
    """
    out = np.asarray(notional_usd, dtype=np.float64) * (
        np.asarray(market_forward, dtype=np.float64)
        - np.asarray(contract_forward, dtype=np.float64)
    ) * np.asarray(discount_factor, dtype=np.float64)
    return scalar_or_array(out)


@dataclass(frozen=True)
class NdfPricer(CashPricer):
    """NDF over frames: marked at the forward, settled at PTAX, notional at the day's fixing."""

    def settlement_price(self, legs: Legs, market: MarketData) -> np.ndarray:
        """The PTAX of the business day before maturity."""
        return market.ptax(prev_business_day(days(legs, "maturity")))

    def fx_rate(self, legs: Legs, market: MarketData) -> np.ndarray:
        """Spot: the day's fixing; on the final day the PTAX it settles at (its price)."""
        settling = flags(legs, "settling")
        out = num(legs, "price").copy()
        if (~settling).any():
            out[~settling] = market.fx(days(legs, "date")[~settling])
        return out

    def exposures(self, legs: Legs) -> Columns:
        """Notional q·M·spot (long US$ +); FX delta q·M (US$); value q·(F − average
        forward)·M plus the realized amount not yet paid.

        Returns:
            Columns :data:`~pms_luigi.core.pricing.base.EXPOSURE_COLUMNS`.
        """
        q, cs, x = num(legs, "quantity"), num(legs, "contract_size"), num(legs, "price")
        open_value = np.where(q != 0, q * (x - np.nan_to_num(num(legs, "avg_cost"))), 0.0)
        return {
            "notional": q * cs * np.nan_to_num(num(legs, "fx_rate")),
            "fx_delta": q * cs,
            "equity_delta": np.zeros(len(legs)),
            "market_value": (open_value + num(legs, "realized_total")) * cs,
        }


PRICER: Final = NdfPricer("NDF", Terms(daily_settled=False, rate_quoted=False,
                                       final_from_terms=True, needs_maturity=True))
