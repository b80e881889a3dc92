"""What the morning pack reads: persisted upstream outputs, nothing recomputed."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from pms_luigi.core.proposals.policy import FlipGrades


@dataclass
class PackInputs:
    """Everything the pack reads, all persisted upstream outputs (no recomputation here).

    Frames have exactly the columns of the table named (``pms_luigi.store.schema``);
    ``run_id`` may be present or not. ``None`` means "the input could not be read / does not
    exist" and makes the dependent section ``unavailable``; an empty frame means "read, and
    there are none" (e.g. no proposals today), which is a real state and is shown as such.

    Attributes:
        date: D, the trading day the pack is for (an ANBIMA business day).
        prev_date: P, the last close (normally ``calendar.previous_business_day(D)``).
        book: the ``book_snapshots`` row at P as a dict, or None.
        book_history: ``book_snapshots`` rows up to P (equity curve, drawdown).
        marks: ``position_marks`` rows at P.
        risk: the ``risk_snapshots`` row at P as a dict (``details`` dict or JSON string).
        attribution: ``attribution`` rows at P (all periods and dimensions).
        stats: ``performance_stats`` rows at P (``stats`` dict or JSON string per period).
        proposals: ``proposals`` rows for D.
        dq_issues: ``data_quality_issues`` rows for P and D.
        signals_now / signals_prev: ``signals`` at P and at the business day before P.
        curve_prices: ``market_prices`` for at least the last B3 session <= P, the session
            before it and the 5th session before it (DI1, NTN-B, IND, DOL ...).
        fx: ``fx_fixings`` (USDBRL PTAX/CLOSE) covering at least the last two fixings <= P.
        instruments / strategies: reference tables.
        expiry_horizon_bd: flag positions maturing within this many ANBIMA business days of D.
        calendar_horizon_bd: list instrument maturities within this many business days of D.
        surge_threshold: |delta conviction| above which a move is a surge (0.3).
        new_signal_threshold: |conviction| at/above which a new signal is reported.
        top_n: number of top contributors/detractors and top signals.
        fund_name: shown in the header.
        flip_grades: how signal flips and FLIP proposals are graded in the action items
            (the proposal policy's ``flips``).
    """

    date: date
    prev_date: date
    book: Mapping[str, Any] | None = None
    book_history: pd.DataFrame | None = None
    marks: pd.DataFrame | None = None
    risk: Mapping[str, Any] | None = None
    attribution: pd.DataFrame | None = None
    stats: pd.DataFrame | None = None
    proposals: pd.DataFrame | None = None
    dq_issues: pd.DataFrame | None = None
    signals_now: pd.DataFrame | None = None
    signals_prev: pd.DataFrame | None = None
    curve_prices: pd.DataFrame | None = None
    fx: pd.DataFrame | None = None
    instruments: pd.DataFrame | None = None
    strategies: pd.DataFrame | None = None
    expiry_horizon_bd: int = 10
    calendar_horizon_bd: int = 21
    surge_threshold: float = 0.3
    new_signal_threshold: float = 0.5
    top_n: int = 5
    fund_name: str = ""
    flip_grades: FlipGrades = field(default_factory=FlipGrades)
