"""Equities (and other cash items quoted in a price): value change, USD translation.

P&L = q·(P_t − P_{t−1}) (dividends and JCP are not modelled). An item priced in USD is
translated at the fund's FX fixing of each day: the local parts at D's fixing, and the
translation of yesterday's value, q_P·P_{t−1}·(FX_D − FX_P), is its FX P&L. A BRL equity's
delta is its value; a USD item's is its FX delta (its US$ value).

Examples:
    100 shares bought at US$200 and marked at US$202 while the fixing moves 5.40 → 5.50:
    R$1 100 of price move at D's fixing plus R$2 000 of FX translation = R$3 100.

    >>> class Fixings:  # the fund's fixing: 5.40 on 2025-06-02, 5.50 on 2025-06-03
    ...     def fx(self, d): return np.where(d == np.datetime64("2025-06-03"), 5.50, 5.40)
    >>> legs = Legs({
    ...     "currency": ["USD"], "contract_size": [1.0], "quantity": [100.0],
    ...     "prev_quantity": [100.0], "held_quantity": [100.0], "day_cash": [0.0],
    ...     "price": [202.0], "prev_price": [200.0], "new_lots": [0.0], "realized": [0.0],
    ...     "date": [np.datetime64("2025-06-03")], "prev_date": [np.datetime64("2025-06-02")]})
    >>> legs["fx_rate"] = PRICER.fx_rate(legs, Fixings())
    >>> pnl = PRICER.daily_pnl(legs, Fixings())
    >>> [round(float(pnl[c][0]), 2) for c in ("market", "fx", "total")]
    [1100.0, 2000.0, 3100.0]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from pms_luigi.core.pricing.base import Columns, Legs, MarketData, Terms, days, num
from pms_luigi.core.pricing.cash import CashPricer

__all__ = ["PRICER", "EquityPricer"]


def _usd(legs: Legs) -> np.ndarray:
    return np.asarray(legs["currency"], dtype=object) == "USD"


@dataclass(frozen=True)
class EquityPricer(CashPricer):
    """EQUITY over frames: BRL or USD shares, no maturity."""

    def fx_rate(self, legs: Legs, market: MarketData) -> np.ndarray:
        """The fund's fixing of D for USD items; NaN for BRL ones."""
        usd = _usd(legs)
        out = np.full(len(legs), np.nan)
        if usd.any():
            out[usd] = market.fx(days(legs, "date")[usd])
        return out

    def translation(self, legs: Legs) -> np.ndarray:
        """D's fixing for USD items (``fx_rate``), 1 for BRL ones."""
        return np.where(_usd(legs), num(legs, "fx_rate"), 1.0)

    def prev_translation(self, legs: Legs, market: MarketData) -> np.ndarray:
        """P's fixing for USD items held at P, 1 otherwise."""
        out = np.ones(len(legs))
        m = _usd(legs) & (num(legs, "prev_quantity") != 0)
        if m.any():
            out[m] = market.fx(days(legs, "prev_date")[m])
        return out

    def exposures(self, legs: Legs) -> Columns:
        """Value q·X·M in BRL; BRL shares carry equity delta, USD ones FX delta (US$).

        Returns:
            Columns :data:`~pms_luigi.core.pricing.base.EXPOSURE_COLUMNS`.
        """
        usd = _usd(legs)
        local = num(legs, "quantity") * num(legs, "price") * num(legs, "contract_size")
        value = local * self.translation(legs)
        return {"notional": value, "fx_delta": np.where(usd, local, 0.0),
                "equity_delta": np.where(usd, 0.0, value), "market_value": value}


PRICER: Final = EquityPricer("EQUITY", Terms(daily_settled=False, rate_quoted=False,
                                             final_from_terms=False, needs_maturity=False))
