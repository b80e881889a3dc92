"""What the mark-to-market reads and returns: inputs, result, column lists, small helpers.

Input frames carry the DB column names of ``store/schema.py``; outputs are the
``position_marks`` / ``book_snapshots`` / ``data_quality_issues`` columns minus ``run_id``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pms_luigi.core.mtm.state import LedgerState

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


@dataclass
class MtmInputs:
    """Everything :func:`~pms_luigi.core.mtm.engine.mark_to_market` reads for one business date.

    Frames carry the DB column names.

    Attributes:
        business_date: D.
        prev_date: P, the previous business date (None on the fund's first day).
        instruments: the instruments table.
        trades: every trade with trade_date <= D (the whole ledger: positions are rebuilt
            from it, or from ``ledger`` and the trades after it).
        prev_marks: position_marks of P (empty on the first day); their price / price_date
            are the reference of today's P&L.
        prices: market_prices rows up to D covering D's marks and the staleness window, and
            the rows at the previous marks' price dates (for the published rate behind the
            carry split; without them the rate implied by the price is used).
        fx: fx_fixings (pair USDBRL) for the dates used: D (NDF notional, USD items), P (USD
            items), the business day before D and before the previous mark's price date
            (PTAX, DDI), the business day before a maturing DOL/WDO/NDF maturity (PTAX).
        cdi: cdi_fixings of every business day in [previous mark's price date, D).
        vna: vna rows (index_name NTNB) for D and the NTN-B marks' price dates.
        nav_prev: NAV of P (the fund's initial NAV on the first day).
        capital_flow_brl: net subscriptions of D.
        is_b3_session: whether D is a B3 session (else exchange instruments keep P's marks).
        max_stale_bd: how old (business days) a price may be before it is missing.
        fx_kind: fixing used to translate USD items and NDF notionals ('PTAX' or 'CLOSE');
            DDI always settles at PTAX (contract rule).
        ledger: the ledger state an earlier date returned (``MtmResult.ledger``, usually
            P's): when it is the fold of these ``trades`` up to its date, only the trades
            after it are folded — the same floats; otherwise (or None) the whole ledger is.
    """

    business_date: date
    prev_date: date | None
    instruments: pd.DataFrame
    trades: pd.DataFrame
    prev_marks: pd.DataFrame
    prices: pd.DataFrame
    fx: pd.DataFrame
    cdi: pd.DataFrame
    vna: pd.DataFrame
    nav_prev: float
    capital_flow_brl: float
    is_b3_session: bool
    max_stale_bd: int
    fx_kind: str = PTAX
    ledger: LedgerState | None = None


@dataclass
class MtmResult:
    """The outputs of one date.

    Attributes:
        marks: one row per position, columns :data:`MARK_COLUMNS`.
        book: the book snapshot, keys :data:`BOOK_COLUMNS`.
        dq_issues: data-quality rows, columns :data:`DQ_COLUMNS`.
        metadata: positions_marked, total_pnl_brl, stale_prices (count), stale_instruments.
        ledger: the ledger after D's trades, for the next date's ``MtmInputs.ledger``.
    """

    marks: pd.DataFrame
    book: dict[str, Any]
    dq_issues: pd.DataFrame
    metadata: dict[str, Any]
    ledger: LedgerState | None = None


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
