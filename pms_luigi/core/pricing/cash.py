"""Cash instruments (bonds, equities, NDFs): the daily P&L of a value that changes.

A cash instrument is not settled daily: its P&L from P to D is the change of value plus the
cash it paid, q_D·X_D − q_P·X_P − Σ q_t·p_t + coupons paid on D to q_P (times the contract
size, in the price currency, then in BRL).

The explain uses the average-cost ledger of the day, seeded with q_P at X_P: the quantity
closed on D realizes (p − day basis) (``realized``); the part of q_P still held
(``held_quantity``) gets carry = h·(pivot − X_P) + coupons and market = h·(X_D − pivot)
around :meth:`~pms_luigi.core.pricing.base.PricerBase.carry_price`; the surviving new lots
get X_D − p_t (``new_lots``). An item priced in USD is translated at D's fixing, and the
translation of yesterday's value, q_P·X_P·(FX_D − FX_P), is its FX P&L.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pms_luigi.core.pricing.base import Columns, Legs, MarketData, PricerBase, num

__all__ = ["CashPricer"]


@dataclass(frozen=True)
class CashPricer(PricerBase):
    """A cash instrument: P&L by change of value, exposures at market value.

    Subclasses give the coupons (:meth:`coupons`) and the translation to BRL
    (:meth:`translation`, :meth:`prev_translation`); the defaults are a BRL instrument
    without coupons.
    """

    def coupons(self, legs: Legs, market: MarketData) -> np.ndarray:
        """Cash paid per unit in (P, D] to the holders at P (none)."""
        return np.zeros(len(legs))

    def translation(self, legs: Legs) -> np.ndarray:
        """BRL per unit of the price currency on D (1: a BRL instrument)."""
        return np.ones(len(legs))

    def prev_translation(self, legs: Legs, market: MarketData) -> np.ndarray:
        """BRL per unit of the price currency on P (1: a BRL instrument)."""
        return np.ones(len(legs))

    def daily_pnl(self, legs: Legs, market: MarketData) -> Columns:
        """Change of value plus coupons, explained (BRL, before costs; see module doc).

        The local parts are multiplied by FX_D; ``fx`` is q_P·X_P·M·(FX_D − FX_P) and
        ``total`` = (local change of value + coupons)·FX_D + fx, computed on its own so the
        caller can check that the parts add up.

        Returns:
            Columns :data:`~pms_luigi.core.pricing.base.PNL_COLUMNS`.
        """
        q_p, q_d, x_d = num(legs, "prev_quantity"), num(legs, "quantity"), num(legs, "price")
        x_p0 = np.nan_to_num(num(legs, "prev_price"))
        cs, h = num(legs, "contract_size"), num(legs, "held_quantity")
        pivot = self.carry_price(legs, market)
        coupons = self.coupons(legs, market)
        fx_d, fx_p = self.translation(legs), self.prev_translation(legs, market)
        kept = h != 0
        carry = np.where(kept, h * (pivot - x_p0) * cs, 0.0) + q_p * coupons
        local = (q_d * x_d - q_p * x_p0 - num(legs, "day_cash")) * cs + q_p * coupons
        translated = q_p * x_p0 * cs * (fx_d - fx_p)
        return {
            "carry": carry * fx_d,
            "market": np.where(kept, h * (x_d - pivot) * cs, 0.0) * fx_d,
            "fx": translated,
            "new_trades": num(legs, "new_lots") * cs * fx_d,
            "realized": num(legs, "realized") * cs * fx_d,
            "total": local * fx_d + translated,
        }

    def exposures(self, legs: Legs) -> Columns:
        """Market value = notional = q·X·M in BRL; no delta by default.

        Returns:
            Columns :data:`~pms_luigi.core.pricing.base.EXPOSURE_COLUMNS`.
        """
        value = num(legs, "quantity") * num(legs, "price") * num(legs, "contract_size") \
            * self.translation(legs)
        zero = np.zeros(len(legs))
        return {"notional": value, "fx_delta": zero, "equity_delta": zero,
                "market_value": value}
