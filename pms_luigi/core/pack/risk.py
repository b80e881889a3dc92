"""Section ``risk``: VaR/ES, limits with traffic lights, stress table, DV01 buckets and
exposures, read from the persisted ``risk_snapshots`` row at P (nothing recomputed)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from pms_luigi.core.pack.inputs import PackInputs
from pms_luigi.core.pack.values import (
    RATIO_DP,
    UTIL_DP,
    bps,
    first_of,
    iso,
    json_value,
    money,
    num,
    rnd,
    text,
    unavailable,
)

#: Limit statuses, worst first. Utilisation = |value| / limit x 100: OK below the warning
#: threshold (80 %), WARNING from it up to 100, BREACHED above 100.
LIMIT_STATUSES: Final = ("BREACHED", "WARNING", "OK", "NO_DATA")
DEFAULT_WARN_PCT: Final = 80.0
LIGHTS: Final = MappingProxyType(
    {"OK": "green", "WARNING": "amber", "BREACHED": "red", "NO_DATA": "grey"})

#: Display unit of a limit, from the ``metric`` key of ``risk.book_metrics`` (the persisted
#: limit rows carry the metric, not the unit column of the limits file).
_METRIC_UNITS: Final = (
    ("concentration_pct.", "% of gross"),
    ("dv01_bucket_bps_nav", "bps NAV/bp"),
    ("dv01_net_bps_nav", "bps NAV/bp"),
    ("dv01_gross_bps_nav", "bps NAV/bp"),
    ("leverage", "x"),
    ("_pct_nav", "% of NAV"),
    ("drawdown_pct", "% from peak"),
    ("_bps", "bps of NAV"),
)
_MEASURES: Final = (
    ("var95_brl", "VaR 95% 1d (historical)"),
    ("var99_brl", "VaR 99% 1d (historical)"),
    ("es975_brl", "ES 97.5% 1d (historical)"),
    ("param_var95_brl", "VaR 95% 1d (parametric)"),
    ("param_var99_brl", "VaR 99% 1d (parametric)"),
)


def build(inp: PackInputs) -> dict[str, Any]:
    """Risk vs limits at P.

    VaR/ES are shown in R$ and in bps of NAV at P. A snapshot with status
    INSUFFICIENT_HISTORY carries NULL VaRs: they stay None with the status shown, never 0.
    """
    r = inp.risk
    if r is None:
        return unavailable(f"no risk snapshot at {inp.prev_date.isoformat()} (MarkToMarket(P))")
    details = json_value(r.get("details")) or {}
    if not isinstance(details, Mapping):
        details = {}
    nav = None if inp.book is None else inp.book.get("nav_brl")
    nav_f = float(nav) if nav not in (None, 0) else None
    limits = _norm_limits(details.get("limits"))
    stress = _norm_stress(details.get("stress"), nav_f)
    buckets = _norm_buckets(details.get("dv01_by_bucket"))
    out = {
        "status": "ok",
        "as_of": iso(r.get("business_date")) or inp.prev_date.isoformat(),
        "model_status": str(r.get("status")),
        "n_scenarios": None if r.get("n_scenarios") is None else int(r["n_scenarios"]),
        "var": _var_rows(r, nav_f),
        "limits": limits,
        "n_breaches": sum(1 for x in limits if x["status"] == "BREACHED"),
        "n_warnings": sum(1 for x in limits if x["status"] == "WARNING"),
        "stress": stress if stress else unavailable("the risk snapshot has no stress table"),
        "dv01_buckets": buckets if buckets else unavailable("the risk snapshot has no DV01 "
                                                            "buckets"),
        "exposures": _exposures(inp),
        "lookback": {"start": iso(details.get("window_start")),
                     "end": iso(details.get("window_end"))},
        "missing_factors": sorted(str(x) for x in (details.get("missing_factors") or [])),
        "unmodelled_positions": [
            " / ".join(str(y) for y in x) if isinstance(x, list | tuple) else str(x)
            for x in (details.get("unmodelled_positions") or [])],
        "var99_by_strategy": _component_var(details.get("component_var99_by_strategy")),
    }
    if str(r.get("status")).upper() != "OK":
        out["note"] = (f"risk model status {r.get('status')}: VaR figures it could not compute "
                       "are left empty")
    return out


def _var_rows(r: Mapping[str, Any], nav_f: float | None) -> list[dict[str, Any]]:
    """One row per VaR/ES measure: R$ and bps of NAV (None where the snapshot has none)."""
    rows = []
    for key, label in _MEASURES:
        v = r.get(key)
        v_f = None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
        rows.append({"key": key, "label": label, "value_brl": money(v_f),
                     "bps_of_nav": bps(v_f / nav_f * 1e4) if (v_f is not None and nav_f)
                     else None})
    return rows


def _exposures(inp: PackInputs) -> dict[str, Any]:
    """Notionals, leverage, DV01 and deltas of the book at P."""
    b = inp.book
    if b is None:
        return unavailable("no book snapshot at P")
    return {
        "status": "ok",
        "gross_notional_brl": money(b.get("gross_notional_brl")),
        "net_notional_brl": money(b.get("net_notional_brl")),
        "leverage": rnd(b.get("leverage"), RATIO_DP),
        "dv01_brl": money(b.get("dv01_brl")),
        "fx_delta_usd": money(b.get("fx_delta_usd")),
        "equity_delta_brl": money(b.get("equity_delta_brl")),
    }


def _component_var(comp: Any) -> Any:
    """Component VaR 99 per strategy, largest first (ties by id), or unavailable."""
    if not (isinstance(comp, Mapping) and comp):
        return unavailable("no component VaR in the risk snapshot")
    return sorted(({"strategy_id": str(k), "component_var99_brl": money(v)}
                   for k, v in comp.items()),
                  key=lambda x: (-(x["component_var99_brl"] or 0.0), x["strategy_id"]))


def metric_unit(metric: str | None) -> str | None:
    """The display unit of a limit metric (None when unknown).

    >>> metric_unit("leverage"), metric_unit("dv01_bucket_bps_nav.DI_2520")
    ('x', 'bps NAV/bp')
    """
    if not metric:
        return None
    for needle, unit in _METRIC_UNITS:
        if needle in metric:
            return unit
    return None


def _norm_status(status: Any, util: float | None, warn_pct: float) -> str:
    """BREACHED / WARNING / OK / NO_DATA. The risk step writes BREACH (> 100 %), WARNING
    (>= warn_pct), OK, NO_DATA (metric absent, e.g. VaR under INSUFFICIENT_HISTORY); the
    status is taken as written and only derived from utilisation when a row carries none."""
    if status is not None:
        st = str(status).upper()
        st = {"BREACH": "BREACHED", "WARN": "WARNING"}.get(st, st)
        if st in LIMIT_STATUSES:
            return st
    if util is None:
        return "NO_DATA"
    if util > 100.0:
        return "BREACHED"
    if util >= warn_pct:
        return "WARNING"
    return "OK"


def _items(raw: Any, key: str, value_key: str) -> list[dict[str, Any]]:
    """Rows of a details block stored as a list of dicts or as {name: row-or-value}."""
    if isinstance(raw, Mapping):
        return [{key: k, **(v if isinstance(v, Mapping) else {value_key: v})}
                for k, v in raw.items()]
    return [dict(v) for v in raw if isinstance(v, Mapping)]


def _norm_limits(raw: Any) -> list[dict[str, Any]]:
    """Limit rows of ``details['limits']`` with a traffic light.

    Source rows: {limit, metric, value, limit_value, utilisation (= value / limit_value x
    100), status}. Sorted worst first: BREACHED, WARNING, OK, NO_DATA, then by utilisation
    descending, then name. Light: red / amber / green / grey.
    """
    if raw is None:
        return []
    out = []
    for it in _items(raw, "limit", "value"):
        metric = first_of(it, "metric")
        value = num(first_of(it, "value"))
        limit = num(first_of(it, "limit_value", "max"))
        util = num(first_of(it, "utilisation", "utilization", "utilization_pct"))
        if util is None and value is not None and limit:
            util = abs(value) / abs(limit) * 100.0
        warn = num(first_of(it, "warn_pct"))
        status = _norm_status(first_of(it, "status"), util,
                              warn if warn is not None else DEFAULT_WARN_PCT)
        out.append({
            "name": str(first_of(it, "limit", "name", "limit_name", "metric")),
            "metric": None if metric is None else str(metric),
            "value": rnd(value, 4),
            "limit": rnd(limit, 4),
            "unit": first_of(it, "unit") or metric_unit(None if metric is None else str(metric)),
            "utilization_pct": rnd(util, UTIL_DP),
            "status": status,
            "light": LIGHTS.get(status, "grey"),
        })
    rank = {st: i for i, st in enumerate(LIMIT_STATUSES)}
    out.sort(key=lambda x: (rank[x["status"]], -(x["utilization_pct"]
                                                  if x["utilization_pct"] is not None
                                                  else -1.0), x["name"]))
    return out


def _norm_stress(raw: Any, nav: float | None) -> list[dict[str, Any]]:
    """Stress rows of ``details['stress']`` ({scenario, kind, pnl_brl, pnl_bps, status,
    description}); worst P&L first, rows without data (status NO_DATA, P&L null) last."""
    if raw is None:
        return []
    out = []
    for it in _items(raw, "scenario", "pnl_brl"):
        pnl = num(first_of(it, "pnl_brl", "pnl"))
        pnl_bps = num(first_of(it, "pnl_bps"))
        if pnl_bps is None and pnl is not None and nav:
            pnl_bps = pnl / nav * 1e4
        kind = first_of(it, "kind")
        out.append({
            "scenario": str(first_of(it, "scenario", "name")),
            "kind": None if kind is None else str(kind),
            "description": text(first_of(it, "description")),
            "pnl_brl": money(pnl),
            "pnl_bps": bps(pnl_bps),
            "status": str(first_of(it, "status") or ("OK" if pnl is not None else "NO_DATA")),
        })
    out.sort(key=lambda x: (x["pnl_brl"] is None,
                            x["pnl_brl"] if x["pnl_brl"] is not None else 0.0, x["scenario"]))
    return out


def _bucket_sort_key(b: str) -> tuple[str, int, str]:
    """Order DV01 buckets by curve family then vertex in du: DI_21 < DI_63 < ... < REAL_252."""
    family, _, vertex = b.rpartition("_")
    if vertex.isdigit():
        return (family, int(vertex), b)
    return (b, -1, b) if not b.isdigit() else ("", int(b), b)


def _norm_buckets(raw: Any) -> list[dict[str, Any]]:
    """DV01 by curve vertex from ``details['dv01_by_bucket']`` ({factor: R$ per +1 bp})."""
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        items = [(str(k), v if not isinstance(v, Mapping)
                  else first_of(v, "dv01_brl", "sensitivity_brl")) for k, v in raw.items()]
    else:
        items = [(str(first_of(v, "factor", "bucket", "vertex")),
                  first_of(v, "dv01_brl", "sensitivity_brl"))
                 for v in raw if isinstance(v, Mapping)]
    out = []
    for k, v in items:
        family, _, vertex = k.rpartition("_")
        out.append({"bucket": k, "curve": family or None,
                    "du": int(vertex) if vertex.isdigit() else None, "dv01_brl": money(v)})
    out.sort(key=lambda x: _bucket_sort_key(x["bucket"]))
    return out
