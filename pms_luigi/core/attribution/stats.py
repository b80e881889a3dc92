"""Performance statistics of the fund's daily returns, and the one drawdown definition.

Daily fund return r_t = P&L_t / NAV_{t−1} (flows of day t are credited at its close, so they
do not enter that day's return); CDI daily return d_t = (1 + cdi_t)^(1/252) − 1 from the
annual base-252 rate (the CETIP/B3 convention). One drawdown definition everywhere (stats,
equity curve, pack): peak-to-trough of the return index Π(1+r) anchored at 1 at the start
of the window, as a negative fraction.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from pms_luigi.core.errors import InvalidInput

#: The periods that get statistics (a subset of ``PERIODS``).
STATS_PERIODS: Final = ("MTD", "YTD", "ITD")

#: Trading days per year: annualisation of vol/Sharpe/Sortino (√252) and the CDI daily factor.
ANNUALIZATION: Final = 252


def drawdown(returns: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Drawdown per day of the NAV-return index: I_t / max(1, I_1..I_t) − 1, I_t = Π(1+r).

    The index is anchored at 1 before the first day, so a loss on day one is a drawdown.
    This is the one definition used everywhere (stats, equity curve, pack); it equals
    empyrical's ``drawdown_series``. Values are ≤ 0 (fractions).

    >>> drawdown([-0.1, 0.05, 0.1]).round(6).tolist()
    [-0.1, -0.055, 0.0]
    """
    r = np.asarray(returns, dtype=np.float64)
    index = np.cumprod(1.0 + r)
    peak = np.maximum.accumulate(np.concatenate(([1.0], index)))[1:]
    return index / peak - 1.0


def cdi_daily_returns(cdi_rates: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """CDI daily return (1 + r)^(1/252) − 1 from annual base-252 rates.

    >>> round(float((1 + cdi_daily_returns([0.15])[0]) ** 252), 12)
    1.15
    """
    return np.power(1.0 + np.asarray(cdi_rates, dtype=np.float64), 1.0 / ANNUALIZATION) - 1.0


def _ratios(r: npt.NDArray[np.float64], e: npt.NDArray[np.float64]
            ) -> tuple[float | None, float | None, float | None]:
    """(volatility, sharpe, sortino) of returns ``r`` with excess ``e``; None if undefined."""
    vol = sharpe = sortino = None
    if r.size >= 2:
        vol = float(np.std(r, ddof=1) * math.sqrt(ANNUALIZATION))
        if e.max() != e.min():
            sharpe = float(np.mean(e) / np.std(e, ddof=1) * math.sqrt(ANNUALIZATION))
        downside = math.sqrt(float(np.mean(np.square(np.minimum(e, 0.0)))))
        if downside > 0.0:
            sortino = float(np.mean(e) * math.sqrt(ANNUALIZATION) / downside)
    return vol, sharpe, sortino


def performance_stats(
    returns: npt.ArrayLike,
    cdi_rates: npt.ArrayLike,
    *,
    dates: Sequence[date] | None = None,
    pnl: npt.ArrayLike | None = None,
) -> dict[str, Any]:
    """Performance statistics of a window of daily fund returns, JSON-able, None if undefined.

    Definitions (daily r_t; CDI daily d_t; excess e_t = r_t − d_t; n business days):

    * ``return`` = Π(1+r_t) − 1; ``cdi_return`` = Π(1+d_t) − 1; ``pct_of_cdi`` = return /
      cdi_return ("% do CDI" as a fraction, 1.2 = 120 %; None when the CDI return is 0);
      ``excess_return`` = return − cdi_return.
    * ``volatility`` = sample std(r, ddof=1) · √252 (None if n < 2).
    * ``sharpe`` = mean(e) / std(e, ddof=1) · √252 (None if n < 2 or e is constant).
    * ``sortino`` = mean(e) · √252 / sqrt(mean(min(e, 0)²)), downside deviation over all n
      days with CDI as the minimum acceptable return (None if n < 2 or no day below CDI).
    * ``max_drawdown`` = min of :func:`drawdown` (≤ 0).
    * ``hit_rate`` = days with r > 0 / days with r ≠ 0 (flat days are not bets; None if none).
    * ``best_day_*`` / ``worst_day_*``: max/min r_t and its date.

    These match empyrical-reloaded's ``sharpe_ratio(r, risk_free=d)``,
    ``sortino_ratio(r, required_return=d)``, ``annual_volatility`` and ``max_drawdown``.

    Args:
        returns: daily fund returns r_t (fractions).
        cdi_rates: the annual CDI rate accruing over each day (same length).
        dates: the days, for ``start``/``end`` and the best/worst day dates (else None).
        pnl: the days' P&L in BRL, for ``pnl_brl`` (else None).

    Raises:
        InvalidInput: lengths differ, or no day.
    """
    r = np.asarray(returns, dtype=np.float64)
    cdi = np.asarray(cdi_rates, dtype=np.float64)
    n = int(r.size)
    if cdi.shape != r.shape:
        raise InvalidInput("returns and cdi_rates must have the same length", field="cdi_rate")
    if n == 0:
        raise InvalidInput("performance_stats needs at least one day", field="returns")
    d = cdi_daily_returns(cdi)
    total = float(np.prod(1.0 + r) - 1.0)
    cdi_total = float(np.prod(1.0 + d) - 1.0)
    vol, sharpe, sortino = _ratios(r, r - d)
    positive, negative = int(np.sum(r > 0)), int(np.sum(r < 0))
    best, worst = int(np.argmax(r)), int(np.argmin(r))

    def day_label(i: int) -> str | None:
        return dates[i].isoformat() if dates is not None else None

    return {
        "start": day_label(0),
        "end": day_label(n - 1),
        "n_days": n,
        "pnl_brl": None if pnl is None else float(np.sum(np.asarray(pnl, dtype=np.float64))),
        "return": total,
        "cdi_return": cdi_total,
        "pct_of_cdi": total / cdi_total if cdi_total != 0.0 else None,
        "excess_return": total - cdi_total,
        "volatility": vol,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": float(np.min(drawdown(r))),
        "hit_rate": positive / (positive + negative) if positive + negative else None,
        "positive_days": positive,
        "negative_days": negative,
        "best_day_date": day_label(best),
        "best_day_return": float(r[best]),
        "worst_day_date": day_label(worst),
        "worst_day_return": float(r[worst]),
    }
