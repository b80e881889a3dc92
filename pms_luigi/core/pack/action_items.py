"""Section ``action_items``: what the PM must look at, most urgent first.

Rules: limit BREACHED -> CRITICAL, WARNING -> HIGH; pending proposal: a large FLIP (notional
or 1-day risk from the policy's ``flips`` share of NAV) -> CRITICAL, |conviction| >= 0.8 or
pre-trade breaches -> HIGH, else MEDIUM; signal flip graded by |change in conviction| (from
``flips.signal_high_change`` HIGH, from ``signal_medium_change`` MEDIUM, else LOW);
conviction surge -> MEDIUM; data-quality ERROR -> HIGH, WARNING -> LOW; stale price (without
its own data-quality issue) -> MEDIUM; position maturing within ``expiry_horizon_bd``
business days of D -> HIGH within 2 days, else MEDIUM; an unavailable section -> MEDIUM.
Sorted by (priority, category, key, description).
"""
from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd

from pms_luigi.core import calendar as cal
from pms_luigi.core.pack.formats import fmt_brl, fmt_num, unit_suffix
from pms_luigi.core.pack.inputs import PackInputs
from pms_luigi.core.pack.values import (
    date_col,
    instrument_table,
    is_unavailable,
    iso,
    rows_on,
)
from pms_luigi.core.proposals.policy import FlipGrades

PRIORITIES: Final = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
#: Tie-break order of categories within one priority: what the PM must act on first.
CATEGORIES: Final = (
    "limit_breach",
    "limit_warning",
    "proposal",
    "signal_flip",
    "conviction_surge",
    "data_quality",
    "stale_price",
    "expiring_position",
    "missing_input",
)
_HIGH_CONVICTION: Final = 0.8
_EPS: Final = 1e-9  # a change exactly at a threshold counts as at it, not below by float noise
_URGENT_DAYS: Final = 2
_CHECKED_SECTIONS: Final = ("summary", "market", "positions", "risk", "proposals",
                            "signal_changes")


def build(inp: PackInputs, sections: dict[str, Any], dq: pd.DataFrame | None,
          ) -> dict[str, Any]:
    """The sorted action items, with counts per priority.

    Args:
        inp: the pack's inputs (marks and instruments for stale and expiring positions).
        sections: the sections built so far (risk, proposals, signal_changes and the
            sections whose absence is itself an item).
        dq: the data-quality issues of P and D (None when not provided).
    """
    dq_items, dq_instruments = _data_quality(dq)
    items = [
        *_limits(sections["risk"]),
        *_proposals(sections["proposals"], inp.flip_grades),
        *_signals(sections["signal_changes"], inp.flip_grades),
        *dq_items,
        *_stale(inp, dq_instruments),
        *_expiring(inp),
        *[_item("MEDIUM", "missing_input", name,
                f"Section {name} unavailable: {sections[name]['reason']}",
                "Check the upstream step")
          for name in _CHECKED_SECTIONS if is_unavailable(sections.get(name))],
    ]
    prank = {p: i for i, p in enumerate(PRIORITIES)}
    crank = {c: i for i, c in enumerate(CATEGORIES)}
    items.sort(key=lambda x: (prank[x["priority"]], crank[x["category"]], x["key"],
                              x["description"]))
    counts = {p: sum(1 for x in items if x["priority"] == p) for p in PRIORITIES}
    return {"status": "ok", "n_items": len(items), "counts": counts, "items": items}


def _item(priority: str, category: str, key: str, description: str,
          urgency: str) -> dict[str, Any]:
    return {"priority": priority, "category": category, "key": key,
            "description": description, "urgency": urgency}


def _limits(risk: dict[str, Any]) -> list[dict[str, Any]]:
    """BREACHED limits (CRITICAL) and limits at their warning level (HIGH)."""
    if is_unavailable(risk):
        return []
    out = []
    for lim in risk["limits"]:
        used = fmt_num(lim["utilization_pct"], 1)
        value, limit, unit = fmt_num(lim["value"]), fmt_num(lim["limit"]), unit_suffix(lim["unit"])
        if lim["status"] == "BREACHED":
            out.append(_item("CRITICAL", "limit_breach", lim["name"],
                             f"Limit {lim['name']} breached: {value} vs limit {limit}{unit} "
                             f"({used}% used)", "Reduce before the open"))
        elif lim["status"] == "WARNING":
            out.append(_item("HIGH", "limit_warning", lim["name"],
                             f"Limit {lim['name']} at {used}% of limit ({value} vs "
                             f"{limit}{unit})", "Monitor today"))
    return out


def _proposals(proposals: dict[str, Any], grades: FlipGrades) -> list[dict[str, Any]]:
    """Pending proposals: a large FLIP is CRITICAL, a strong view or a pre-trade breach HIGH."""
    if is_unavailable(proposals):
        return []
    out = []
    for p in proposals["items"]:
        if p["status"] != "PENDING":
            continue
        conv = p["conviction"] or 0.0
        pri = "HIGH" if abs(conv) >= _HIGH_CONVICTION or p["n_breaches"] else "MEDIUM"
        if p["action"] == "FLIP" and _large_flip(p, grades):
            pri = "CRITICAL"
        share = "" if p["notional_pct_nav"] is None else f", {p['notional_pct_nav']:.1f}% of NAV"
        desc = (f"{p['side']} {fmt_num(abs(p['quantity'] or 0), 0)} {p['instrument_id']} "
                f"({p['action']}, conviction {abs(conv) * 100:.0f}%, notional "
                f"{fmt_brl(p['notional_brl'])}{share})")
        if p["action"] == "FLIP":
            desc += " [FLIP]"
        if p["roll"] is not None:
            desc += f" [ROLL {p['roll']}]"
        if p["n_breaches"]:
            desc += f" - {p['n_breaches']} pre-trade limit breach(es)"
        key = (f"{p['rank']:06d}:{p['instrument_id']}" if p["rank"] is not None
               else p["instrument_id"])
        out.append(_item(pri, "proposal", key, desc, "Requires review today"))
    return out


def _large_flip(p: dict[str, Any], grades: FlipGrades) -> bool:
    """A FLIP whose trade is large by the policy's ``flips`` thresholds; one whose size in
    NAV is unknown (no NAV at P) counts as large: the pack does not guess it small."""
    notional, risk_1d = p["notional_pct_nav"], p["risk_1d_pct_nav"]
    if notional is None and risk_1d is None:
        return True
    return (notional is not None and notional >= grades.proposal_critical_notional_pct_nav) \
        or (risk_1d is not None and risk_1d >= grades.proposal_critical_risk_1d_pct_nav)


def _flip_priority(change: float | None, grades: FlipGrades) -> str:
    """A signal flip by the size of the move: a flip of a tiny view is not news."""
    size = abs(change or 0.0)
    if size >= grades.signal_high_change - _EPS:
        return "HIGH"
    return "MEDIUM" if size >= grades.signal_medium_change - _EPS else "LOW"


def _signals(signals: dict[str, Any], grades: FlipGrades) -> list[dict[str, Any]]:
    """Signal flips (graded by |change|) and conviction surges (MEDIUM)."""
    if is_unavailable(signals):
        return []
    flips = [_item(_flip_priority(s["change"], grades), "signal_flip",
                   f"{s['strategy_id']}:{s['signal_id']}",
                   f"{s['strategy_id']} flipped {s['signal_id']} {s['direction_prev']} -> "
                   f"{s['direction']} ({s['conviction_prev']:+.2f} -> {s['conviction']:+.2f}, "
                   f"change {abs(s['change'] or 0.0):.2f})",
                   "Review position") for s in signals["flips"]]
    surges = [_item("MEDIUM", "conviction_surge", f"{s['strategy_id']}:{s['signal_id']}",
                    f"{s['strategy_id']} conviction on {s['signal_id']} moved "
                    f"{s['change']:+.2f} ({s['conviction_prev']:+.2f} -> "
                    f"{s['conviction']:+.2f})", "Review sizing") for s in signals["surges"]]
    return flips + surges


def _data_quality(dq: pd.DataFrame | None) -> tuple[list[dict[str, Any]], set[str]]:
    """One item per data-quality issue (ERROR HIGH, else LOW), and the instruments named."""
    if dq is None or not len(dq):
        return [], set()
    d = dq.assign(_d=date_col(dq["business_date"])).sort_values(
        ["_d", "step", "instrument_id", "field"], kind="mergesort")
    out = []
    for r in d.to_dict("records"):
        sev = str(r["severity"]).upper()
        day = r["_d"].isoformat()
        out.append(_item("HIGH" if sev == "ERROR" else "LOW", "data_quality",
                         f"{day}:{r['step']}:{r['instrument_id']}:{r['field']}",
                         f"{sev} {r['step']} {r['instrument_id']} {r['field']} ({day}): "
                         f"{r['message']}", "Fix data before the next run"))
    return out, {str(i) for i in d["instrument_id"]}


def _stale(inp: PackInputs, dq_instruments: set[str]) -> list[dict[str, Any]]:
    """Positions marked with an old price at P, unless a data-quality issue already says so."""
    if inp.marks is None or not len(inp.marks) or "is_stale" not in inp.marks.columns:
        return []
    m = rows_on(inp.marks, "business_date", inp.prev_date)
    st = m.loc[m["is_stale"].astype(bool) & ~m["instrument_id"].astype(str).isin(dq_instruments)]
    if not len(st):
        return []
    g = (st.groupby(st["instrument_id"].astype(str))
         .agg(price_date=("price_date", "min"), staleness_bd=("staleness_bd", "max"))
         .sort_index())
    return [_item("MEDIUM", "stale_price", iid,
                  f"{iid} marked with the {iso(r['price_date'])} price "
                  f"({int(r['staleness_bd'])} business day(s) stale) at "
                  f"{inp.prev_date.isoformat()}", "Check the price source")
            for iid, r in g.iterrows()]


def _expiring(inp: PackInputs) -> list[dict[str, Any]]:
    """Held instruments whose maturity is within ``expiry_horizon_bd`` ANBIMA days of D.

    Business days away = du(D, maturity) (ANBIMA, [D, maturity)); 0 means it matures today.
    """
    if inp.marks is None or inp.instruments is None or len(inp.marks) == 0:
        return []
    ins = instrument_table(inp)
    m = rows_on(inp.marks, "business_date", inp.prev_date)
    if len(m) == 0 or "maturity_date" not in ins.columns:
        return []
    g = m.groupby(m["instrument_id"].astype(str)).agg(
        quantity=("quantity", "sum"),
        strategies=("strategy_id", lambda s: ",".join(sorted(s.astype(str)))))
    g = g.join(ins[["maturity_date"]], how="left")
    g = g.loc[[x is not None for x in g["maturity_date"]]]
    if len(g) == 0:
        return []
    g = g.assign(du=cal.du(np.full(len(g), np.datetime64(inp.date, "D")),
                           np.array(list(g["maturity_date"]), dtype="datetime64[D]"),
                           as_of=inp.date))
    g = g.loc[g["du"] <= inp.expiry_horizon_bd].sort_index()
    out = []
    for iid, r in g.iterrows():
        du_ = int(r["du"])
        when = ("today" if du_ == 0
                else ("already matured" if du_ < 0 else f"in {du_} business day(s)"))
        out.append(_item("HIGH" if du_ <= _URGENT_DAYS else "MEDIUM", "expiring_position", iid,
                         f"{iid} matures {r['maturity_date'].isoformat()} ({when}); net "
                         f"quantity {fmt_num(float(r['quantity']), 0)} in {r['strategies']}",
                         "Roll or close"))
    return out
