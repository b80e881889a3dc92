"""Section ``signal_changes``: flips, conviction surges, new and dropped signals between the
previous business day and P, and the strongest signals at P."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pms_luigi.core.pack.inputs import PackInputs
from pms_luigi.core.pack.values import RATIO_DP, iso, num, rnd, unavailable

_KEY = ("strategy_id", "signal_id")
_EPS = 1e-12  # a move exactly at a threshold counts as at it, not above it by float noise


def build(inp: PackInputs) -> dict[str, Any]:
    """Signal changes per (strategy, signal).

    flip: the sign of conviction changed (both non-zero); surge: |delta| > surge_threshold
    and not a flip; new: present at P only with |conviction| >= new_signal_threshold;
    dropped: present the day before only.
    """
    if inp.signals_now is None:
        return unavailable(f"signals at {inp.prev_date.isoformat()} were not provided")
    if inp.signals_prev is None:
        return unavailable("signals of the previous business day were not provided")
    now = inp.signals_now[[*_KEY, "conviction"]].astype({"strategy_id": str, "signal_id": str})
    prev = inp.signals_prev[[*_KEY, "conviction"]].astype({"strategy_id": str, "signal_id": str})
    now_date = iso(inp.signals_now["signal_date"].iloc[0]) if len(inp.signals_now) else None
    prev_date = iso(inp.signals_prev["signal_date"].iloc[0]) if len(inp.signals_prev) else None
    j = now.merge(prev, on=list(_KEY), how="outer", suffixes=("_now", "_prev"), indicator=True)
    j = j.sort_values(list(_KEY), kind="mergesort")
    c0 = j["conviction_prev"].astype(float)
    c1 = j["conviction_now"].astype(float)
    both = j["_merge"] == "both"
    flip = both & (np.sign(c0) * np.sign(c1) < 0)
    surge = both & ~flip & ((c1 - c0).abs() > inp.surge_threshold + _EPS)
    new = (j["_merge"] == "left_only") & (c1.abs() >= inp.new_signal_threshold - _EPS)
    dropped = j["_merge"] == "right_only"
    surges = _rows(j, surge)
    surges.sort(key=lambda x: (-abs(x["change"] or 0.0), x["strategy_id"], x["signal_id"]))
    return {
        "status": "ok",
        "date": now_date or inp.prev_date.isoformat(),
        "vs_date": prev_date,
        "n_signals": len(now),
        "surge_threshold": inp.surge_threshold,
        "flips": _rows(j, flip),
        "surges": surges,
        "new": _rows(j, new),
        "dropped": _rows(j, dropped),
        "top_signals": _top(now),
    }


def _rows(j: pd.DataFrame, mask: pd.Series) -> list[dict[str, Any]]:
    """The changes where ``mask`` holds: before, after, change and direction."""
    sel = j.loc[mask]
    return [
        {"strategy_id": s, "signal_id": g, "conviction_prev": rnd(a, RATIO_DP),
         "conviction": rnd(b, RATIO_DP),
         "change": rnd(None if (a is None or b is None) else b - a, RATIO_DP),
         "direction_prev": direction(a), "direction": direction(b)}
        for s, g, a, b in zip(sel["strategy_id"], sel["signal_id"],
                              [num(x) for x in sel["conviction_prev"]],
                              [num(x) for x in sel["conviction_now"]], strict=True)
    ]


def _top(now: pd.DataFrame) -> list[dict[str, Any]]:
    """The ten strongest signals at P by |conviction| (ties by strategy, signal)."""
    topn = (now.assign(_abs=now["conviction"].astype(float).abs())
            .sort_values(["_abs", "strategy_id", "signal_id"], ascending=[False, True, True],
                         kind="mergesort")
            .head(10))
    return [{"strategy_id": s, "signal_id": g, "conviction": rnd(c, RATIO_DP),
             "direction": direction(float(c))}
            for s, g, c in zip(topn["strategy_id"], topn["signal_id"], topn["conviction"],
                               strict=True)]


def direction(c: float | None) -> str | None:
    """LONG / SHORT / NEUTRAL by the sign of a conviction (None when missing)."""
    if c is None:
        return None
    return "LONG" if c > 0 else ("SHORT" if c < 0 else "NEUTRAL")
