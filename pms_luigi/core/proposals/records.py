"""The stored form of a proposal: its JSON fields (contributors, risk impact) and the
rationale text a PM reads.

The rationale is a deterministic template: every number in it is also in the record, so the
text can be regenerated and audited, and two runs of the same inputs write the same words.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from types import MappingProxyType
from typing import Any, Final

import pandas as pd

from pms_luigi.core.frames import json_safe

_DIRECTION: Final = MappingProxyType({
    "dv01_brl": ("long PU / receive rates", "short PU / pay rates"),
    "delta_usd": ("long USD / short BRL", "short USD / long BRL"),
    "delta_brl": ("long index", "short index"),
})
_UNIT: Final = MappingProxyType(
    {"dv01_brl": "R$/bp DV01", "delta_usd": "US$ delta", "delta_brl": "R$ delta"})


def proposal_rows(f: pd.DataFrame, holders: Mapping[str, list[dict[str, Any]]],
                  ur: pd.DataFrame, fx: float, business_date: date | None,
                  nav: float | None = None) -> list[dict[str, Any]]:
    """One ``proposals`` record per ranked trade of ``f`` (PENDING, origin PIPELINE).

    ``f`` is the sized, ranked frame (see :func:`~pms_luigi.core.proposals.generate.
    generate_proposals`) with the view's contributors, ``holders`` the strategies holding a
    roll leg no strategy has a view on (they become its contributors), ``ur`` the unit risk
    (for the price, rate and price date the size was computed from), ``nav`` NAV at P (for
    the shares of NAV in ``risk_impact``).

    The stored conviction is the view's; a roll leg without one carries the view of the
    contract it rolls into, or 0 when neither has a view.
    """
    rows = []
    n = len(f)
    for r in f.itertuples(index=False):  # formatting text/JSON per proposal (bounded by the cap)
        contrib = contributions(pd.Series(r._asdict())) or holders.get(r.instrument_id, [])
        conv = _shown_conviction(r)
        rows.append({
            "business_date": business_date, "instrument_id": r.instrument_id, "side": r.side,
            "action": r.action, "quantity": float(r.trade),
            "notional_brl": float(r.notional_brl), "dv01_brl": float(r.dv01_brl),
            "delta_brl": float(r.delta_brl), "conviction": conv,
            "strategies": json_safe(contrib), "rationale": rationale(r, contrib, conv, n, nav),
            "risk_impact": json_safe(_risk_impact(r, ur, fx, n, nav)), "breaches": [],
            "rank": int(r.rank), "status": "PENDING", "origin": "PIPELINE",
        })
    return rows


def _shown_conviction(r: Any) -> float:
    """The view behind the trade: its own, else the one its roll lands in, else 0."""
    for c in (r.conviction, r.roll_conviction):
        if c is not None and not pd.isna(c):
            return float(c)
    return 0.0


def _pct(value: float, nav: float | None) -> float | None:
    return None if nav is None else float(value) / nav * 100.0


def _risk_impact(r: Any, ur: pd.DataFrame, fx: float, n: int,
                 nav: float | None) -> dict[str, Any]:
    """How the size was reached: unit risk, book, target and post-trade figures, budget, the
    caps that applied, the score and its parts, days to expiry and the roll."""
    return {
        "measure": r.measure, "unit_risk": float(r.unit_signed), "lot_size": float(r.lot),
        "current_quantity": float(r.q0), "target_quantity": float(r.q_star),
        "post_trade_quantity": float(r.q1), "target_risk": float(r.target_risk),
        "trade_risk": float(r.trade_risk), "post_trade_risk": float(r.post_risk),
        "budget_target": float(r.target), "risk_budget_brl": float(r.budget_brl),
        "score": float(r.score), "fat_finger_capped": bool(r.fat_finger_capped),
        "fat_finger_notional_brl": float(r.cap_brl),
        "nav_brl": nav, "notional_pct_nav": _pct(r.notional_brl, nav),
        "risk_1d_brl": float(r.risk_1d_brl), "risk_1d_pct_nav": _pct(r.risk_1d_brl, nav),
        "caps": {"capped": bool(r.capped), "capped_by": r.capped_by,
                 "uncapped_quantity": float(r.uncapped),
                 "max_notional_brl": float(r.max_notional_brl),
                 "max_risk_1d_brl": r.max_risk_1d_brl},
        "ranking": {"rank": int(r.rank), "of": n, "score": float(r.score),
                    "abs_conviction": 0.0 if pd.isna(r.conviction) else abs(r.conviction),
                    "risk_budget_brl": float(r.budget_brl), "budget_target": float(r.target),
                    "daily_vol": float(r.daily_vol), "fx_scale": float(r.fx_scale),
                    "count_capped": bool(r.count_capped),
                    "formula": "score = |conviction| x budget_target x daily_vol x fx_scale"},
        "expiry": _expiry_block(r),
        "price": float(ur.at[r.instrument_id, "price"]),
        "rate": ur.at[r.instrument_id, "rate"],
        "price_date": ur.at[r.instrument_id, "price_date"],
        "fx_spot": fx, "asset_class": r.asset_class,
    }


def _expiry_block(r: Any) -> dict[str, Any] | None:
    """Days to expiry, the floor and the roll a contract with a maturity is part of."""
    if pd.isna(r.days_to_expiry):
        return None
    return {"maturity_date": r.maturity_date, "days_to_expiry": int(r.days_to_expiry),
            "min_days_to_expiry": int(r.min_days), "near": bool(r.near),
            "roll_to": r.roll_to if r.roll_out else None, "roll_from": list(r.roll_from),
            "rolled_in_quantity": float(r.rolled_in_quantity),
            "view_rolled_from": list(r.rolled_from) if isinstance(r.rolled_from, list) else [],
            "increase_blocked": bool(r.near_blocked)}


def contributions(vrow: pd.Series) -> list[dict[str, Any]]:
    """The proposal's ``strategies`` JSON: contributors with weight, conviction and factor
    tags (from a view's ``contributions``, or rebuilt from its strategies and weights)."""
    if "contributions" in vrow.index and isinstance(vrow["contributions"], list):
        return json_safe(vrow["contributions"])
    ids = list(vrow["strategies"]) if "strategies" in vrow.index else []
    weights = vrow["weights"] if "weights" in vrow.index \
        and isinstance(vrow["weights"], Mapping) else {}
    tags = list(vrow["factor_tags"]) if "factor_tags" in vrow.index else []
    return json_safe([{"strategy_id": s, "weight": weights.get(s), "factor_tags": tags}
                      for s in ids])


def rationale(r: Any, contrib: list[dict[str, Any]], conv: float, n: int,
              nav: float | None) -> str:
    """The proposal's text: action, view and its contributors, the rule that fired, book ->
    post-trade, target arithmetic, trade and post-trade risk, notional, the roll, the caps and
    the rank with its score."""
    long_w, short_w = _DIRECTION[r.measure]
    direction = long_w if conv > 0 else short_w if conv < 0 else "flat"
    parts = "; ".join(
        f"{c['strategy_id']} {c['conviction']:+.2f} x w {c.get('weight') or 0:.2f}"
        if c.get("conviction") is not None else
        f"{c['strategy_id']} holds {c.get('holding', 0):+,.0f}" for c in contrib)
    tags = sorted({t for c in contrib for t in c.get("factor_tags", [])})
    unit = _UNIT[r.measure]
    whose = "" if not pd.isna(r.conviction) else (
        " (no view)" if pd.isna(r.roll_conviction) else f" (that of {r.roll_to})")
    if all(c.get("conviction") is None for c in contrib):
        source = f"held by {parts}" if parts else "no strategy"
    else:
        source = (f"from {len(contrib)} strateg{'y' if len(contrib) == 1 else 'ies'}: {parts}"
                  f"{'; factors ' + ', '.join(tags) if tags else ''}")
    target = (f"; target {r.q_star:+,.0f} = {conv:+.4f} x {r.target:,.0f} {unit} / "
              f"{abs(r.unit_signed):,.4f} per unit" if not pd.isna(r.conviction) else "")
    text = (
        f"{r.action} {r.instrument_id} ({r.asset_class} {r.instrument_type}): {r.side} "
        f"{abs(r.trade):,.0f} (lot {r.lot:g}). Net view {conv:+.4f}{whose} ({direction}) "
        f"{source}. Rule: {r.why.format(a=abs(conv))}. "
        f"Book {r.q0:+,.0f} -> {r.q1:+,.0f}{target}. "
        f"Trade {unit} {r.trade_risk:+,.2f}, post-trade {r.post_risk:+,.2f}; "
        f"notional R$ {r.notional_brl:,.2f}"
        f"{f' ({r.notional_brl / nav * 100:.2f}% of NAV)' if nav else ''}.")
    return " ".join([text, *_roll_sentences(r), *_cap_sentences(r, nav), _rank_sentence(r, n)])


def _roll_sentences(r: Any) -> list[str]:
    """What expiry did to the proposal: rolled out, rolled into, a view moved, blocked."""
    out = []
    days = None if pd.isna(r.days_to_expiry) else int(r.days_to_expiry)
    if r.roll_out:
        out.append(f"Roll: {r.instrument_id} is {days} business days from expiry (floor "
                   f"{int(r.min_days)}): close it; its risk-equivalent counts as held in "
                   f"{r.roll_to}, sized there.")
    if len(r.roll_from):
        out.append(f"Roll: {', '.join(r.roll_from)} near expiry rolls into this contract; "
                   f"{r.rolled_in_quantity:+,.0f} risk-equivalent counted as held "
                   f"(book + roll {r.q_base:+,.0f}).")
    if isinstance(r.rolled_from, list) and r.rolled_from:
        out.append(f"The signals on {', '.join(r.rolled_from)} (within the days-to-expiry "
                   "floor) count on this contract.")
    if r.near_blocked:
        out.append(f"{r.instrument_id} is {days} business days from expiry (floor "
                   f"{int(r.min_days)}) and no next contract of its family is priced: it may "
                   "only be reduced or closed.")
    return out


def _cap_sentences(r: Any, nav: float | None) -> list[str]:
    """The cap that cut the trade, from the uncapped quantity."""
    if not r.capped:
        return []
    what = {"fat_finger": f"the fat-finger limit R$ {r.cap_brl:,.2f}",
            "notional_pct_nav": f"the notional cap R$ {r.max_notional_brl:,.2f} "
                                f"({r.max_notional_brl / nav * 100 if nav else 0:.2f}% of NAV)",
            "risk_1d_pct_nav": f"the 1-day risk cap R$ {r.max_risk_1d_brl or 0:,.2f}"}
    return [f"Capped by {what[r.capped_by]}: {r.uncapped:+,.0f} asked, {r.trade:+,.0f} "
            "proposed."]


def _rank_sentence(r: Any, n: int) -> str:
    """Why the proposal ranks where it does: the score and its parts."""
    a = 0.0 if pd.isna(r.conviction) else abs(r.conviction)
    vol = f"{r.daily_vol:g} bp" if r.measure == "dv01_brl" else f"{r.daily_vol * 100:g}%"
    fx = f" x USDBRL {r.fx_scale:.4f}" if r.measure == "delta_usd" else ""
    return (f"Rank {int(r.rank)} of {n}: score R$ {r.score:,.0f} = |view| {a:.4f} x R$ "
            f"{r.budget_brl:,.0f} {r.asset_class} 1-day risk budget ({r.target:,.0f} "
            f"{_UNIT[r.measure]} x {vol}{fx}).")
