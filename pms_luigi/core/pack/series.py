"""Chart data (not a reading section): the equity curve with its drawdown."""
from __future__ import annotations

from typing import Any

import numpy as np

from pms_luigi.core.pack.inputs import PackInputs
from pms_luigi.core.pack.values import PCT_DP, date_col, money, rnd, unavailable


def equity_series(inp: PackInputs) -> dict[str, Any]:
    """Equity curve and drawdown from the book history (``book_snapshots`` up to P).

    Why an index and not raw NAV: NAV jumps with subscriptions/redemptions; the performance
    index compounds the daily return ``pnl_bps / 1e4`` (bps of NAV_{t-1}, as the
    mark-to-market reports it), so flows do not show up as gains or drawdowns::

        index_t = 100 * prod(1 + pnl_bps_i / 1e4)
        drawdown_t = index_t / max_{s<=t} index_s - 1     (in %, the peak anchored at 100)

    Returns:
        {status, start, end, points: [{date, nav_brl, index (6 dp), drawdown_pct}],
        current_drawdown_pct, max_drawdown_pct, cumulative_return_pct}, or unavailable.
    """
    hist = inp.book_history
    if hist is None:
        return unavailable("book history (book_snapshots up to P) was not provided")
    if len(hist) == 0:
        return unavailable(f"no book snapshots on or before {inp.prev_date.isoformat()}")
    h = hist.assign(_d=date_col(hist["business_date"]))
    h = h.loc[h["_d"] <= inp.prev_date].sort_values("_d")
    if len(h) == 0:
        return unavailable(f"no book snapshots on or before {inp.prev_date.isoformat()}")
    ret = h["pnl_bps"].astype(float).to_numpy() / 1e4
    index = 100.0 * np.cumprod(1.0 + ret)
    peak = np.maximum.accumulate(np.maximum(index, 100.0))  # anchored at 100 before day 1
    dd = (index / peak - 1.0) * 100.0
    points = [
        {"date": d.isoformat(), "nav_brl": money(n), "index": rnd(i, 6),
         "drawdown_pct": rnd(x, PCT_DP)}
        for d, n, i, x in zip(h["_d"], h["nav_brl"].astype(float), index, dd, strict=True)
    ]
    return {
        "status": "ok",
        "start": points[0]["date"],
        "end": points[-1]["date"],
        "points": points,
        "current_drawdown_pct": rnd(dd[-1], PCT_DP),
        "max_drawdown_pct": rnd(dd.min(), PCT_DP),
        "cumulative_return_pct": rnd(index[-1] - 100.0, PCT_DP),
    }
