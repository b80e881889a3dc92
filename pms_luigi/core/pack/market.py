"""Section ``market``: the last B3 session vs the previous settlement — DI1 by vertex (bp),
NTN-B real yields (bp), USD/BRL, the IBOV and dollar futures — and the window since the last
session (after a Brazilian holiday it spans the whole closure)."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from pms_luigi.core import calendar as cal
from pms_luigi.core.pack.inputs import PackInputs
from pms_luigi.core.pack.values import (
    PCT_DP,
    PRICE_DP,
    RATE_PCT_DP,
    bps,
    contract_label,
    date_col,
    instrument_table,
    is_unavailable,
    iso,
    num,
    rnd,
    unavailable,
    vertex_label,
)

_CURVE_BLOCKS = ("di1_curve", "ntnb_real", "ibov", "dol")


def build(inp: PackInputs) -> dict[str, Any]:
    """Market moves since the last B3 session.

    Returns:
        The window and the di1_curve, ntnb_real, ibov, dol and usdbrl blocks; ``partial``
        when some are unavailable; unavailable (with the window) when all are.
    """
    window = market_window(inp)
    sessions = {"s0": date.fromisoformat(window["last_session"]),
                "s1": date.fromisoformat(window["previous_session"]),
                "s5": date.fromisoformat(window["d5_session"])}
    ins = instrument_table(inp)
    if inp.curve_prices is None or ins is None:
        why = ("market_prices for the last sessions were not provided"
               if inp.curve_prices is None
               else "the instruments reference table was not provided")
        blocks = {k: unavailable(why) for k in _CURVE_BLOCKS}
    else:
        blocks = _curve_blocks(inp.curve_prices, ins, sessions)
    blocks["usdbrl"] = _fx_moves(inp)
    n_missing = sum(is_unavailable(v) for v in blocks.values())
    if n_missing == len(blocks):
        out = unavailable("no market data (market_prices, fx_fixings) for the last B3 sessions")
        out["window"] = window
        return out
    return {"status": "ok" if n_missing == 0 else "partial", "window": window, **blocks}


def market_window(inp: PackInputs) -> dict[str, Any]:
    """The "since the last B3 session" window.

    S0 = last B3 session on or before P (settlement prices exist only on sessions);
    S1 = the session before S0 (the "previous settlement" every move is measured against);
    S5 = the 5th session before S0 (the D-5 curve on the chart). The window the PM reads at
    06:00 runs from the S0 close to D's open; after a Brazilian holiday it covers the whole
    closure, whose weekday closures are listed (e.g. Ash Wednesday 2026-02-18: S0 = Fri
    2026-02-13, Carnival Mon 16 and Tue 17 listed, while global markets traded).
    """
    p = inp.prev_date
    s0 = p if cal.is_b3_session(p) else cal.previous_b3_session(p)
    closed = cal.b3_holidays_between(s0 + timedelta(days=1), inp.date - timedelta(days=1))
    return {
        "start": s0.isoformat(),
        "end": inp.date.isoformat(),
        "last_session": s0.isoformat(),
        "previous_session": cal.previous_b3_session(s0).isoformat(),
        "d5_session": cal.previous_b3_session(s0, 5).isoformat(),
        "calendar_days": (inp.date - s0).days,
        "closed_days": [{"date": d.isoformat(), "name": n} for d, n in closed],
        "covers_closure": bool(closed),
        "b3_session_today": cal.is_b3_session(inp.date),
    }


def _curve_blocks(prices: pd.DataFrame, ins: pd.DataFrame,
                  sessions: dict[str, date]) -> dict[str, Any]:
    """The DI1 curve (with its shape), NTN-B real yields, IBOV and dollar front futures."""
    s0 = sessions["s0"]
    di1 = _rate_rows(_price_panel(prices, ins, ["DI1"], sessions), s0)
    ntnb = _rate_rows(_price_panel(prices, ins, ["NTNB"], sessions), s0)
    ind = _front_of(("IND", "WIN"), prices, ins, sessions)
    dol = _front_of(("DOL", "WDO"), prices, ins, sessions)
    return {
        "di1_curve": ({"status": "ok", "session": s0.isoformat(),
                       "vs_session": sessions["s1"].isoformat(),
                       "d5_session": sessions["s5"].isoformat(), "vertices": di1,
                       "shape": _curve_shape(di1)}
                      if di1 else unavailable(f"no DI1 settlement rates on {s0.isoformat()}")),
        "ntnb_real": ({"status": "ok", "session": s0.isoformat(),
                       "vs_session": sessions["s1"].isoformat(), "bonds": ntnb}
                      if ntnb else unavailable(f"no NTN-B real yields on {s0.isoformat()}")),
        "ibov": ({"status": "ok", **_price_move(ind, "index points")} if ind is not None
                 else unavailable(f"no IND/WIN settlement on {s0.isoformat()}")),
        "dol": ({"status": "ok", **_price_move(dol, "R$ per US$1,000")} if dol is not None
                else unavailable(f"no DOL/WDO settlement on {s0.isoformat()}")),
    }


def _price_panel(prices: pd.DataFrame, ins: pd.DataFrame, types: Iterable[str],
                 sessions: dict[str, date]) -> pd.DataFrame:
    """One row per instrument of ``types``: price/rate on each of the named sessions."""
    types = set(types)
    sel = ins.loc[ins["instrument_type"].astype(str).isin(types)]
    if len(sel) == 0 or len(prices) == 0:
        return pd.DataFrame()
    p = prices.loc[prices["instrument_id"].astype(str).isin(set(sel["instrument_id"].astype(str)))]
    p = p.assign(_d=date_col(p["price_date"]))
    out = sel[["instrument_id", "instrument_type", "maturity_date"]].reset_index(drop=True)
    for tag, day in sessions.items():
        snap = p.loc[p["_d"] == day, ["instrument_id", "price", "rate"]].rename(
            columns={"price": f"price_{tag}", "rate": f"rate_{tag}"})
        out = out.merge(snap, on="instrument_id", how="left")
    return out


def _rate_rows(panel: pd.DataFrame, s0: date) -> list[dict[str, Any]]:
    """Rates by vertex, shortest first: level in % a.a. and changes in bp (1 bp = 0.0001 in
    decimal rate) vs S1 and S5; du = ANBIMA business days from S0 to maturity."""
    if len(panel) == 0:
        return []
    pnl = panel.loc[panel["rate_s0"].notna()]
    pnl = pnl.loc[[m is None or m > s0 for m in pnl["maturity_date"]]]
    pnl = pnl.sort_values(["maturity_date", "instrument_id"], na_position="last")
    mats = list(pnl["maturity_date"])
    du_arr = (cal.du(np.full(len(mats), np.datetime64(s0, "D")),
                     np.array([m or s0 for m in mats], dtype="datetime64[D]"), as_of=s0)
              if mats else [])
    rows = []
    cols = ["instrument_id", "maturity_date", "rate_s0", "rate_s1", "rate_s5"]
    for (iid, mat, r0, r1, r5), du_ in zip(pnl[cols].itertuples(index=False), du_arr,
                                           strict=True):
        r0f, r1f, r5f = num(r0), num(r1), num(r5)
        rows.append({
            "instrument_id": str(iid),
            "vertex": contract_label(mat),
            "label": vertex_label(mat),
            "maturity_date": iso(mat),
            "du": int(du_) if mat is not None else None,
            "rate_pct": rnd(r0f * 100, RATE_PCT_DP),
            "rate_prev_pct": rnd(None if r1f is None else r1f * 100, RATE_PCT_DP),
            "rate_d5_pct": rnd(None if r5f is None else r5f * 100, RATE_PCT_DP),
            "change_bp": bps(None if r1f is None else (r0f - r1f) * 1e4),
            "change_5d_bp": bps(None if r5f is None else (r0f - r5f) * 1e4),
        })
    return rows


def _curve_shape(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Average move and slope change (long - short vertex) -> bull/bear, steepener/flattener
    (a slope change under 1 bp is a parallel move)."""
    ch = [x for x in rows if x["change_bp"] is not None]
    if not ch:
        return None
    avg = sum(x["change_bp"] for x in ch) / len(ch)
    short, long_ = ch[0], ch[-1]
    slope = long_["change_bp"] - short["change_bp"] if len(ch) > 1 else 0.0
    direction = "bear" if avg > 0 else ("bull" if avg < 0 else "flat")
    if len(ch) < 2 or abs(slope) < 1.0:
        shape = "parallel"
    else:
        shape = "steepener" if slope > 0 else "flattener"
    if direction == "flat" and shape == "parallel":
        label = "unchanged"
    elif shape == "parallel":
        label = f"parallel {'rise' if avg > 0 else 'fall'}"
    else:
        label = f"{direction} {shape}"
    return {"avg_change_bp": bps(avg), "short_vertex": short["vertex"],
            "long_vertex": long_["vertex"], "slope_change_bp": bps(slope), "label": label}


def _front(panel: pd.DataFrame, s0: date) -> pd.Series | None:
    """The front contract with a settlement on S0 (nearest maturity after S0)."""
    if len(panel) == 0:
        return None
    p = panel.loc[panel["price_s0"].notna()]
    p = p.loc[[m is None or m > s0 for m in p["maturity_date"]]]
    if len(p) == 0:
        return None
    p = p.assign(_m=[m or date.max for m in p["maturity_date"]]).sort_values(
        ["_m", "instrument_id"])
    return p.iloc[0]


def _front_of(families: Iterable[str], prices: pd.DataFrame, ins: pd.DataFrame,
              sessions: dict[str, date]) -> pd.Series | None:
    """The front contract of the first family (full contract before mini) settled on S0."""
    for family in families:
        front = _front(_price_panel(prices, ins, [family], sessions), sessions["s0"])
        if front is not None:
            return front
    return None


def _price_move(row: pd.Series | None, unit: str) -> dict[str, Any] | None:
    """Price on S0 vs S1 (points and %) and vs S5 (%)."""
    if row is None:
        return None
    p0, p1, p5 = num(row["price_s0"]), num(row["price_s1"]), num(row["price_s5"])
    return {
        "instrument_id": str(row["instrument_id"]),
        "maturity_date": iso(row["maturity_date"]),
        "unit": unit,
        "price": rnd(p0, PRICE_DP),
        "price_prev": rnd(p1, PRICE_DP),
        "change": rnd(None if p1 is None else p0 - p1, PRICE_DP),
        "change_pct": rnd(None if not p1 else (p0 / p1 - 1) * 100, PCT_DP),
        "change_5d_pct": rnd(None if not p5 else (p0 / p5 - 1) * 100, PCT_DP),
    }


def _fx_moves(inp: PackInputs) -> dict[str, Any]:
    """USD/BRL fixings: the latest fixing on or before P per kind vs the fixing before it.

    PTAX is the central bank's fixing, published on ANBIMA days (so it exists on Dec 31 when
    B3 is closed); CLOSE is the onshore close. Change % = (last / previous - 1) x 100.
    """
    if inp.fx is None:
        return unavailable("fx_fixings were not provided")
    fx = inp.fx.loc[inp.fx["pair"].astype(str) == "USDBRL"] if len(inp.fx) else inp.fx
    if len(fx) == 0:
        return unavailable(f"no USDBRL fixings on or before {inp.prev_date.isoformat()}")
    fx = fx.assign(_d=date_col(fx["fixing_date"]))
    fx = fx.loc[fx["_d"] <= inp.prev_date].sort_values(["kind", "_d"])
    rows = []
    for kind in sorted(fx["kind"].astype(str).unique()):
        k = fx.loc[fx["kind"].astype(str) == kind]
        last = k.iloc[-1]
        prev = k.iloc[-2] if len(k) > 1 else None
        v0 = float(last["rate"])
        v1 = None if prev is None else float(prev["rate"])
        rows.append({
            "kind": kind,
            "date": last["_d"].isoformat(),
            "rate": rnd(v0, PRICE_DP),
            "prev_date": None if prev is None else prev["_d"].isoformat(),
            "rate_prev": rnd(v1, PRICE_DP),
            "change_pct": rnd(None if not v1 else (v0 / v1 - 1) * 100, PCT_DP),
        })
    if not rows:
        return unavailable(f"no USDBRL fixings on or before {inp.prev_date.isoformat()}")
    order = {"CLOSE": 0, "PTAX": 1}
    rows.sort(key=lambda x: (order.get(x["kind"], 2), x["kind"]))
    return {"status": "ok", "fixings": rows}
