"""The ``risk_snapshots`` row of a business date, assembled from the other risk modules.

exposures (:mod:`.factors`) → factor changes (:mod:`.history`) → VaR/ES (:mod:`.var`) →
stress (:mod:`.stress`) → book metrics and limit utilisation (:mod:`.limits`). Money stays
float64 here; the writer rounds to centavos (half-even) at the database boundary.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Any, Final

import numpy as np
import pandas as pd

from pms_luigi.core.errors import InvalidInput, MissingFxFixing
from pms_luigi.core.frames import as_date, json_safe, require, to_days
from pms_luigi.core.risk.factors import (
    ABS_BP,
    FX_FACTOR,
    exposure_columns,
    factor_kind,
    factor_vector_of,
)
from pms_luigi.core.risk.history import factor_changes
from pms_luigi.core.risk.limits import (
    PerformanceIndex,
    book_metrics,
    current_drawdown,
    limit_columns,
    utilisation_columns,
)
from pms_luigi.core.risk.stress import scenarios_from_dict, stress_rows
from pms_luigi.core.risk.var import (
    DeltaNormal,
    check_finite_pnl,
    component_of_rows,
    sample_covariance,
    tail_count,
    var_es_of_sorted,
)

SNAPSHOT_STATUS_OK: Final[str] = "OK"
SNAPSHOT_STATUS_INSUFFICIENT: Final[str] = "INSUFFICIENT_HISTORY"

_MARK_COLUMNS: Final = ("business_date", "instrument_id", "strategy_id", "asset_class",
                        "quantity", "notional_brl", "dv01_brl", "fx_delta_usd",
                        "equity_delta_brl")
#: The snapshot's VaR columns, in row order: None under INSUFFICIENT_HISTORY, never 0.
_VAR_FIELDS: Final = ("var95_brl", "var99_brl", "es975_brl", "param_var95_brl",
                      "param_var99_brl")


def risk_snapshot(
    marks: pd.DataFrame,
    instruments: pd.DataFrame,
    history: pd.DataFrame,
    fx_history: pd.DataFrame,
    nav: float,
    on: date,
    limits: pd.DataFrame,
    scenarios: Mapping[str, Any] | list[dict[str, Any]],
    window: int = 252,
    min_history: int = 60,
    drawdown: float | None = None,
    *,
    changes: pd.DataFrame | None = None,
    spot: float | None = None,
    fx_kind: str = "CLOSE",
    nav_history: pd.DataFrame | None = None,
    performance: PerformanceIndex | None = None,
) -> dict[str, Any]:
    """The ``risk_snapshots`` row for ``on`` (all columns but run_id).

    Steps: exposures → factor changes ≤ ``on`` → the scenarios of the last ``window`` dates
    complete for every exposed factor → historical VaR95/99, ES97.5 and parametric VaR95/99
    (sample covariance of the same scenarios) → stress → book metrics → limit status.

    ``status``: ``INSUFFICIENT_HISTORY`` when fewer than ``min_history`` complete scenarios
    exist or an exposed factor has no history at all: the five VaR fields are then None
    (never 0), ``details.missing_factors`` names what is missing, and stress/limits are still
    reported (VaR limits NO_DATA). A book with no open position is ``OK`` with zero VaR and
    ``details.empty_book`` true. Open positions whose marks carry no DV01/delta at all are
    listed in ``details.unmodelled_positions`` (their risk is not in the VaR).

    Args:
        marks, instruments, history, fx_history: ``position_marks`` rows dated ``on``, the
            instrument master, ``market_prices`` and ``fx_fixings`` rows.
        nav: NAV of ``on`` in BRL (> 0). on: the business date.
        limits, scenarios: ``config/limits.csv`` and the parsed ``stress_scenarios.json``.
        window, min_history: scenario dates of the VaR; complete scenarios it needs.
        drawdown: fraction of peak NAV; or ``nav_history`` (``book_snapshots`` rows,
            today's included: drawdown of the rows ≤ ``on``); or ``performance``; none of
            them → NO_DATA.
        changes: precomputed ``factor_changes`` (e.g. reused across pre-trade what-ifs).
        spot, fx_kind: USDBRL rate for the FX deltas (default: the ``fx_kind`` fixing dated
            ``on``); the fixing kind (CLOSE or PTAX), also of the USDBRL factor.
        performance: the :class:`PerformanceIndex` of the ``book_snapshots`` rows up to
            ``on`` (today's included) — what ``nav_history`` gives, carried from the day
            before by a caller that computes date after date.

    Returns:
        business_date, status, n_scenarios, var95_brl, var99_brl, es975_brl,
        param_var95_brl, param_var99_brl and ``details`` (plain JSON types).

    Raises:
        InvalidInput: a mark not dated ``on``, NAV not positive, window or min_history < 2,
            more than one of drawdown, nav_history and performance, a ``performance`` of
            another date, any input error of the steps.
        MissingFxFixing: the book has FX delta, no ``spot`` and no fixing dated ``on``.
    """
    on = as_date(on, "on")
    nav = _check_book(marks, nav, on, window, min_history)
    scs = scenarios_from_dict(scenarios)
    lim = limit_columns(limits)
    drawdown, dd_source = _drawdown(drawdown, nav_history, performance, on)
    spot, spot_source = _usd_spot(marks, fx_history, on, fx_kind, spot)
    exposures = exposure_columns(marks, instruments, spot=spot)
    s = factor_vector_of(exposures["factor"], exposures["sensitivity_brl"])
    if changes is None:
        changes = factor_changes(history, instruments, fx_history, on, fx_kind=fx_kind)
    else:
        changes = changes[changes.index <= on]
    status, n_scen, figures, var_details = _value_at_risk(marks, exposures, s, changes,
                                                          window, min_history)
    stress = stress_rows(s, scs, nav=nav, changes=changes)
    metrics = book_metrics(marks, exposures, nav, var95_brl=figures["var95_brl"],
                           var99_brl=figures["var99_brl"], es975_brl=figures["es975_brl"],
                           worst_stress_brl=_worst_stress(stress), drawdown=drawdown)
    notes = _method_notes(window, on, fx_kind) | {
        "spot_usdbrl": spot, "spot_source": spot_source, "drawdown": drawdown,
        "drawdown_source": dd_source}
    details = {"method": notes, **var_details,
               **_book_details(marks, exposures, s, metrics, stress,
                               utilisation_columns(metrics, lim))}
    return {"business_date": on, "status": status, "n_scenarios": n_scen, **figures,
            "details": json_safe(details)}


def _value_at_risk(marks: pd.DataFrame, exposures: Mapping[str, np.ndarray], s: pd.Series,
                   changes: pd.DataFrame, window: int, min_history: int
                   ) -> tuple[str, int, dict[str, float | None], dict[str, Any]]:
    """(status, n_scenarios, the five VaR fields, their details) over the last ``window``
    dates of ``changes``, on the scenarios complete for every exposed factor (``exposures``:
    :func:`exposure_columns`)."""
    missing = [f for f in s.index if f not in changes.columns]
    win = changes.iloc[-window:]
    dates, x = _complete_scenarios(win, [f for f in s.index if f in win.columns])
    details: dict[str, Any] = {"missing_factors": missing,
                               "window_start": dates[0] if len(dates) else None,
                               "window_end": dates[-1] if len(dates) else None}
    if s.empty:
        details["empty_book"] = bool((marks["quantity"].astype(float) == 0).all())
        return SNAPSHOT_STATUS_OK, len(win), dict.fromkeys(_VAR_FIELDS, 0.0), details
    if missing or len(dates) < min_history:
        details["min_history"] = min_history
        return SNAPSHOT_STATUS_INSUFFICIENT, len(dates), \
            dict.fromkeys(_VAR_FIELDS, None), details
    figures, var_details = _var_figures(exposures, s, dates, x)
    return SNAPSHOT_STATUS_OK, len(dates), figures, details | var_details


def _complete_scenarios(win: pd.DataFrame, factors: list[str]) -> tuple[pd.Index, np.ndarray]:
    """(dates, changes) of the ``win`` rows with no NaN among ``factors`` (scenarios × factors,
    Fortran-ordered like a frame's ``to_numpy()``, so the BLAS products that
    :func:`scenario_pnl` and :func:`factor_covariance` run on a frame give the same floats)."""
    x = win[factors].to_numpy(dtype=float) if factors else np.empty((len(win), 0))
    keep = ~np.isnan(x).any(axis=1)
    return win.index[keep], np.asfortranarray(x[keep])


def _check_book(marks: pd.DataFrame, nav: float, on: date, window: int,
                min_history: int) -> float:
    """Validate the marks (columns, all dated ``on``), the NAV and the window; the NAV as float."""
    require(marks, _MARK_COLUMNS, "position_marks")
    on_d = np.datetime64(on, "D")
    if len(marks) and (to_days(marks["business_date"]) != on_d).any():
        bad = marks.loc[to_days(marks["business_date"]) != on_d].iloc[0]
        raise InvalidInput(f"position_marks row {bad['instrument_id']}/{bad['strategy_id']} is "
                           f"dated {bad['business_date']}, not {on}", table="position_marks",
                           row=(bad["instrument_id"], bad["strategy_id"]), field="business_date")
    nav = float(nav)
    if not (math.isfinite(nav) and nav > 0):
        raise InvalidInput(f"NAV on {on} must be positive, got {nav!r}", table="book_snapshots",
                           field="nav_brl")
    if window < 2 or min_history < 2:
        raise InvalidInput("window and min_history must be at least 2", field="window")
    return nav


def _drawdown(drawdown: float | None, nav_history: pd.DataFrame | None,
              performance: PerformanceIndex | None, on: date
              ) -> tuple[float | None, str | None]:
    """(drawdown, source): the argument as given, or that of the book history — the
    ``nav_history`` rows dated ≤ ``on`` (of the performance index when they carry pnl_bps,
    else of the NAV) or the ``performance`` index carried up to ``on``."""
    given = [x is not None for x in (drawdown, nav_history, performance)]
    if sum(given) > 1:
        raise InvalidInput("pass only one of drawdown, nav_history and performance",
                           field="drawdown")
    if performance is not None:
        if performance.on is not None and performance.on != on:
            raise InvalidInput(f"performance index of {performance.on}, not {on}",
                               table="book_snapshots", field="business_date")
        return performance.drawdown, "nav_history"
    if nav_history is None:
        return drawdown, None if drawdown is None else "argument"
    require(nav_history, ["business_date", "nav_brl"], "book_snapshots")
    navs = nav_history.assign(_d=to_days(nav_history["business_date"]))
    navs = navs[navs["_d"] <= np.datetime64(on, "D")].sort_values("_d", kind="stable")
    if not len(navs):
        return None, None
    if navs["_d"].duplicated().any():
        raise InvalidInput("nav_history has duplicate business_date rows",
                           table="book_snapshots", field="business_date")
    if "pnl_bps" in navs:
        return PerformanceIndex.of(navs["pnl_bps"]).drawdown, "nav_history"
    return current_drawdown(navs["nav_brl"]), "nav_history"


def _usd_spot(marks: pd.DataFrame, fx_history: pd.DataFrame, on: date, fx_kind: str,
              spot: float | None) -> tuple[float | None, str | None]:
    """(spot, source) for the FX deltas: the argument, else the USDBRL ``fx_kind`` fixing
    dated exactly ``on`` when the book has FX delta (no stale spot), else none needed."""
    if spot is not None:
        return spot, "argument"
    if not (len(marks) and (marks["fx_delta_usd"].to_numpy(dtype=float) != 0).any()):
        return None, None
    if len(fx_history):
        pick = np.flatnonzero((fx_history["pair"].to_numpy(dtype=object) == FX_FACTOR)
                              & (fx_history["kind"].to_numpy(dtype=object) == fx_kind))
        same_day = to_days(fx_history["fixing_date"].to_numpy()[pick]) == np.datetime64(on, "D")
        if same_day.any():
            rate = fx_history["rate"].to_numpy()[pick[np.argmax(same_day)]]
            return float(rate), f"fx_fixings {fx_kind}"
    raise MissingFxFixing(FX_FACTOR, fx_kind, on)


def _method_notes(window: int, on: date, fx_kind: str) -> dict[str, Any]:
    """How the figures were computed, stored in ``details.method``."""
    return {
        "historical": f"sensitivity-based historical simulation, last {window} factor-change "
                      f"dates <= {on.isoformat()}, scenarios complete for every exposed factor; "
                      "k = ceil(N*(1-alpha)) in Decimal, VaR = -(k-th worst), ES = -mean(k worst)",
        "parametric": "delta-normal, sample covariance (ddof=1) of the same scenarios, "
                      "z from NormalDist, 1-day, mean ignored; component VaR is Euler (additive)",
        "factors": "DI_/REAL_/CUPOM_<du>: constant-maturity vertices, flat-forward 252, abs bp; "
                   f"USDBRL (fx {fx_kind}) and IBOV (front IND, roll-free) relative changes",
        "stress": "first order: bp x DV01 of the bucket, pct x delta; historical replays from "
                  "stored factor changes",
    }


def _var_figures(exposures: Mapping[str, np.ndarray], s: pd.Series, dates: pd.Index,
                 x: np.ndarray) -> tuple[dict[str, float | None], dict[str, Any]]:
    """The five VaR fields over the complete scenarios (``dates`` × ``x``, columns in ``s``
    order), and their details: the worst scenarios (the ES97.5 tail), parametric ES97.5,
    component/marginal VaR99 by factor and component VaR99 by strategy (Euler: they sum to
    the parametric VaR99). Arrays throughout: one P&L sort and one Σs for every confidence
    (the same arithmetic as :func:`scenario_pnl`, :func:`historical_var_es` and
    :func:`parametric_var_from_cov`, without their per-call frames)."""
    sv = s.to_numpy(dtype=float)
    pnl = check_finite_pnl(x @ sv)
    order = np.argsort(pnl, kind="stable")
    ascending = pnl[order]
    var95, _ = var_es_of_sorted(ascending, 0.95)
    var99, _ = var_es_of_sorted(ascending, 0.99)
    _, es975 = var_es_of_sorted(ascending, 0.975)
    dn = DeltaNormal.of(sv, sample_covariance(x))
    marginal99 = dn.marginal(0.99)
    factors = list(s.index)
    tail = order[:tail_count(len(pnl), 0.975)]
    figures = {"var95_brl": var95, "var99_brl": var99, "es975_brl": es975,
               "param_var95_brl": dn.var(0.95), "param_var99_brl": dn.var(0.99)}
    return figures, {
        "worst_scenarios": [{"date": d, "pnl_brl": v}
                            for d, v in zip(dates[tail], pnl[tail].tolist(), strict=True)],
        "param_es975_brl": dn.es(0.975),
        "component_var99_by_factor": dict(zip(factors, dn.component(0.99).tolist(),
                                              strict=True)),
        "marginal_var99_by_factor": dict(zip(factors, marginal99.tolist(), strict=True)),
        "component_var99_by_strategy": _component_by_strategy(exposures, factors, marginal99),
    }


def _component_by_strategy(exposures: Mapping[str, np.ndarray], factors: list[str],
                           marginal: np.ndarray) -> dict[str, float]:
    """Euler component VaR by strategy: Σ over a strategy's exposure rows of sensitivity ×
    marginal VaR of the row's factor (:func:`component_by_exposure`), by strategy name. A
    sorted groupby sum by the strategy values: the group ids (hence the summation, hence the
    floats) of grouping the exposures frame by its strategy_id column."""
    per_row = component_of_rows(exposures["sensitivity_brl"], exposures["factor"],
                                pd.Series(marginal, index=factors))
    return pd.Series(per_row).groupby(exposures["strategy_id"]).sum().sort_index().to_dict()


def _worst_stress(rows: list[dict[str, Any]]) -> float | None:
    """The lowest P&L of the stress rows with data (NaN skipped, as a Series min), or None."""
    ok = [r["pnl_brl"] for r in rows if r["status"] == "OK" and r["pnl_brl"] == r["pnl_brl"]]
    return float(min(ok)) if ok else None


def _position_keys(iid: pd.Series | np.ndarray, sid: pd.Series | np.ndarray
                   ) -> set[tuple[str, str]]:
    """(instrument_id, strategy_id) pairs, as text (the ids as ``str`` gives them)."""
    return set(zip(map(str, iid.tolist()), map(str, sid.tolist()), strict=True))


def _records(columns: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of equal-length ``columns`` (lists, arrays or Series) as dicts of Python
    values, like a frame's ``to_dict("records")``."""
    values = [c.tolist() if hasattr(c, "tolist") else list(c) for c in columns.values()]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def _book_details(marks: pd.DataFrame, exposures: Mapping[str, np.ndarray], s: pd.Series,
                  metrics: Mapping[str, float | None], stress: list[dict[str, Any]],
                  limits_tbl: Mapping[str, Any]) -> dict[str, Any]:
    """Positions, exposures by factor, DV01 by bucket, metrics, stress and limit rows
    (``stress``: :func:`stress_rows`; ``limits_tbl``: :func:`utilisation_columns`)."""
    factors, sens = list(s.index), s.to_numpy(dtype=float)
    is_rate = np.array([factor_kind(f) == ABS_BP for f in factors], dtype=bool)
    is_open = marks["quantity"].to_numpy(dtype=float) != 0
    open_marks = marks[is_open]
    keys = _position_keys(open_marks["instrument_id"], open_marks["strategy_id"]) \
        - _position_keys(exposures["instrument_id"], exposures["strategy_id"])
    limits = _records(limits_tbl)
    return {
        "n_positions": int(is_open.sum()),
        # open positions with no DV01/delta at all: their risk is NOT in the VaR (data issue)
        "unmodelled_positions": [[iid, sid] for iid, sid in sorted(keys)],
        "exposures_by_factor": [{"factor": f, "shock_kind": factor_kind(f), "sensitivity_brl": v}
                                for f, v in zip(factors, sens.tolist(), strict=True)],
        "dv01_by_bucket": dict(zip([f for f, r in zip(factors, is_rate, strict=True) if r],
                                   sens[is_rate].tolist(), strict=True)),
        "dv01_total_brl": float(sens[is_rate].sum()),
        "var_bps": {"var95": metrics["var95_bps"], "var99": metrics["var99_bps"],
                    "es975": metrics["es975_bps"]},
        "metrics": metrics,
        "stress": stress,
        "limits": limits,
        "limit_breaches": [r["limit"] for r in limits if r["status"] == "BREACH"],
        "limit_warnings": [r["limit"] for r in limits if r["status"] == "WARNING"],
    }
