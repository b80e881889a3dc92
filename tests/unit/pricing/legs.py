"""Frames of legs and fixings for testing the pricers' verbs."""
from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pms_luigi.core import calendar
from pms_luigi.core.pricing.base import LEG_COLUMNS

P, D = date(2025, 6, 2), date(2025, 6, 3)


class Market:
    """Fixings by day for the tests (implements pricing.MarketData)."""

    def __init__(self, ptax: dict[date, float] | None = None,
                 vna: dict[date, float] | None = None, di: float = 0.149) -> None:
        self._ptax, self._vna, self._di = ptax or {}, vna or {}, di

    def ptax(self, days: np.ndarray) -> np.ndarray:
        return np.array([self._ptax[d] for d in days.astype("datetime64[D]").tolist()])

    fx = ptax

    def di_fixings(self, start: np.datetime64, end: np.datetime64) -> np.ndarray:
        n = int(np.busday_count(start, end, busdaycal=calendar.ANBIMA))
        return np.full(n, self._di)

    def vna(self, days: np.ndarray) -> np.ndarray:
        return np.array([self._vna[d] for d in days.astype("datetime64[D]").tolist()])

    vna_or_nan = vna


def legs(n: int = 1, **columns: Any) -> pd.DataFrame:
    """A frame of ``n`` legs with every leg column: neutral defaults, ``columns`` on top."""
    defaults: dict[str, Any] = {
        "instrument_id": "X", "currency": "BRL", "maturity": np.datetime64("NaT", "D"),
        "contract_size": 1.0, "date": np.datetime64(D), "prev_date": np.datetime64(P),
        "quantity": 0.0, "prev_quantity": 0.0, "held_quantity": 0.0, "day_quantity": 0.0,
        "day_cash": 0.0, "price": np.nan, "on": np.datetime64(D), "prev_price": np.nan,
        "prev_on": np.datetime64(P), "rate": np.nan, "prev_rate": np.nan, "settling": False,
        "realized": 0.0, "new_lots": 0.0, "avg_cost": np.nan, "realized_total": 0.0,
        "fx_rate": np.nan}
    assert set(defaults) == set(LEG_COLUMNS) | {"rate", "prev_rate"}
    frame = {k: np.broadcast_to(np.asarray(columns.get(k, v)), (n,)).copy()
             for k, v in defaults.items()}
    return pd.DataFrame(frame)
