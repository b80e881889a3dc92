"""What every proposal module agrees on: column sets, actions, decimals, instrument groups.

Direction: ``conviction`` is signed in [-1, 1] and > 0 means *long in price terms*, the same
sign as ``quantity``: BUY. For DI1, DDI, LTN, NTN-F and NTN-B that is long PU = receive the
fixed rate (the view that the rate falls); for DOL/WDO/NDF long USD against BRL (USDBRL up);
for IND/WIN/equities long the index or the stock. A strategy that wants to *pay* DI emits a
negative conviction on ``DI_PRE``.

Risk figures of a proposal: ``dv01_brl`` = signed BRL P&L of the trade for +1 bp in its yield
(a BUY of DI1 has a negative dv01_brl, as ``position_marks.dv01_brl``); ``delta_brl`` = signed
BRL exposure to the underlying (USDBRL delta in US$ x spot for FX and USD-settled contracts,
index delta for equity, 0 for BRL rate instruments); ``notional_brl`` = |quantity| x
contract_size x price (x USDBRL for a USD instrument).

Money and convictions stay float64 and the writer rounds; convictions are rounded to the
column scale (10 decimals) *before* any threshold is applied, so the stored value and the
decision can never disagree.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final

import numpy as np
import pandas as pd

#: What a trade does to the book position it lands on.
ACTIONS: Final = ("OPEN", "INCREASE", "REDUCE", "CLOSE", "FLIP")
#: Actions that add risk: only these are capped by ``max_proposals`` (an exit never is).
RISK_ADDING: Final = ("OPEN", "INCREASE", "FLIP")
#: Columns of a net view (:func:`~pms_luigi.core.proposals.aggregate.aggregate_signals`).
VIEW_COLUMNS: Final = ("instrument_id", "conviction", "strategies", "weights", "factor_tags",
                       "asset_class", "n_signals", "contributions", "rolled_from")
#: ``proposals`` table columns minus proposal_id, run_id, created_at, updated_at (the writer
#: sets those).
PROPOSAL_COLUMNS: Final = ("business_date", "instrument_id", "side", "action", "quantity",
                           "notional_brl", "dv01_brl", "delta_brl", "conviction", "strategies",
                           "rationale", "risk_impact", "breaches", "rank", "status", "origin")
#: Primary key of a ``signals`` row.
SIGNAL_KEY: Final = ("signal_date", "strategy_id", "signal_id")

#: Instrument types whose risk is a USDBRL delta, and those whose risk is an index delta.
FX_TYPES: Final = ("DOL", "WDO", "NDF")
EQUITY_TYPES: Final = ("IND", "WIN", "EQUITY")

BP: Final = 1e-4
#: ``signals.conviction`` / ``proposals.conviction`` are NUMERIC(14, 10).
CONVICTION_DECIMALS: Final = 10
#: Quantities are NUMERIC(24, 6).
QTY_DECIMALS: Final = 6


def classify(q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """The action of a trade from the position before (``q0``) and after (``q1``) it.

    Defined for ``q0 != q1``: from flat it OPENs, to flat it CLOSEs, across zero it FLIPs,
    otherwise it INCREASEs or REDUCEs the absolute position.

    >>> classify(np.array([0.0, 5.0, 5.0, 5.0, 5.0]), np.array([3.0, 0.0, -2.0, 8.0, 2.0])).tolist()
    ['OPEN', 'CLOSE', 'FLIP', 'INCREASE', 'REDUCE']
    """
    s0, s1 = np.sign(q0), np.sign(q1)
    return np.select(
        [s0 == 0, s1 == 0, s0 != s1, np.abs(q1) > np.abs(q0)],
        ["OPEN", "CLOSE", "FLIP", "INCREASE"], default="REDUCE")


def iso_or_null(value: Any) -> str:
    """A date (or any key part) as it reads in an error message; ``NULL`` when missing."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "NULL"
    if isinstance(value, pd.Timestamp | datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def empty_proposals() -> pd.DataFrame:
    """A proposals frame with no rows (every column of :data:`PROPOSAL_COLUMNS`)."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in PROPOSAL_COLUMNS})
