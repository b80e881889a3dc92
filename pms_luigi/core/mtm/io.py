"""What one date's mark-to-market reads (:class:`MtmInputs`) and returns (:class:`MtmResult`).

Frames carry the DB column names of ``store/schema.py``; the column lists are in
:mod:`~pms_luigi.core.mtm.model`. The ledger a date returns is the next date's input
(:mod:`~pms_luigi.core.mtm.state`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from pms_luigi.core.mtm.model import PTAX
from pms_luigi.core.mtm.state import LedgerState

__all__ = ["MtmInputs", "MtmResult"]


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
        marks: one row per position, columns :data:`~pms_luigi.core.mtm.model.MARK_COLUMNS`.
        book: the book snapshot, keys :data:`~pms_luigi.core.mtm.model.BOOK_COLUMNS`.
        dq_issues: data-quality rows, columns :data:`~pms_luigi.core.mtm.model.DQ_COLUMNS`.
        metadata: positions_marked, total_pnl_brl, stale_prices (count), stale_instruments.
        ledger: the ledger after D's trades, for the next date's ``MtmInputs.ledger``.
    """

    marks: pd.DataFrame
    book: dict[str, Any]
    dq_issues: pd.DataFrame
    metadata: dict[str, Any]
    ledger: LedgerState | None = None
