"""Section ``proposals``: the proposals for D with their persisted pre-trade risk impact and
breaches, the score and its parts (why each ranks where it does), the cap that cut it, its
roll and its size as a share of the NAV at P (nothing recomputed)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pms_luigi.core.pack.inputs import PackInputs
from pms_luigi.core.pack.risk import metric_unit
from pms_luigi.core.pack.values import (
    MONEY_DP,
    PCT_DP,
    RATIO_DP,
    UTIL_DP,
    first_of,
    json_value,
    money,
    names,
    num,
    rnd,
    rows_on,
    text,
    unavailable,
)

_UNRANKED: Final = 10**9


def build(inp: PackInputs) -> dict[str, Any]:
    """Proposals for D by rank (then id, instrument), with counts by status."""
    if inp.proposals is None:
        return unavailable(f"proposals for {inp.date.isoformat()} were not provided "
                           "(TradeProposals(D))")
    p = rows_on(inp.proposals, "business_date", inp.date)
    ins_names = names(inp.instruments, "instrument_id")
    nav = num((inp.book or {}).get("nav_brl"))
    rows = [_proposal_row(r, ins_names, nav) for r in p.to_dict("records")]
    rows.sort(key=lambda x: (x["rank"] if x["rank"] is not None else _UNRANKED,
                             x["proposal_id"] if x["proposal_id"] is not None else _UNRANKED,
                             x["instrument_id"]))
    statuses: dict[str, int] = {}
    for x in rows:
        statuses[x["status"]] = statuses.get(x["status"], 0) + 1
    return {
        "status": "ok",
        "date": inp.date.isoformat(),
        "n_proposals": len(rows),
        "n_pending": statuses.get("PENDING", 0),
        "by_status": statuses,
        "n_with_breaches": sum(1 for x in rows if x["n_breaches"]),
        "items": rows,
    }


def _proposal_row(r: Mapping[str, Any], ins_names: dict[str, str],
                  nav: float | None) -> dict[str, Any]:
    """One proposal as the pack shows it; shares of NAV use the NAV at P (None without it)."""
    breaches = _breaches(r.get("breaches"))
    iid = str(r["instrument_id"])
    impact = json_value(r.get("risk_impact"))
    impact = impact if isinstance(impact, Mapping) else {}
    caps = impact.get("caps") if isinstance(impact.get("caps"), Mapping) else {}
    notional, risk_1d = num(r.get("notional_brl")), num(impact.get("risk_1d_brl"))
    return {
        **_ranking(impact),
        "notional_pct_nav": _share(notional, nav),
        "risk_1d_brl": money(risk_1d),
        "risk_1d_pct_nav": _share(risk_1d, nav),
        "capped_by": text(caps.get("capped_by")),
        "roll": _roll(iid, impact.get("expiry")),
        "proposal_id": None if num(r.get("proposal_id")) is None else int(r["proposal_id"]),
        "rank": None if num(r.get("rank")) is None else int(r["rank"]),
        "instrument_id": iid,
        "name": ins_names.get(iid, iid),
        "side": str(r["side"]),
        "action": str(r["action"]),
        "quantity": rnd(r.get("quantity"), 6),
        "notional_brl": money(r.get("notional_brl")),
        "dv01_brl": money(r.get("dv01_brl")),
        "delta_brl": money(r.get("delta_brl")),
        "conviction": rnd(r.get("conviction"), RATIO_DP),
        "strategies": _strategies(r.get("strategies")),
        "rationale": text(r.get("rationale")),
        "pre_trade": _pre_trade(r.get("risk_impact")),
        "breaches": breaches,
        "n_breaches": len(breaches),
        "status": str(r["status"]),
        "origin": text(r.get("origin")),
    }


def _share(value: float | None, nav: float | None) -> float | None:
    """A figure in percent of NAV (4 decimals), None when either is missing."""
    if value is None or not nav:
        return None
    return rnd(abs(value) / nav * 100.0, PCT_DP)


def _ranking(impact: Mapping[str, Any]) -> dict[str, Any]:
    """The score and its parts: ``score = |conviction| x budget_target x daily_vol x
    fx_scale`` (R$ of 1-day risk the view commands at full size), stored with the proposal."""
    ranking = impact.get("ranking") if isinstance(impact.get("ranking"), Mapping) else {}
    parts = None
    if ranking:
        parts = {"abs_conviction": rnd(ranking.get("abs_conviction"), RATIO_DP),
                 "budget_target": rnd(ranking.get("budget_target"), MONEY_DP),
                 "daily_vol": rnd(ranking.get("daily_vol"), 8),
                 "fx_scale": rnd(ranking.get("fx_scale"), 8),
                 "risk_budget_brl": money(ranking.get("risk_budget_brl")),
                 "exempt_from_count_cap": not bool(ranking.get("count_capped", True))}
    return {"score": money(first_of(ranking, "score") if ranking else impact.get("score")),
            "score_parts": parts}


def _roll(iid: str, expiry: Any) -> str | None:
    """``near -> next`` when the proposal is a leg of a roll or its view was rolled here."""
    if not isinstance(expiry, Mapping):
        return None
    if expiry.get("roll_to"):
        return f"{iid} -> {expiry['roll_to']}"
    came = sorted({*(expiry.get("roll_from") or []), *(expiry.get("view_rolled_from") or [])})
    return f"{', '.join(came)} -> {iid}" if came else None


def _strategies(v: Any) -> list[dict[str, Any]]:
    """``proposals.strategies``: [{strategy_id, weight, conviction, factor_tags}], a
    {strategy_id: weight} mapping or plain ids; sorted by strategy_id."""
    v = json_value(v)
    if isinstance(v, Mapping):
        v = [{"strategy_id": k, "weight": w} for k, w in v.items()]
    out = []
    for x in v or []:
        if isinstance(x, Mapping):
            out.append({"strategy_id": str(x.get("strategy_id")),
                        "weight": rnd(x.get("weight"), RATIO_DP),
                        "conviction": rnd(x.get("conviction"), RATIO_DP)})
        else:
            out.append({"strategy_id": str(x), "weight": None, "conviction": None})
    return sorted(out, key=lambda x: x["strategy_id"])


def _pre_trade(impact: Any) -> dict[str, Any]:
    """The pre-trade view a PM reads from ``risk_impact['pre_trade']``: VaR 95/99 before ->
    after and the change, limit warnings and NO_DATA limits after the trade."""
    impact = json_value(impact)
    if not isinstance(impact, Mapping):
        return unavailable("the proposal carries no risk impact")
    pre = impact.get("pre_trade")
    out: dict[str, Any] = {
        "target_quantity": rnd(impact.get("target_quantity"), 6),
        "post_trade_quantity": rnd(impact.get("post_trade_quantity"), 6),
        "fat_finger_capped": (bool(impact["fat_finger_capped"])
                              if "fat_finger_capped" in impact else None),
        "measure": None if impact.get("measure") is None else str(impact["measure"]),
    }
    if not isinstance(pre, Mapping):
        out.update({"status": "unavailable",
                    "reason": "pre-trade risk was not computed for this proposal"})
        return out
    v95b, v95a = num(pre.get("var95_brl_before")), num(pre.get("var95_brl_after"))
    v99b, v99a = num(pre.get("var99_brl_before")), num(pre.get("var99_brl_after"))
    out.update({
        "status": "ok",
        "model_status": None if pre.get("status") is None else str(pre["status"]),
        "var95_before_brl": money(v95b),
        "var95_after_brl": money(v95a),
        "var95_change_brl": money(None if v95a is None or v95b is None else v95a - v95b),
        "var99_before_brl": money(v99b),
        "var99_after_brl": money(v99a),
        "var99_change_brl": money(None if v99a is None or v99b is None else v99a - v99b),
        "warnings": sorted(str(x) for x in (pre.get("warnings") or [])),
        "no_data": sorted(str(x) for x in (pre.get("no_data") or [])),
    })
    return out


def _breaches(v: Any) -> list[dict[str, Any]]:
    """``proposals.breaches``: limits in BREACH after the trade, sorted by limit."""
    v = json_value(v)
    if isinstance(v, Mapping):
        v = [v]
    out = []
    for b in v or []:
        if not isinstance(b, Mapping):
            out.append({"limit": str(b), "metric": None, "value": None, "limit_value": None,
                        "utilization_pct": None, "headroom": None, "value_before": None,
                        "worsens": None, "unit": None})
            continue
        metric = None if b.get("metric") is None else str(b["metric"])
        out.append({
            "limit": str(first_of(b, "limit", "name")),
            "metric": metric,
            "value": rnd(b.get("value"), 4),
            "limit_value": rnd(b.get("limit_value"), 4),
            "utilization_pct": rnd(first_of(b, "utilisation", "utilization", "utilization_pct"),
                                   UTIL_DP),
            "headroom": rnd(b.get("headroom"), 4),
            "value_before": rnd(b.get("value_before"), 4),
            "worsens": None if b.get("worsens") is None else bool(b["worsens"]),
            "unit": metric_unit(metric),
        })
    return sorted(out, key=lambda x: x["limit"])
