"""The marks and the book snapshot: exposures, risk and the NAV roll.

A contract maturing in (P, D] appears on D for the last time, marked at its final
settlement: its P&L is the final settlement against P's mark, but its risk columns and
market value are zero (the cash has been paid) and it is not counted in ``n_positions``.

Per position: ``dv01_brl`` is the signed BRL P&L for +1 bp in the position's rate (a long-PU
DI1 or a long bond has a negative DV01), ``fx_delta_usd`` the US$ exposure,
``equity_delta_brl`` the BRL equity exposure, ``notional_brl`` the signed notional (+ long,
− short in the contract's price terms: the sign of the quantity, see
:mod:`pms_luigi.core.pricing.base`) and ``market_value_brl`` the value (zero for futures,
settled daily). The book sums them: gross notional Σ|notional|, net notional Σ notional and
``leverage`` = gross / NAV_D, the gross leverage (the net leverage is |net| / NAV_D; both are
what the risk limits read, from the same marks).

NAV_D = NAV_P + P&L_D + capital flows of D, in whole centavos (the yield on uninvested cash
and fees are not modelled). ``cdi_rate`` is the DI fixing of the business day before D.
"""
from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pms_luigi.core.mtm.model import MARK_COLUMNS, cents, pydates
from pms_luigi.core.pricing.base import Legs, flags, num

__all__ = ["book_snapshot", "marks_frame"]


def marks_frame(d: date, w: pd.DataFrame, legs: Legs, values: pd.DataFrame,
                pnl: pd.DataFrame, stale: np.ndarray, age: np.ndarray) -> pd.DataFrame:
    """D's ``position_marks`` rows (:data:`~pms_luigi.core.mtm.model.MARK_COLUMNS`).

    Args:
        d: D; w: the universe (ids, asset class); legs: quantities, prices, dates.
        values: :func:`~pms_luigi.core.mtm.valuation.value_positions`.
        pnl: :func:`~pms_luigi.core.mtm.explain.explain_pnl`.
        stale / age: the staleness of each mark's price.
    """
    n = len(w)
    live = ~flags(legs, "settling")
    q_d, cs = num(legs, "quantity"), num(legs, "contract_size")

    def masked(column: str) -> np.ndarray:
        # (+ 0.0 turns the −0.0 of "−q × 0" into 0.0)
        return np.where(live, values[column].to_numpy(), 0.0) + 0.0

    dv01 = np.where(live, -q_d * cs * values["dv01_unit"].to_numpy(), 0.0) + 0.0
    return pd.DataFrame({
        "business_date": [d] * n,
        "instrument_id": (w["instrument_id"].to_numpy(dtype=object).astype(str) if n
                          else np.array([], dtype=object)),
        "strategy_id": w["strategy_id"].astype(str).to_numpy() if n else np.array([], object),
        "asset_class": w["asset_class"].to_numpy(dtype=object),
        "quantity": q_d,
        "avg_cost": num(legs, "avg_cost"),
        "price": num(legs, "price"),
        "price_date": pydates(legs["on"]),
        "is_stale": stale,
        "staleness_bd": age.astype(np.int64),
        "fx_rate": values["fx_rate"].to_numpy(),
        "market_value_brl": masked("market_value"),
        "notional_brl": masked("notional"),
        **{c: pnl[c].to_numpy() for c in pnl.columns},
        "dv01_brl": dv01,
        "fx_delta_usd": masked("fx_delta"),
        "equity_delta_brl": masked("equity_delta"),
    }, columns=list(MARK_COLUMNS))


def book_snapshot(d: date, marks: pd.DataFrame, total_c: np.ndarray, nav_prev: float,
                  flow: float, cdi_rate: float | None, is_b3_session: bool, live: np.ndarray
                  ) -> dict[str, Any]:
    """D's ``book_snapshots`` row: NAV roll in centavos, P&L, exposures and leverage.

    Gross and net notional are summed from the marks' signed ``notional_brl`` (0 at expiry),
    so the book, the stored marks and the risk metrics read one set of numbers.

    Args:
        d: D; marks: :func:`marks_frame`.
        total_c: each position's P&L in centavos.
        nav_prev: NAV of P; flow: capital flow of D.
        cdi_rate: DI fixing of the business day before D (None when absent).
        is_b3_session: whether D is one; live: positions not settling today.
    """
    pnl_c = int(total_c.sum())
    nav = (int(cents(nav_prev)) + pnl_c + int(cents(flow))) / 100.0
    notional = marks["notional_brl"].to_numpy(dtype=np.float64)
    gross = float(np.abs(notional).sum())
    return {
        "business_date": d,
        "nav_brl": nav,
        "nav_prev_brl": nav_prev,
        "pnl_brl": pnl_c / 100.0,
        "pnl_bps": pnl_c / 100.0 / nav_prev * 1e4,
        "capital_flow_brl": flow,
        "cdi_rate": cdi_rate,
        "gross_notional_brl": gross,
        "net_notional_brl": float(notional.sum()),
        "leverage": gross / nav if nav > 0 else float("nan"),
        "dv01_brl": float(marks["dv01_brl"].to_numpy().sum()),
        "fx_delta_usd": float(marks["fx_delta_usd"].to_numpy().sum()),
        "equity_delta_brl": float(marks["equity_delta_brl"].to_numpy().sum()),
        "n_positions": int(((marks["quantity"].to_numpy() != 0) & live).sum()),
        "is_b3_session": bool(is_b3_session),
    }

