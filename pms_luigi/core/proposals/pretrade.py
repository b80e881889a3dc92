"""Pre-trade risk: the book's risk after each proposal, alone, against the limits.

Why at proposal time: a PM deciding on a trade must see which limits it would breach before
approving it, not after booking it. The checks reuse :mod:`pms_luigi.core.risk` (factor
exposures, historical VaR, stress, book metrics, limit status), so a proposal is measured
exactly as the end-of-day risk snapshot will measure the book that holds it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pms_luigi.core import risk
from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.frames import as_date, json_safe, require
from pms_luigi.core.proposals.conventions import EQUITY_TYPES


def pre_trade_risk(proposals: pd.DataFrame, book_exposures: pd.DataFrame | None,
                   changes: pd.DataFrame, nav: float, limits: pd.DataFrame, *,
                   marks: pd.DataFrame, instruments: pd.DataFrame, fx_spot: float,
                   on: date | None = None, window: int = 252, min_history: int = 60,
                   drawdown: float | None = None,
                   scenarios: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Each proposal's post-trade risk (book at P + that one trade) against the limits.

    * exposures after = ``book_exposures`` (``risk.factor_exposures(marks, instruments,
      spot)``; computed from ``marks`` if None) + the trade's own, built by the same
      ``risk.factor_exposures`` from a position_marks-like row dated ``on`` (dv01_brl;
      delta_brl split back into fx_delta_usd = delta_brl / spot, or equity_delta_brl for
      IND/WIN/EQUITY), so the trade lands in the same du bucket the risk snapshot uses;
    * historical VaR95/VaR99 (``risk.scenario_pnl`` + ``risk.historical_var_es``) over the
      last ``window`` rows of ``changes`` dated <= ``on`` that are complete for every factor
      of the post-trade book; fewer than ``min_history`` rows, or a factor without history,
      gives ``INSUFFICIENT_HISTORY`` and VaR None (its limits NO_DATA, never OK);
    * leverage and concentration from ``risk.book_metrics`` on signed notionals (the marks'
      ``notional_brl`` as stored, the trade's signed like its quantity) netted per
      instrument (the trade offsets the contract it trades), DV01 net/gross and per bucket
      (``dv01_bucket_bps_nav.<factor>``), FX and equity delta;
    * worst stress loss (``risk.stress_table`` over ``scenarios``, the parsed stress
      scenario file, historical replays from the full ``changes``) when given; ``drawdown``
      (fraction of peak NAV, ``risk.current_drawdown``) is carried as is: a trade does not
      change today's drawdown. Without them those limits are NO_DATA;
    * ``risk.limit_status`` of those metrics vs ``limits`` (the limits file as a frame).

    Returns:
        The proposals in the same order with ``breaches`` = one dict per limit in BREACH
        after the trade, sorted by limit: {limit, metric, value, limit_value, headroom =
        limit_value - value (negative = excess), utilisation, value_before, worsens}
        (``worsens`` is False for a trade that leaves an already-breached limit lower: it is
        still flagged, the book stays in breach); and ``risk_impact['pre_trade']`` with the
        before/after metrics, VaR in R$, DV01 by bucket, warnings, NO_DATA limits and the
        scenario count. Everything else intact.

    Raises:
        InvalidInput: NAV or fx_spot not positive, window/min_history < 2, ``on`` unknown
            with an empty book, marks of several dates, an unknown instrument.
    """
    nav, fx = _positive(nav, fx_spot)
    require(proposals, ["instrument_id", "quantity", "notional_brl", "dv01_brl", "delta_brl"],
            "proposals")
    if window < 2 or min_history < 2:
        raise InvalidInput("window and min_history must be at least 2", field="window")
    lim = risk.limits_from_frame(limits)
    marks = marks if marks is not None else pd.DataFrame()
    on = as_date(_book_date(marks) if on is None else on, "on")
    if book_exposures is None:
        book_exposures = risk.factor_exposures(marks, instruments, spot=fx)
    out = proposals.copy()
    if out.empty:
        return out
    labels = [f"__PROPOSAL_{i}__" for i in range(len(out))]
    trade_marks = _trade_marks(out, instruments, labels, on, fx)
    trade_exp = risk.factor_exposures(trade_marks, instruments, spot=fx)
    hist = changes[pd.to_datetime(pd.Index(changes.index)) <= pd.Timestamp(on)] \
        if len(changes) else changes
    ctx = _Context(hist=hist.iloc[-window:], changes=changes, nav=nav, limits=lim,
                   min_history=min_history, drawdown=drawdown,
                   scenarios=risk.scenarios_from_dict(scenarios) if scenarios is not None
                   else None)
    before = _evaluate(book_exposures, _netted_marks(marks), ctx)
    impacts, breaches = [], []
    for i, label in enumerate(labels):  # one what-if per proposal (count is capped by policy)
        exp_i = pd.concat([book_exposures, trade_exp[trade_exp["strategy_id"] == label]],
                          ignore_index=True)
        after = _evaluate(exp_i, _netted_marks(marks, trade_marks.iloc[[i]]), ctx)
        base = out["risk_impact"].iloc[i] if "risk_impact" in out.columns else None
        impact = dict(base) if isinstance(base, Mapping) else {}
        impact["pre_trade"] = _pre_trade_block(before, after, lim, on)
        impacts.append(json_safe(impact))
        breaches.append(json_safe(_breach_rows(before, after)))
    out["risk_impact"] = impacts
    out["breaches"] = breaches
    return out


@dataclass(frozen=True)
class _Context:
    """What every what-if shares: the VaR window, the full history for stress replays, NAV,
    the limits, the minimum history, today's drawdown and the parsed stress scenarios."""

    hist: pd.DataFrame
    changes: pd.DataFrame
    nav: float
    limits: pd.DataFrame
    min_history: int
    drawdown: float | None
    scenarios: Any


def _positive(nav: float, fx_spot: float) -> tuple[float, float]:
    """(NAV, USDBRL) as positive finite floats, or InvalidInput naming the column."""
    nav = float(nav)
    if not (math.isfinite(nav) and nav > 0):
        raise InvalidInput(f"NAV must be positive, got {nav!r}", table="book_snapshots",
                           field="nav_brl")
    fx = float(fx_spot)
    if not (math.isfinite(fx) and fx > 0):
        raise InvalidInput(f"fx_spot USDBRL must be positive, got {fx_spot!r}",
                           table="fx_fixings", field="rate")
    return nav, fx


def _book_date(marks: pd.DataFrame) -> date:
    """P read off the marks when the caller did not pass it: they must hold one date."""
    if not len(marks) or "business_date" not in marks.columns:
        raise InvalidInput("pre_trade_risk: pass on= (P) when the book is empty", field="on")
    dates = marks["business_date"].unique()
    if len(dates) != 1:
        raise InvalidInput("position_marks: book spans several business dates",
                           table="position_marks", field="business_date")
    return pd.Timestamp(dates[0]).date()


def _trade_marks(out: pd.DataFrame, instruments: pd.DataFrame, labels: list[str], on: date,
                 fx: float) -> pd.DataFrame:
    """Each proposal as a position_marks-like row (strategy = its label) dated ``on``."""
    inst = instruments.drop_duplicates("instrument_id").set_index("instrument_id")
    unknown = sorted(set(out["instrument_id"]) - set(inst.index))
    if unknown:
        raise InvalidInput(f"proposals row {unknown[0]}: field instrument_id: unknown instrument",
                           table="proposals", row=unknown[0], field="instrument_id")
    itype = out["instrument_id"].map(inst["instrument_type"]).astype(str).str.upper()
    is_eq = itype.isin(EQUITY_TYPES).to_numpy()
    qty = pd.to_numeric(out["quantity"], errors="coerce").astype(float).to_numpy()
    delta = pd.to_numeric(out["delta_brl"], errors="coerce").astype(float).fillna(0.0).to_numpy()
    notional = pd.to_numeric(out["notional_brl"]).astype(float).abs().to_numpy()
    return pd.DataFrame({
        "business_date": on, "instrument_id": out["instrument_id"].to_numpy(),
        "strategy_id": labels,
        "asset_class": out["instrument_id"].map(inst["asset_class"]).to_numpy(),
        "quantity": qty,
        "notional_brl": np.sign(qty) * notional,
        "dv01_brl": pd.to_numeric(out["dv01_brl"]).astype(float).fillna(0.0).to_numpy(),
        "fx_delta_usd": np.where(is_eq, 0.0, delta / fx),
        "equity_delta_brl": np.where(is_eq, delta, 0.0),
    })


def _netted_marks(marks: pd.DataFrame, extra: pd.DataFrame | None = None) -> pd.DataFrame:
    """Signed notional per instrument (the trade nets against the contract, whatever strategy
    books it), with its asset class: the frame ``risk.book_metrics`` reads."""
    cols = ["instrument_id", "asset_class", "notional_brl"]
    parts = [m.loc[:, cols] for m in (marks, extra) if m is not None and len(m)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=float if c == "notional_brl" else object)
                             for c in cols})
    x = pd.concat(parts, ignore_index=True)
    out = x.groupby("instrument_id", sort=True).agg(asset_class=("asset_class", "first"),
                                                    notional_brl=("notional_brl", "sum"))
    return out.reset_index()


def _bucket_metrics(exposures: pd.DataFrame, nav: float) -> dict[str, float]:
    """|DV01| per curve vertex in bps of NAV per bp: keys ``dv01_bucket_bps_nav.<factor>``,
    so a limits row can cap one bucket (e.g. metric ``dv01_bucket_bps_nav.DI_2520``)."""
    if exposures.empty:
        return {}
    s = exposures.groupby("factor", sort=True)["sensitivity_brl"].sum()
    rate = s[[risk.factor_kind(f) == risk.ABS_BP for f in s.index]]
    return {f"dv01_bucket_bps_nav.{f}": abs(float(v)) / nav * 1e4 for f, v in rate.items()}


def _var(exposures: pd.DataFrame, ctx: _Context) -> tuple[str, int, list[str], Any, Any]:
    """(model status, scenarios used, factors without history, VaR95, VaR99) of a book."""
    hist = ctx.hist
    factors = sorted(set(exposures["factor"])) if len(exposures) else []
    missing = [f for f in factors if f not in hist.columns]
    if not factors:
        return "OK", len(hist), missing, 0.0, 0.0
    if missing:
        return "INSUFFICIENT_HISTORY", 0, missing, None, None
    complete = hist[factors].dropna()
    n = len(complete)
    if n < ctx.min_history:
        return "INSUFFICIENT_HISTORY", n, missing, None, None
    pnl = risk.scenario_pnl(exposures, complete)
    return ("OK", n, missing, risk.historical_var_es(pnl, 0.95)[0],
            risk.historical_var_es(pnl, 0.99)[0])


def _evaluate(exposures: pd.DataFrame, netted: pd.DataFrame, ctx: _Context) -> dict[str, Any]:
    """VaR, worst stress, book metrics, DV01 by bucket and limit status of one book."""
    status, n, missing, var95, var99 = _var(exposures, ctx)
    worst = None
    if ctx.scenarios is not None:
        st = risk.stress_table(exposures, ctx.scenarios, nav=ctx.nav, changes=ctx.changes)
        ok = st.loc[st["status"] == "OK", "pnl_brl"]
        worst = float(ok.min()) if len(ok) else None
    metrics = risk.book_metrics(netted, exposures, ctx.nav, var95_brl=var95, var99_brl=var99,
                                worst_stress_brl=worst, drawdown=ctx.drawdown)
    metrics.update(_bucket_metrics(exposures, ctx.nav))
    rate = exposures[exposures["shock_kind"] == risk.ABS_BP] if len(exposures) else exposures
    buckets = (rate.groupby("factor", sort=True)["sensitivity_brl"].sum().to_dict()
               if len(rate) else {})
    return {"status": status, "n_scenarios": n, "missing_factors": missing,
            "var95_brl": var95, "var99_brl": var99, "metrics": metrics,
            "dv01_by_bucket": buckets, "limits": risk.limit_status(metrics, ctx.limits)}


def _breach_rows(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """The limits in BREACH after the trade, sorted by limit, with their value before."""
    lb = before["limits"].set_index("limit")
    la = after["limits"]
    br = la[la["status"] == "BREACH"].sort_values("limit", kind="mergesort")
    return [{
        "limit": r.limit, "metric": r.metric, "value": float(r.value),
        "limit_value": float(r.limit_value), "headroom": float(r.limit_value - r.value),
        "utilisation": float(r.utilisation),
        "value_before": lb.at[r.limit, "value"],
        "worsens": bool(not (lb.at[r.limit, "value"] >= r.value)),
    } for r in br.itertuples(index=False)]


def _pre_trade_block(before: dict[str, Any], after: dict[str, Any], lim: pd.DataFrame,
                     on: date) -> dict[str, Any]:
    """``risk_impact['pre_trade']``: before/after VaR and metrics, buckets, warnings."""
    la = after["limits"]
    keys = sorted(set(lim["metric"])
                  | {k for k in after["metrics"] if k.startswith("dv01_bucket")})
    return {
        "on": on, "status": after["status"], "n_scenarios": after["n_scenarios"],
        "missing_factors": after["missing_factors"],
        "var95_brl_before": before["var95_brl"], "var95_brl_after": after["var95_brl"],
        "var99_brl_before": before["var99_brl"], "var99_brl_after": after["var99_brl"],
        "metrics_before": {k: before["metrics"].get(k) for k in keys},
        "metrics_after": {k: after["metrics"].get(k) for k in keys},
        "dv01_by_bucket_before": before["dv01_by_bucket"],
        "dv01_by_bucket_after": after["dv01_by_bucket"],
        "warnings": la.loc[la["status"] == "WARNING", "limit"].tolist(),
        "no_data": la.loc[la["status"] == "NO_DATA", "limit"].tolist(),
    }
