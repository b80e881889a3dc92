"""Section ``narrative``: a deterministic paragraph generated from the numbers above.

No language model: the text must be reproducible. One sentence per available fact, in
reading order; a missing input is named, never filled in.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from pms_luigi.core.pack.formats import fmt_bps, fmt_brl, fmt_pct
from pms_luigi.core.pack.values import is_unavailable


def build(prev_date: date, s: dict[str, Any]) -> dict[str, Any]:
    """The paragraph from the sections ``s`` (summary ... action_items)."""
    out = [
        *_book(prev_date, s["summary"]),
        *_risk(s["risk"]),
        *_positions(s["positions"]),
        *_market(s["market"]),
        *_proposals(s["proposals"]),
        *_signals(s["signal_changes"]),
        *_calendar(s["calendar"]),
        *_action_items(s["action_items"]),
    ]
    return {"status": "ok", "sentences": out, "text": " ".join(out)}


def _book(prev_date: date, summ: dict[str, Any]) -> list[str]:
    """NAV and P&L at P, MTD/YTD performance, VaR use."""
    out = []
    book = summ.get("book", {})
    if book.get("status") == "ok":
        out.append(f"On {prev_date.isoformat()} the fund closed with NAV "
                   f"{fmt_brl(book['nav_brl'])} and a P&L of "
                   f"{fmt_brl(book['pnl_brl'], signed=True)} ({fmt_bps(book['pnl_bps'])}).")
    else:
        out.append(f"The book for {prev_date.isoformat()} is unavailable.")
    perf = []
    for tag in ("mtd", "ytd"):
        p = summ.get(tag, {})
        if p.get("status") == "ok":
            txt = f"{tag.upper()} {fmt_bps(p['return_bps'])}"
            if p.get("pct_of_cdi") is not None:
                txt += f" ({p['pct_of_cdi']:.0f}% of CDI)"
            perf.append(txt)
    if perf:
        out.append("Performance: " + "; ".join(perf) + ".")
    var = summ.get("var", {})
    if var.get("status") == "ok":
        txt = f"VaR 95% is {fmt_brl(var['var95_brl'])} ({var['var95_bps']:.0f} bps of NAV"
        if var.get("utilization_pct") is not None:
            txt += f", {var['utilization_pct']:.0f}% of its limit"
        out.append(txt + ").")
    return out


def _risk(risk: dict[str, Any]) -> list[str]:
    """Breached limits by name, or how many are at their warning level."""
    if is_unavailable(risk):
        return ["Risk figures are unavailable."]
    if risk["n_breaches"]:
        names = ", ".join(x["name"] for x in risk["limits"] if x["status"] == "BREACHED")
        return [f"{risk['n_breaches']} limit(s) breached: {names}."]
    if risk["n_warnings"]:
        return [f"No limit breached; {risk['n_warnings']} limit(s) above the warning level."]
    return ["All risk limits are within their warning levels."]


def _positions(pos: dict[str, Any]) -> list[str]:
    """The top contributor and the top detractor."""
    if is_unavailable(pos):
        return []
    out = []
    for title, key in (("Top contributor", "top_contributors"),
                       ("Top detractor", "top_detractors")):
        if pos[key]:
            t = pos[key][0]
            out.append(f"{title}: {t['instrument_id']} ({t['strategy_id']}) "
                       f"{fmt_brl(t['pnl_brl'], signed=True)}.")
    return out


def _market(mk: dict[str, Any]) -> list[str]:
    """A B3 closure, the DI1 curve's move and shape, USD/BRL, the Ibovespa future."""
    out = []
    win = mk.get("window", {})
    if win.get("covers_closure"):
        names = ", ".join(f"{x['date']} {x['name']}" for x in win["closed_days"])
        tail = "" if is_unavailable(mk) else "; the market moves shown are that session's"
        out.append(f"B3 has been closed since the {win['last_session']} session ({names}){tail}.")
    di1 = mk.get("di1_curve", {})
    if di1.get("status") == "ok" and di1.get("shape"):
        sh = di1["shape"]
        out.append(f"In the {di1['session']} session the DI1 curve moved "
                   f"{fmt_bps(sh['avg_change_bp'])} on average ({sh['label']}; "
                   f"{sh['short_vertex']}-{sh['long_vertex']} slope "
                   f"{fmt_bps(sh['slope_change_bp'])}).")
    fx = mk.get("usdbrl", {})
    if fx.get("status") == "ok":
        f0 = fx["fixings"][0]
        out.append(f"USD/BRL {f0['kind'].lower()} {f0['rate']:.4f} ({fmt_pct(f0['change_pct'])}).")
    ib = mk.get("ibov", {})
    if ib.get("status") == "ok":
        out.append(f"Ibovespa future {ib['instrument_id']} {ib['price']:,.0f} "
                   f"({fmt_pct(ib['change_pct'])}).")
    return out


def _proposals(props: dict[str, Any]) -> list[str]:
    """How many proposals are pending, and the top-ranked one."""
    if is_unavailable(props):
        return []
    if not props["n_pending"]:
        return ["No trade proposals pending today."]
    first = next(x for x in props["items"] if x["status"] == "PENDING")
    return [f"{props['n_pending']} proposal(s) pending; top ranked: {first['side']} "
            f"{first['instrument_id']} ({first['action']}, conviction "
            f"{abs(first['conviction'] or 0) * 100:.0f}%)."]


def _signals(sig: dict[str, Any]) -> list[str]:
    """Counts of signal flips and conviction surges."""
    if is_unavailable(sig) or not (sig["flips"] or sig["surges"]):
        return []
    return [f"Signals: {len(sig['flips'])} flip(s) and {len(sig['surges'])} conviction "
            f"surge(s) vs the previous day."]


def _calendar(calx: dict[str, Any]) -> list[str]:
    """The next B3 holiday."""
    nh = calx.get("next_b3_holiday")
    if not nh:
        return []
    return [f"Next B3 holiday: {nh['date']} ({nh['name']}), in {nh['business_days_away']} "
            f"business day(s)."]


def _action_items(ai: dict[str, Any]) -> list[str]:
    """Counts of critical and high action items, when there are any."""
    if not (ai["counts"]["CRITICAL"] or ai["counts"]["HIGH"]):
        return []
    return [f"Action items: {ai['counts']['CRITICAL']} critical, {ai['counts']['HIGH']} high."]
