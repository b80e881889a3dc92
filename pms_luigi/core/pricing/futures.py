"""B3 daily settlement (ajuste): the P&L of every futures contract the fund trades.

A B3 future has no market value: each session the exchange settles the change of its price
in cash on t+1. For N contracts of point value M (``contract_size``):

* a position carried from the previous session gets AD = (PA_t − PA_{t−1}·FC)·M·N;
* a trade done on t gets AD = (PA_t − PO)·M·N against its trade price PO.

FC is the contract's correction factor (DI1: the DI accrued since the previous session; DDI:
the DI over the PTAX variation; 1 for DOL/WDO/IND/WIN). DDI points are US$: its ajuste is
settled in BRL at the PTAX of the business day before t. Nothing is ever "realized": the
whole P&L has been paid by the next day.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pms_luigi.core.pricing.base import Columns, Legs, MarketData, PricerBase, held, num
from pms_luigi.core.pricing.rounding import ArrayLike, FloatOrArray, scalar_or_array

__all__ = ["FuturesPricer", "daily_settlement"]


def daily_settlement(price: ArrayLike, reference: ArrayLike, quantity: ArrayLike,
                     point_value: ArrayLike, fc: ArrayLike = 1.0,
                     fx: ArrayLike = 1.0) -> FloatOrArray:
    """B3 daily settlement (ajuste) AD = (PA_t − ref·FC)·M·N·FX.

    Args:
        price: PA_t, the session's settlement price.
        reference: PA_{t−1} for a position carried from t−1, the trade price PO for a trade
            done on t.
        quantity: N, signed in PU terms (long PU > 0).
        point_value: M (:data:`~pms_luigi.core.pricing.CONTRACT_SPECS`).
        fc: correction factor of a carried position (DI1: ``cdi_factor``; DDI:
            ``ddi_correction_factor``; DOL/WDO/IND/WIN and trades of the day: 1).
        fx: 1 for BRL contracts; PTAX of t−1 for DDI (US$ points settled in BRL).

    Returns:
        The ajuste in BRL (float for scalar arguments).

    Examples:
        B3 and broker examples: long 10 DOL 5 400 → 5 432.5; WDO 5 529.50 → 5 539.36;
        5 IND 130 000 → 131 250; 1 WIN 104 000 → 104 200.

        >>> daily_settlement(5432.5, 5400.0, 10, 50.0)
        16250.0
        >>> round(daily_settlement(5539.36, 5529.50, 1, 10.0), 2)
        98.6
        >>> daily_settlement(131_250.0, 130_000.0, 5, 1.0)
        6250.0
        >>> daily_settlement(104_200.0, 104_000.0, 1, 0.2)
        40.0
    """
    pa = np.asarray(price, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    out = (pa - ref * np.asarray(fc, dtype=np.float64)) \
        * np.asarray(point_value, dtype=np.float64) \
        * np.asarray(quantity, dtype=np.float64) * np.asarray(fx, dtype=np.float64)
    return scalar_or_array(out)


@dataclass(frozen=True)
class FuturesPricer(PricerBase):
    """A B3 future: daily P&L by the ajuste formula, exposures without market value.

    Subclasses give the correction factor (:meth:`correction`) and the BRL value of a point
    (:meth:`conversion`); the defaults are those of a BRL contract without correction.
    """

    def conversion(self, legs: Legs) -> np.ndarray:
        """BRL per unit of the point currency (1: a BRL contract)."""
        return np.ones(len(legs))

    def correction(self, legs: Legs, market: MarketData
                   ) -> tuple[np.ndarray, np.ndarray]:
        """(FC of the DI part, full FC) of each row's carried position (1, 1: none)."""
        return np.ones(len(legs)), np.ones(len(legs))

    def daily_pnl(self, legs: Legs, market: MarketData) -> Columns:
        """The B3 ajuste of D, split (BRL, before costs).

        Carried q_P: total (X_D − X_P·FC)·M·q_P·FX with carry = (pivot − X_P·FC_DI)·M·q_P·FX,
        market = (X_D − pivot)·M·q_P·FX and fx = X_P·(FC_DI − FC)·M·q_P·FX, the pivot being
        :meth:`carry_price` (so carry + market + fx = ajuste up to float rounding). D's
        trades: new_trades = (X_D·Σq − Σq·PO)·M·FX. Nothing is realized.

        Returns:
            Columns :data:`~pms_luigi.core.pricing.base.PNL_COLUMNS`.
        """
        q_p, x_d = num(legs, "prev_quantity"), num(legs, "price")
        x_p0 = np.nan_to_num(num(legs, "prev_price"))
        cs, conv = num(legs, "contract_size"), self.conversion(legs)
        fc_di, fc = self.correction(legs, market)
        pivot = self.carry_price(legs, market)
        h = held(legs)
        carried = (x_d - x_p0 * fc) * cs * conv * q_p
        new = (x_d * num(legs, "day_quantity") - num(legs, "day_cash")) * cs * conv
        return {
            "carry": np.where(h, (pivot - x_p0 * fc_di) * cs * conv * q_p, 0.0),
            "market": np.where(h, (x_d - pivot) * cs * conv * q_p, 0.0),
            "fx": np.where(h, x_p0 * (fc_di - fc) * cs * conv * q_p, 0.0),
            "new_trades": new,
            "realized": np.zeros(len(legs)),
            "total": np.where(h, carried, 0.0) + new,
        }

    def exposures(self, legs: Legs) -> Columns:
        """Notional q·X·M in BRL, signed like q (a long-PU DI1 or DDI, a long DOL or IND is
        +); no market value (settled daily); deltas per contract type.

        Returns:
            Columns :data:`~pms_luigi.core.pricing.base.EXPOSURE_COLUMNS`.
        """
        exposure = num(legs, "quantity") * num(legs, "price") * num(legs, "contract_size")
        zero = np.zeros(len(legs))
        return {"notional": exposure * self.conversion(legs),
                "fx_delta": self.fx_delta(legs, exposure),
                "equity_delta": self.equity_delta(legs, exposure),
                "market_value": zero}

    def fx_delta(self, legs: Legs, exposure: np.ndarray) -> np.ndarray:
        """USD delta (0: not USD-linked)."""
        return np.zeros(len(legs))

    def equity_delta(self, legs: Legs, exposure: np.ndarray) -> np.ndarray:
        """BRL equity delta (0: not equity-linked)."""
        return np.zeros(len(legs))

