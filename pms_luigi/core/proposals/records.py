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


def proposal_rows(f: pd.DataFrame, view: pd.DataFrame, ur: pd.DataFrame, fx: float,
                  business_date: date | None) -> list[dict[str, Any]]:
    """One ``proposals`` record per ranked trade of ``f`` (PENDING, origin PIPELINE).

    ``f`` is the sized, ranked frame (see :func:`~pms_luigi.core.proposals.generate.
    generate_proposals`), ``view`` the net views (for the contributors), ``ur`` the unit risk
    (for the price, rate and price date the size was computed from).
    """
    views = view.set_index("instrument_id")
    rows = []
    for r in f.itertuples(index=False):  # formatting text/JSON per proposal (bounded by the cap)
        contrib = contributions(views.loc[r.instrument_id])
        rows.append({
            "business_date": business_date, "instrument_id": r.instrument_id, "side": r.side,
            "action": r.action, "quantity": float(r.trade),
            "notional_brl": float(r.notional_brl), "dv01_brl": float(r.dv01_brl),
            "delta_brl": float(r.delta_brl), "conviction": float(r.conviction),
            "strategies": contrib, "rationale": rationale(r, contrib),
            "risk_impact": json_safe(_risk_impact(r, ur, fx)), "breaches": [],
            "rank": int(r.rank), "status": "PENDING", "origin": "PIPELINE",
        })
    return rows


def _risk_impact(r: Any, ur: pd.DataFrame, fx: float) -> dict[str, Any]:
    """How the size was reached: unit risk, book, target and post-trade figures, budget."""
    return {
        "measure": r.measure, "unit_risk": float(r.unit_signed), "lot_size": float(r.lot),
        "current_quantity": float(r.q0), "target_quantity": float(r.q_star),
        "post_trade_quantity": float(r.q1), "target_risk": float(r.target_risk),
        "trade_risk": float(r.trade_risk), "post_trade_risk": float(r.post_risk),
        "budget_target": float(r.target), "risk_budget_brl": float(r.budget_brl),
        "score": float(r.score), "fat_finger_capped": bool(r.capped),
        "fat_finger_notional_brl": float(r.cap_brl),
        "price": float(ur.at[r.instrument_id, "price"]),
        "rate": ur.at[r.instrument_id, "rate"],
        "price_date": ur.at[r.instrument_id, "price_date"],
        "fx_spot": fx, "asset_class": r.asset_class,
    }


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


def rationale(r: Any, contrib: list[dict[str, Any]]) -> str:
    """The proposal's text: action, view and its contributors, the rule that fired, book ->
    post-trade, target arithmetic, trade and post-trade risk, notional, fat-finger cap."""
    long_w, short_w = _DIRECTION[r.measure]
    direction = long_w if r.conviction > 0 else short_w if r.conviction < 0 else "flat"
    parts = "; ".join(
        f"{c['strategy_id']} {c.get('conviction', float('nan')):+.2f} x w "
        f"{c.get('weight') or 0:.2f}" for c in contrib)
    tags = sorted({t for c in contrib for t in c.get("factor_tags", [])})
    unit = _UNIT[r.measure]
    text = (
        f"{r.action} {r.instrument_id} ({r.asset_class} {r.instrument_type}): {r.side} "
        f"{abs(r.trade):,.0f} (lot {r.lot:g}). Net view {r.conviction:+.4f} ({direction}) from "
        f"{len(contrib)} strateg{'y' if len(contrib) == 1 else 'ies'}: {parts}"
        f"{'; factors ' + ', '.join(tags) if tags else ''}. "
        f"Rule: {r.why.format(a=abs(r.conviction))}. "
        f"Book {r.q0:+,.0f} -> {r.q1:+,.0f}; target {r.q_star:+,.0f} = {r.conviction:+.4f} x "
        f"{r.target:,.0f} {unit} / {abs(r.unit_signed):,.4f} per unit. "
        f"Trade {unit} {r.trade_risk:+,.2f}, post-trade {r.post_risk:+,.2f}; "
        f"notional R$ {r.notional_brl:,.2f}.")
    if r.capped:
        text += f" Capped by the fat-finger limit R$ {r.cap_brl:,.2f}."
    return text
