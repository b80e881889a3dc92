"""Stress scenarios: hypothetical factor shocks and historical replays, first order.

Stress P&L = Σ_f s_f × shock_f: bp × DV01 of the bucket for curve vertices, % × delta for
USDBRL and IBOV — never a % of notional. Historical replays derive their shocks from the
stored factor changes of a dated window. The scenarios come from the parsed
``config/stress_scenarios.json`` (:func:`scenarios_from_dict`).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Final

import numpy as np
import pandas as pd

from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.frames import to_days
from pms_luigi.core.risk.factors import (
    ABS_BP,
    EQUITY_FACTOR,
    FX_FACTOR,
    RATE_FAMILIES,
    VERTICES,
    factor_kind,
    factor_vector,
)

STRESS_COLUMNS: Final[list[str]] = [
    "scenario", "kind", "pnl_brl", "pnl_bps", "status", "description",
]


def _check_shock_key(key: str, kind: str, scenario: str) -> None:
    if kind == "bp":
        fam, _, v = key.partition("_")
        ok = fam in RATE_FAMILIES and (v == "*" or (v.isdigit() and int(v) in VERTICES))
    else:
        ok = key in (FX_FACTOR, EQUITY_FACTOR)
    if not ok:
        raise InvalidInput(f"stress scenario {scenario!r}: {key!r} is not a valid {kind} factor "
                           f"(bp: DI_/REAL_/CUPOM_<vertex or *>; pct: USDBRL, IBOV)",
                           table="stress_scenarios", row=scenario, field=kind)


def scenarios_from_dict(obj: Mapping[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate the parsed ``config/stress_scenarios.json`` into a list of scenario dicts.

    Layout: ``{"hypothetical": [{"name", "description", "bp": {factor: bp}, "pct": {factor:
    percent}}], "historical": [{"name", "description", "start", "end"}]}``. ``bp`` keys are
    curve vertices (``DI_252``) or a whole family (``DI_*``; an exact vertex overrides the
    wildcard); ``pct`` keys are ``USDBRL``/``IBOV`` in percent (10 = +10%). Units are
    explicit so a 0.10 meant as 10% cannot slip through silently as 0.1%.

    A list of scenarios (this function's own output, or raw entries: historical ones are
    those with ``start``) is accepted too and re-validated, so the function is idempotent.

    Returns:
        Hypothetical scenarios first (name, kind, description, bp, pct), then historical
        ones (name, kind, description, start, end), each in file order.

    Raises:
        InvalidInput: an unknown shock key, a scenario without shocks, a historical window
            ending before it starts, a name used twice.
    """
    if isinstance(obj, list):
        is_hist = [sc.get("kind") == "historical" or "start" in sc for sc in obj]
        obj = {"hypothetical": [sc for sc, h in zip(obj, is_hist, strict=True) if not h],
               "historical": [sc for sc, h in zip(obj, is_hist, strict=True) if h]}
    out = [_hypothetical(sc) for sc in obj.get("hypothetical", [])] \
        + [_historical(sc) for sc in obj.get("historical", [])]
    seen: set[str] = set()
    for sc in out:
        if sc["name"] in seen:
            raise InvalidInput(f"duplicate stress scenario {sc['name']!r}",
                               table="stress_scenarios", row=sc["name"], field="name")
        seen.add(sc["name"])
    return out


def _hypothetical(sc: Mapping[str, Any]) -> dict[str, Any]:
    """One validated hypothetical scenario: bp and pct shocks as floats."""
    name = str(sc["name"])
    bp = {str(k): float(v) for k, v in (sc.get("bp") or {}).items()}
    pct = {str(k): float(v) for k, v in (sc.get("pct") or {}).items()}
    for k in bp:
        _check_shock_key(k, "bp", name)
    for k in pct:
        _check_shock_key(k, "pct", name)
    if not bp and not pct:
        raise InvalidInput(f"stress scenario {name!r} has no shocks",
                           table="stress_scenarios", row=name, field="bp")
    return {"name": name, "kind": "hypothetical",
            "description": str(sc.get("description", "")), "bp": bp, "pct": pct}


def _historical(sc: Mapping[str, Any]) -> dict[str, Any]:
    """One validated historical replay: its [start, end] window as dates."""
    name = str(sc["name"])
    start, end = date.fromisoformat(str(sc["start"])), date.fromisoformat(str(sc["end"]))
    if end < start:
        raise InvalidInput(f"historical scenario {name!r}: end {end} before start {start}",
                           table="stress_scenarios", row=name, field="end")
    return {"name": name, "kind": "historical",
            "description": str(sc.get("description", "")), "start": start, "end": end}


def _hypothetical_shocks(sc: dict[str, Any], factors: list[str], is_rate: list[bool]
                         ) -> np.ndarray:
    """Shock per factor in the factor's own unit: bp for abs_bp, fraction for rel
    (``is_rate``: which factors are abs_bp, worked out once for every scenario)."""
    out = np.zeros(len(factors))
    for i, f in enumerate(factors):
        if is_rate[i]:
            fam = f.partition("_")[0]
            out[i] = sc["bp"].get(f, sc["bp"].get(f"{fam}_*", 0.0))
        else:
            out[i] = sc["pct"].get(f, 0.0) / 100.0
    return out


def _replay_shocks(sc: dict[str, Any], factors: list[str], is_rate: list[bool],
                   changes: pd.DataFrame | None, days: np.ndarray) -> np.ndarray | None:
    """Shocks of a historical replay: Σ bp changes for rates, Π(1+r) − 1 for FX/IBOV over
    [start, end]; None when the window has no rows or lacks an exposed factor. ``days``: the
    changes' dates as datetime64[D], converted once for every scenario."""
    if changes is None or not len(changes):
        return None
    in_window = (days >= np.datetime64(sc["start"], "D")) & (days <= np.datetime64(sc["end"], "D"))
    if not in_window.any():  # the usual case: a crisis long before the stored history
        return None
    w = changes[in_window]
    if any(f not in w.columns for f in factors) or w[factors].isna().to_numpy().any():
        return None
    x = w[factors]
    return np.where(np.array(is_rate), x.sum().to_numpy(), (1.0 + x).prod().to_numpy() - 1.0)


def stress_table(exposures: pd.DataFrame, scenarios: Mapping[str, Any] | list[dict[str, Any]],
                 *, nav: float | None = None, changes: pd.DataFrame | None = None,
                 vector: pd.Series | None = None) -> pd.DataFrame:
    """Stress P&L by risk factor: Σ_f s_f × shock_f (bp × DV01 of the bucket, % × delta).

    Hypothetical scenarios use the configured shocks. Historical replays take the stored
    factor changes over [start, end] from ``changes`` (full history, not just the VaR
    window): rates shock = Σ bp changes, FX/IBOV = Π(1+r) − 1; status ``NO_DATA`` (P&L null,
    never zero) when the window has no rows or an exposed factor is missing there. First
    order (no convexity).

    Args:
        exposures: ``factor_exposures`` rows.
        scenarios: parsed ``stress_scenarios.json`` (see :func:`scenarios_from_dict`).
        nav: NAV in BRL, for pnl_bps = P&L / NAV · 10⁴ (NaN without it).
        changes: ``factor_changes`` frame, for the historical replays.
        vector: the exposures' ``factor_vector``, when at hand.

    Returns:
        One row per scenario. Columns: scenario, kind, pnl_brl, pnl_bps, status (OK or
        NO_DATA), description.
    """
    s = factor_vector(exposures) if vector is None else vector
    return pd.DataFrame(stress_rows(s, scenarios_from_dict(scenarios), nav=nav, changes=changes),
                        columns=STRESS_COLUMNS)


def stress_rows(vector: pd.Series, scenarios: list[dict[str, Any]], *,
                nav: float | None = None, changes: pd.DataFrame | None = None
                ) -> list[dict[str, Any]]:
    """The rows of :func:`stress_table` (dicts of :data:`STRESS_COLUMNS`) for the factor
    ``vector`` and ``scenarios`` already validated by :func:`scenarios_from_dict`: a caller
    that reads the rows builds no frame and validates the scenarios once."""
    factors, sv = list(vector.index), vector.to_numpy(dtype=float)
    is_rate = [factor_kind(f) == ABS_BP for f in factors]
    days = to_days(changes.index) if changes is not None and len(changes) else None
    rows = []
    for sc in scenarios:  # a handful of scenarios; the factor algebra is vectorized
        pnl, status = np.nan, "OK"
        if sc["kind"] == "hypothetical":
            pnl = float(sv @ _hypothetical_shocks(sc, factors, is_rate))
        elif not factors:
            pnl = 0.0
        else:
            shock = _replay_shocks(sc, factors, is_rate, changes, days)
            if shock is None:
                status = "NO_DATA"
            else:
                pnl = float(sv @ shock)
        rows.append({"scenario": sc["name"], "kind": sc["kind"], "pnl_brl": pnl,
                     "pnl_bps": pnl / nav * 1e4 if nav else np.nan, "status": status,
                     "description": sc["description"]})
    return rows
