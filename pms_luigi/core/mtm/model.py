"""The mark-to-market's column lists, constants and small helpers.

Input frames carry the DB column names of ``store/schema.py``; outputs are the
``position_marks`` / ``book_snapshots`` / ``data_quality_issues`` columns minus ``run_id``
(the inputs and the result themselves: :mod:`~pms_luigi.core.mtm.io`).
"""
from __future__ import annotations

from datetime import date
from typing import Any, Final

import numpy as np
import pandas as pd

#: The step name written in ``data_quality_issues.step``.
STEP: Final = "pms.MarkToMarket"
FX_PAIR: Final = "USDBRL"
PTAX: Final = "PTAX"
#: Quantity scale of the ledger (NUMERIC(24, 6)): cumulative sums are rounded to it.
QTY_DECIMALS: Final = 6
#: Two quantities closer than half a ledger unit are the same quantity.
QTY_TOL: Final = 0.5 * 10.0**-QTY_DECIMALS

MARK_COLUMNS: Final = (
    "business_date", "instrument_id", "strategy_id", "asset_class", "quantity", "avg_cost",
    "price", "price_date", "is_stale", "staleness_bd", "fx_rate", "market_value_brl",
    "notional_brl", "pnl_brl", "pnl_carry_brl", "pnl_market_brl", "pnl_fx_brl",
    "pnl_new_trades_brl", "pnl_realized_brl", "pnl_costs_brl", "pnl_residual_brl", "pnl_bps",
    "dv01_brl", "fx_delta_usd", "equity_delta_brl",
)
#: The parts of a position's P&L; with ``pnl_residual_brl`` they add up to ``pnl_brl``.
PNL_PARTS: Final = ("pnl_carry_brl", "pnl_market_brl", "pnl_fx_brl", "pnl_new_trades_brl",
                    "pnl_realized_brl", "pnl_costs_brl")
BOOK_COLUMNS: Final = (
    "business_date", "nav_brl", "nav_prev_brl", "pnl_brl", "pnl_bps", "capital_flow_brl",
    "cdi_rate", "gross_notional_brl", "net_notional_brl", "leverage", "dv01_brl",
    "fx_delta_usd", "equity_delta_brl", "n_positions", "is_b3_session",
)
DQ_COLUMNS: Final = ("business_date", "step", "instrument_id", "field", "severity", "message")
POSITION_COLUMNS: Final = ("instrument_id", "strategy_id", "quantity", "avg_cost",
                           "realized_pnl", "cost_brl", "n_trades", "last_trade_date")
#: The trade columns the ledger reads, and those it reads when present (a missing cost is 0).
TRADE_COLUMNS: Final = ("trade_id", "trade_date", "instrument_id", "strategy_id", "quantity",
                        "price")
TRADE_OPTIONAL: Final = ("cost_brl",)
#: The columns of the previous marks the MTM reads, and those it reads when present (a mark
#: carried over a day without a B3 session keeps its staleness).
PREV_MARK_COLUMNS: Final = ("instrument_id", "strategy_id", "quantity", "price", "price_date")
PREV_MARK_OPTIONAL: Final = ("is_stale", "staleness_bd")
KEY: Final = ("instrument_id", "strategy_id")
NAT: Final = np.datetime64("NaT", "D")


def num(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column as float64, refusing text that is not a number."""
    return pd.to_numeric(frame[column], errors="raise").to_numpy(dtype=np.float64)


def day_numbers(values: Any) -> np.ndarray:
    """Dates as int64 day numbers: a lookup key free of datetime-unit mismatches."""
    return np.asarray(values).astype("datetime64[D]").astype(np.int64)


def cents(x: Any) -> np.ndarray:
    """Whole centavos, round half-even (numpy's rounding), as int64."""
    return np.round(np.asarray(x, dtype=np.float64) * 100.0).astype(np.int64)


def pydates(arr: np.ndarray) -> list[date | None]:
    """datetime64 values as ``datetime.date`` objects (NaT → None)."""
    return arr.astype("datetime64[D]").tolist()


def pairs(iid: np.ndarray, sid: np.ndarray) -> np.ndarray:
    """(instrument_id, strategy_id) as one "iid\\0sid" text per row: a single hashable key
    whose text order is the tuple order (\\0 sorts before any character)."""
    return np.asarray(iid, dtype=object) + "\0" + np.asarray(sid, dtype=object)
