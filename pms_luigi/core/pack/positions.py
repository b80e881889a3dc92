"""Section ``positions``: strategy -> asset class -> instrument, top contributors and
detractors, the P&L explain and the attribution by dimension, at P.

All figures are sums of ``position_marks`` columns (R$) — no re-pricing.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import pandas as pd

from pms_luigi.core.pack.inputs import PackInputs
from pms_luigi.core.pack.values import (
    PRICE_DP,
    bps,
    iso,
    money,
    names,
    num,
    rnd,
    rows_on,
    unavailable,
)

_EXPLAIN_COMPONENTS: Final = (
    ("carry", "pnl_carry_brl"),
    ("market", "pnl_market_brl"),
    ("fx", "pnl_fx_brl"),
    ("new_trades", "pnl_new_trades_brl"),
    ("realized", "pnl_realized_brl"),
    ("costs", "pnl_costs_brl"),
    ("residual", "pnl_residual_brl"),
)
_SUM_COLUMNS: Final = ("market_value_brl", "notional_brl", "pnl_brl", "pnl_bps", "dv01_brl",
                       "fx_delta_usd", "equity_delta_brl")
_PERIOD_ORDER: Final = ("DAY", "WTD", "MTD", "QTD", "YTD", "ITD")


def build(inp: PackInputs) -> dict[str, Any]:
    """Positions and P&L at P (unavailable without marks, unless the book is flat)."""
    if inp.marks is None:
        return unavailable(f"position_marks at {inp.prev_date.isoformat()} were not provided")
    m = rows_on(inp.marks, "business_date", inp.prev_date)
    n_book = None if inp.book is None else inp.book.get("n_positions")
    if len(m) == 0 and not (n_book is not None and int(n_book) == 0):
        return unavailable(f"no position marks at {inp.prev_date.isoformat()}")
    m = m.copy()
    for c in ("instrument_id", "strategy_id", "asset_class"):
        m[c] = m[c].astype(str)
    for c in [*_SUM_COLUMNS, *(c for _, c in _EXPLAIN_COMPONENTS)]:
        m[c] = m[c].astype(float)
    m = m.sort_values(["strategy_id", "asset_class", "instrument_id"], kind="mergesort")
    ins_names = names(inp.instruments, "instrument_id")
    strat_names = names(inp.strategies, "strategy_id")
    by_ac = m.groupby("asset_class", sort=True)[list(_SUM_COLUMNS)].sum()
    stale = m.loc[m["is_stale"].astype(bool)] if "is_stale" in m.columns else m.iloc[0:0]
    top, bottom = _top_and_bottom(m, inp.top_n, ins_names, strat_names)
    return {
        "status": "ok",
        "as_of": inp.prev_date.isoformat(),
        "n_positions": len(m),
        "n_stale": len(stale),
        "totals": _sums(m[list(_SUM_COLUMNS)].sum()),
        "by_strategy": _tree(m, ins_names, strat_names),
        "by_asset_class": [{"asset_class": ac, **_sums(row)} for ac, row in by_ac.iterrows()],
        "top_contributors": top,
        "top_detractors": bottom,
        "explain": _explain(m, inp.book),
        "attribution": _attribution(inp),
    }


def _sums(g: pd.Series | Mapping[str, Any]) -> dict[str, Any]:
    """The figures of a position, or their sums over a group, rounded."""
    return {
        "market_value_brl": money(g["market_value_brl"]),
        "notional_brl": money(g["notional_brl"]),
        "pnl_brl": money(g["pnl_brl"]),
        "pnl_bps": bps(g["pnl_bps"]),
        "dv01_brl": money(g["dv01_brl"]),
        "fx_delta_usd": money(g["fx_delta_usd"]),
        "equity_delta_brl": money(g["equity_delta_brl"]),
    }


def _tree(m: pd.DataFrame, ins_names: dict[str, str],
          strat_names: dict[str, str]) -> list[dict[str, Any]]:
    """strategy -> asset class -> instrument, each level with its sums."""
    by_sc = m.groupby(["strategy_id", "asset_class"], sort=True)[list(_SUM_COLUMNS)].sum()
    by_s = m.groupby("strategy_id", sort=True)[list(_SUM_COLUMNS)].sum()
    strategies = []
    for sid, srow in by_s.iterrows():
        classes = []
        for (sid2, ac), crow in by_sc.loc[[sid]].iterrows():
            rows = m.loc[(m["strategy_id"] == sid2) & (m["asset_class"] == ac)]
            classes.append({"asset_class": ac, **_sums(crow),
                            "instruments": [_position_row(r, ins_names)
                                            for r in rows.to_dict("records")]})
        strategies.append({"strategy_id": sid, "name": strat_names.get(sid, sid),
                           **_sums(srow), "asset_classes": classes})
    return strategies


def _top_and_bottom(m: pd.DataFrame, top_n: int, ins_names: dict[str, str],
                    strat_names: dict[str, str]) -> tuple[list[dict[str, Any]], ...]:
    """Top contributors and detractors by position (instrument, strategy), ties by key."""
    keys = ["pnl_brl", "instrument_id", "strategy_id"]
    pos = m.loc[m["pnl_brl"] > 0].sort_values(keys, ascending=[False, True, True],
                                              kind="mergesort")
    neg = m.loc[m["pnl_brl"] < 0].sort_values(keys, ascending=[True, True, True],
                                              kind="mergesort")
    return tuple([_position_row(r, ins_names, strat_names)
                  for r in side.head(top_n).to_dict("records")] for side in (pos, neg))


def _explain(m: pd.DataFrame, book: Mapping[str, Any] | None) -> dict[str, Any]:
    """The P&L explain: components in R$ and in bps of NAV_{P-1} (``book.nav_prev_brl``,
    the denominator the mark-to-market uses for pnl_bps), and what the book adds (cash)."""
    nav_prev = None if book is None else num(book.get("nav_prev_brl"))
    comps = []
    for label, col in _EXPLAIN_COMPONENTS:
        v = float(m[col].sum())
        comps.append({"component": label, "pnl_brl": money(v),
                      "pnl_bps": bps(v / nav_prev * 1e4) if nav_prev else None})
    pos_total = float(m["pnl_brl"].sum())
    explain: dict[str, Any] = {
        "components": comps,
        "positions_pnl_brl": money(pos_total),
        "positions_pnl_bps": bps(pos_total / nav_prev * 1e4) if nav_prev else None,
        "sum_of_components_brl": money(float(sum(m[c].sum() for _, c in _EXPLAIN_COMPONENTS))),
    }
    if book is not None and num(book.get("pnl_brl")) is not None:
        book_pnl = float(book["pnl_brl"])
        explain["book_pnl_brl"] = money(book_pnl)
        explain["cash_and_other_brl"] = money(book_pnl - pos_total)
    return explain


def _position_row(r: Mapping[str, Any], ins_names: dict[str, str],
                  strat_names: dict[str, str] | None = None) -> dict[str, Any]:
    """One position's figures (with the strategy's name in the top lists)."""
    out = {
        "instrument_id": r["instrument_id"],
        "name": ins_names.get(r["instrument_id"], r["instrument_id"]),
        "strategy_id": r["strategy_id"],
        "asset_class": r["asset_class"],
        "quantity": rnd(r.get("quantity"), 6),
        "price": rnd(r.get("price"), PRICE_DP),
        "price_date": iso(r.get("price_date")),
        "is_stale": bool(r.get("is_stale")) if r.get("is_stale") is not None else None,
        **_sums(r),
    }
    if strat_names is not None:
        out["strategy_name"] = strat_names.get(r["strategy_id"], r["strategy_id"])
    return out


def _attribution(inp: PackInputs) -> dict[str, Any]:
    """Attribution rows at P as {period: {dimension: [bucket rows]}}, largest |P&L| first."""
    if inp.attribution is None:
        return unavailable(f"attribution at {inp.prev_date.isoformat()} was not provided")
    a = rows_on(inp.attribution, "business_date", inp.prev_date)
    if len(a) == 0:
        return unavailable(f"no attribution rows at {inp.prev_date.isoformat()}")
    a = a.assign(period=a["period"].astype(str), dimension=a["dimension"].astype(str),
                 bucket=a["bucket"].astype(str), pnl_brl=a["pnl_brl"].astype(float),
                 contribution_bps=a["contribution_bps"].astype(float))
    a = a.assign(_abs=a["pnl_brl"].abs()).sort_values(
        ["period", "dimension", "_abs", "bucket"], ascending=[True, True, False, True],
        kind="mergesort")
    periods: dict[str, Any] = {}
    for (per, dim), g in a.groupby(["period", "dimension"], sort=True):
        periods.setdefault(per, {})[dim] = [
            {"bucket": b, "pnl_brl": money(p), "contribution_bps": bps(c)}
            for b, p, c in zip(g["bucket"], g["pnl_brl"], g["contribution_bps"], strict=True)]
    order = [p for p in _PERIOD_ORDER if p in periods] + sorted(
        p for p in periods if p not in _PERIOD_ORDER)
    return {"status": "ok", "periods": periods, "period_order": order,
            "dimensions": sorted(a["dimension"].unique().tolist())}
