"""Section ``summary``: NAV, P&L D-1 (R$ and bps), MTD/YTD (bps, %, % of CDI), VaR use,
limit alerts and data-quality counts — the numbers a PM reads first."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from pms_luigi.core.pack.inputs import PackInputs
from pms_luigi.core.pack.values import (
    PCT_DP,
    RATE_PCT_DP,
    RATIO_DP,
    UTIL_DP,
    bps,
    is_unavailable,
    iso,
    json_value,
    money,
    num,
    rnd,
    rows_on,
    unavailable,
)

_LIMIT_ALERT_KEYS = ("name", "status", "light", "utilization_pct", "value", "limit", "unit")
_VAR95_NAMES = ("var95", "var_95", "var95_pct", "var95_nav", "var95_brl")


def build(inp: PackInputs, risk: dict[str, Any], equity: dict[str, Any],
          dq: pd.DataFrame | None) -> dict[str, Any]:
    """The summary from the book at P, the MTD/YTD stats, the risk section and the
    data-quality issues. ``partial`` when some blocks are unavailable, ``unavailable`` when
    all are."""
    if is_unavailable(risk):
        var_use: dict[str, Any] = unavailable(risk["reason"])
        alerts: dict[str, Any] = unavailable(risk["reason"])
    else:
        var_use = _var_use(risk)
        bad = [x for x in risk["limits"] if x["status"] in ("BREACHED", "WARNING")]
        alerts = {
            "status": "ok",
            "n_breaches": sum(1 for x in bad if x["status"] == "BREACHED"),
            "n_warnings": sum(1 for x in bad if x["status"] == "WARNING"),
            "items": [{k: x[k] for k in _LIMIT_ALERT_KEYS} for x in bad],
        }
    if dq is None:
        dq_block: dict[str, Any] = unavailable("data_quality_issues were not provided")
    else:
        sev = dq["severity"].astype(str).str.upper() if len(dq) else pd.Series([], dtype=object)
        dq_block = {"status": "ok", "n_errors": int((sev == "ERROR").sum()),
                    "n_warnings": int((sev == "WARNING").sum())}
    blocks = {"book": _book_block(inp, equity), "mtd": _period_perf(inp, "MTD"),
              "ytd": _period_perf(inp, "YTD"), "var": var_use, "limit_alerts": alerts,
              "data_quality": dq_block}
    n_missing = sum(is_unavailable(v) for v in blocks.values())
    status = "ok" if n_missing == 0 else ("unavailable" if n_missing == len(blocks) else "partial")
    out: dict[str, Any] = {"status": status, "as_of": inp.prev_date.isoformat(), **blocks}
    if status == "unavailable":
        out["reason"] = "no book, performance, risk or data-quality input was available"
    return out


def _period_perf(inp: PackInputs, period: str) -> dict[str, Any]:
    """MTD/YTD performance from the ``performance_stats`` row of the period at P.

    Reads the stats the attribution step stores: ``return`` = prod(1+r_t) - 1 and
    ``cdi_return`` (decimals), ``pct_of_cdi`` = return / cdi_return as a *fraction* (1.2 =
    120 %), ``pnl_brl``, ``max_drawdown`` (fraction <= 0), ``volatility`` (annualised
    fraction), ``sharpe``, ``start``/``end``/``n_days``. Shown as: return in % (x100) and bps
    (x1e4), "% of CDI" in percent (x100), drawdown and volatility in %. Nothing is recomputed.
    """
    if inp.stats is None:
        return unavailable(f"performance_stats at {inp.prev_date.isoformat()} were not provided")
    rows = rows_on(inp.stats, "business_date", inp.prev_date)
    rows = rows.loc[rows["period"].astype(str).str.upper() == period] if len(rows) else rows
    if len(rows) == 0:
        return unavailable(f"no {period} performance_stats row at {inp.prev_date.isoformat()} "
                           f"(PerformanceAttribution(P))")
    st = json_value(rows["stats"].iloc[0])
    if not isinstance(st, Mapping) or num(st.get("return")) is None:
        return unavailable(f"{period} performance_stats at {inp.prev_date.isoformat()} carry "
                           "no return")

    def x100(key: str, nd: int) -> float | None:
        v = num(st.get(key))
        return None if v is None else rnd(v * 100.0, nd)

    ret = float(st["return"])
    excess = num(st.get("excess_return"))
    return {
        "status": "ok",
        "period": period,
        "start": None if st.get("start") is None else str(st["start"]),
        "end": None if st.get("end") is None else str(st["end"]),
        "n_days": None if num(st.get("n_days")) is None else int(st["n_days"]),
        "return_pct": rnd(ret * 100.0, PCT_DP),
        "return_bps": bps(ret * 1e4),
        "pnl_brl": money(st.get("pnl_brl")),
        "cdi_return_pct": x100("cdi_return", PCT_DP),
        "pct_of_cdi": x100("pct_of_cdi", UTIL_DP),
        "excess_return_bps": None if excess is None else bps(float(st["excess_return"]) * 1e4),
        "volatility_pct": x100("volatility", PCT_DP),
        "sharpe": rnd(st.get("sharpe"), RATIO_DP),
        "max_drawdown_pct": x100("max_drawdown", PCT_DP),
    }


def _book_block(inp: PackInputs, equity: dict[str, Any]) -> dict[str, Any]:
    """NAV, P&L, flows, CDI, notionals and leverage of the book at P (+ current drawdown)."""
    b = inp.book
    if b is None:
        return unavailable(f"no book snapshot at {inp.prev_date.isoformat()} (MarkToMarket(P))")
    out = {
        "status": "ok",
        "as_of": iso(b.get("business_date")) or inp.prev_date.isoformat(),
        "nav_brl": money(b.get("nav_brl")),
        "nav_prev_brl": money(b.get("nav_prev_brl")),
        "pnl_brl": money(b.get("pnl_brl")),
        "pnl_bps": bps(b.get("pnl_bps")),
        "capital_flow_brl": money(b.get("capital_flow_brl")),
        "cdi_rate_pct": rnd(None if b.get("cdi_rate") is None else float(b["cdi_rate"]) * 100,
                            RATE_PCT_DP),
        "gross_notional_brl": money(b.get("gross_notional_brl")),
        "net_notional_brl": money(b.get("net_notional_brl")),
        "leverage": rnd(b.get("leverage"), RATIO_DP),
        "n_positions": None if b.get("n_positions") is None else int(b["n_positions"]),
        "is_b3_session": None if b.get("is_b3_session") is None else bool(b["is_b3_session"]),
    }
    if equity.get("status") == "ok":
        out["drawdown_pct"] = equity["current_drawdown_pct"]
    return out


def _var_use(risk: dict[str, Any]) -> dict[str, Any]:
    """VaR 95 in R$, bps of NAV and its limit utilisation (the limit entry named like VaR95)."""
    var95 = next((m for m in risk["var"] if m["key"] == "var95_brl"), None)
    if var95 is None or var95["value_brl"] is None:
        return unavailable(f"VaR 95% not available (risk status {risk.get('model_status')})")
    lim = next((x for x in risk["limits"] if _norm_key(x["name"]) in _VAR95_NAMES), None)
    out = {"status": "ok", "var95_brl": var95["value_brl"], "var95_bps": var95["bps_of_nav"]}
    if lim is not None:
        out.update({"limit": lim["limit"], "unit": lim["unit"],
                    "utilization_pct": lim["utilization_pct"], "limit_status": lim["status"],
                    "light": lim["light"]})
    return out


def _norm_key(name: Any) -> str:
    """A limit name as a key: lower case, spaces to ``_``, only letters, digits and ``_``."""
    return "".join(ch for ch in str(name).lower().replace(" ", "_").replace("%", "")
                   if ch.isalnum() or ch == "_")
