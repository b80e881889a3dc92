"""P&L explain: each position's P&L in BRL as carry, market, FX, new trades, realized and
costs, plus a residual that makes the parts add up exactly.

The pricers split the P&L before costs (:meth:`~pms_luigi.core.pricing.base.Pricer
.daily_pnl`): B3 futures by the exchange's daily settlement, cash instruments by change of
value around the day's average-cost ledger. Here the costs are added — ``pnl_costs_brl`` =
−Σ ``trades.cost_brl`` of D (cost_brl > 0 is a cost paid) — and everything is put in whole
centavos (round half-even): ``pnl_residual_brl`` = total − Σ parts is computed in integer
centavos, so Σ parts + residual == total holds exactly after the writer's own rounding (a
no-op) and the book P&L is the exact sum of the positions. ``pnl_bps`` = P&L / NAV_P × 10⁴.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from pms_luigi.core.mtm.model import PNL_PARTS, cents

__all__ = ["explain_pnl"]

#: The pricers' split, in the order of :data:`~pms_luigi.core.mtm.model.PNL_PARTS` (costs
#: last, added here).
_SPLIT = ("carry", "market", "fx", "new_trades", "realized")


def explain_pnl(values: pd.DataFrame, day_cost: np.ndarray, nav_prev: float
                ) -> tuple[pd.DataFrame, np.ndarray]:
    """P&L columns of the marks, and the total of each position in centavos.

    Args:
        values: :func:`~pms_luigi.core.mtm.valuation.value_positions` (the split and
            ``total`` before costs).
        day_cost: Σ cost_brl of each position's trades on D.
        nav_prev: NAV of P (pnl_bps).

    Returns:
        (frame with pnl_brl, :data:`~pms_luigi.core.mtm.model.PNL_PARTS`,
        pnl_residual_brl, pnl_bps; int64 centavos of pnl_brl).
    """
    costs = -day_cost
    parts_c = [cents(values[c].to_numpy()) for c in _SPLIT] + [cents(costs)]
    total_c = cents(values["total"].to_numpy() + costs)
    n = len(values)
    resid_c = total_c - np.sum(parts_c, axis=0) if n else np.zeros(0, dtype=np.int64)
    pnl = total_c / 100.0
    frame = pd.DataFrame({
        "pnl_brl": pnl,
        **{name: c / 100.0 for name, c in zip(PNL_PARTS, parts_c, strict=True)},
        "pnl_residual_brl": resid_c / 100.0,
        "pnl_bps": pnl / nav_prev * 1e4,
    })
    return frame, total_c
