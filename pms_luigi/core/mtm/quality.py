"""Data-quality rows and run metadata of the mark.

A stale price — the last price within the ``max_stale_bd`` policy used because D has none —
is written as one WARNING row per instrument (``data_quality_issues``), naming the price's
date, its age and the policy, so the morning pack can show it; the run's metadata counts and
lists the stale instruments.
"""
from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pms_luigi.core.mtm.model import DQ_COLUMNS, STEP, pydates

__all__ = ["quality"]


def quality(d: date, iid: np.ndarray, stale: np.ndarray, on: np.ndarray, age: np.ndarray,
            max_stale: int, total_pnl_brl: float) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(data-quality rows, metadata) of D's marks.

    Args:
        d: D; iid: instrument of each mark (mark order).
        stale / on / age: whether each mark's price is stale, its date and age (business
            days).
        max_stale: the policy, quoted in the message.
        total_pnl_brl: the book P&L, for the metadata.

    Returns:
        Rows with :data:`~pms_luigi.core.mtm.model.DQ_COLUMNS` (one per stale instrument,
        the first in mark order), and positions_marked, total_pnl_brl, stale_prices,
        stale_instruments (sorted).
    """
    st = np.flatnonzero(stale)
    st = np.sort(st[np.unique(iid[st], return_index=True)[1]])
    st_ids = iid[st]
    dq = pd.DataFrame({
        "business_date": [d] * len(st),
        "step": [STEP] * len(st),
        "instrument_id": st_ids,
        "field": ["price"] * len(st),
        "severity": ["WARNING"] * len(st),
        "message": [
            f"{i}: no price on {d.isoformat()}; marked with the {on_day.isoformat()} price "
            f"({bd} business day(s) old, policy max_stale_bd={max_stale})"
            for i, on_day, bd in zip(st_ids, pydates(on[st]), age[st], strict=True)],
    }, columns=list(DQ_COLUMNS))
    stale_ids = sorted(st_ids.astype(str).tolist())
    metadata = {
        "positions_marked": len(iid),
        "total_pnl_brl": total_pnl_brl,
        "stale_prices": len(stale_ids),
        "stale_instruments": stale_ids,
    }
    return dq, metadata
