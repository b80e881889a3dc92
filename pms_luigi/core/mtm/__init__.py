"""Positions from the trade ledger and the daily mark-to-market of the book, with P&L explain.

Pure (numpy, pandas, :mod:`pms_luigi.core.calendar`, :mod:`pms_luigi.core.pricing`): no I/O,
no clock. :func:`mark_to_market` takes one date's :class:`MtmInputs` (frames with the DB
column names) and returns an :class:`MtmResult` (``position_marks``, ``book_snapshots`` and
``data_quality_issues`` rows minus ``run_id``). The method, per instrument, is in
``docs/methodology/mark-to-market.md``.

Modules, in the order a mark runs through them:

* :mod:`~.model` — column lists, constants, helpers; :mod:`~.io` — the inputs and result;
* :mod:`~.ledger` — the trades, the average-cost rules, the day's positions checked against
  P's marks;
* :mod:`~.state` — the ledger folded up to a date and carried to the next
  (:class:`LedgerState`);
* :mod:`~.prices` — D's price per position, staleness, final settlements; FX, CDI and VNA;
* :mod:`~.valuation` — each instrument group through its pricer (rates, P&L split, DV01,
  exposures);
* :mod:`~.explain` — costs, centavos and the residual;
* :mod:`~.book` — marks, exposures, the book snapshot and the NAV roll;
* :mod:`~.quality` — data-quality rows and metadata;
* :mod:`~.engine` — :func:`mark_to_market`, the five steps in order.

A backfill hands each date's ``MtmResult.ledger`` to the next date's ``MtmInputs.ledger``,
so a date folds only its own trades.
"""
from __future__ import annotations

from pms_luigi.core.mtm.engine import mark_to_market
from pms_luigi.core.mtm.io import MtmInputs, MtmResult
from pms_luigi.core.mtm.model import (
    BOOK_COLUMNS,
    DQ_COLUMNS,
    MARK_COLUMNS,
    PNL_PARTS,
    POSITION_COLUMNS,
    PREV_MARK_COLUMNS,
    PREV_MARK_OPTIONAL,
    STEP,
    TRADE_COLUMNS,
    TRADE_OPTIONAL,
)
from pms_luigi.core.mtm.prices import mark_window_start
from pms_luigi.core.mtm.state import LedgerState, positions_as_of

__all__ = [
    "BOOK_COLUMNS",
    "DQ_COLUMNS",
    "MARK_COLUMNS",
    "PNL_PARTS",
    "POSITION_COLUMNS",
    "PREV_MARK_COLUMNS",
    "PREV_MARK_OPTIONAL",
    "STEP",
    "TRADE_COLUMNS",
    "TRADE_OPTIONAL",
    "LedgerState",
    "MtmInputs",
    "MtmResult",
    "mark_to_market",
    "mark_window_start",
    "positions_as_of",
]
