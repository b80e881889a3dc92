"""Book metrics and their limits: leverage, DV01, deltas, concentration, VaR, stress, drawdown.

utilisation = value / limit × 100; OK below the warn threshold, WARNING from it up to and
including 100, BREACH above 100; NO_DATA when the metric is unavailable (e.g. VaR with
insufficient history) — never OK by default. The limits come from ``config/limits.csv``
(:func:`limits_from_frame`); the metrics from :func:`book_metrics`, also usable pre-trade on
a hypothetical book.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import numpy as np
import pandas as pd

from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.frames import require
from pms_luigi.core.risk.factors import ABS_BP, EQUITY_FACTOR, FX_FACTOR, factor_kind

ASSET_CLASSES: Final[tuple[str, ...]] = ("RATES", "INFLATION", "FX", "CUPOM", "EQUITY", "CREDIT")
LIMIT_STATUS_COLUMNS: Final[list[str]] = [
    "limit", "metric", "value", "limit_value", "utilisation", "status",
]


def _finite_or_none(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def limits_from_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Validate the limits table (``config/limits.csv`` as read by the task layer).

    Columns: ``limit`` (unique name), ``metric`` (key of the metrics dict, see
    :func:`book_metrics`), ``limit_value`` (> 0, in the metric's unit), ``warn_pct`` (WARNING
    from this % of the limit, in (0, 100]); optional ``unit``, ``description``.

    Returns:
        A copy with limit_value and warn_pct as floats and a fresh RangeIndex.

    Raises:
        InvalidInput: a missing column, a value out of range, a limit named twice.
    """
    cols = limit_columns(df)
    out = df.copy()
    out["limit_value"], out["warn_pct"] = cols["limit_value"], cols["warn_pct"]
    return out.reset_index(drop=True)


def limit_columns(df: pd.DataFrame) -> dict[str, Any]:
    """The validation of :func:`limits_from_frame`, as columns (limit and metric lists,
    limit_value and warn_pct float arrays): what :func:`utilisation_columns` reads, without
    copying the frame (a daily snapshot validates the same few rows every date).

    Raises:
        InvalidInput: as :func:`limits_from_frame`.
    """
    require(df, ["limit", "metric", "limit_value", "warn_pct"], "limits")
    names = df["limit"].tolist()
    numeric = {col: _floats(df[col]) for col in ("limit_value", "warn_pct")}
    value, warn = numeric["limit_value"], numeric["warn_pct"]
    checks = {"limit_value": (value > 0, "must be > 0"),
              "warn_pct": ((warn > 0) & (warn <= 100), "must be in (0, 100]")}
    for field, (ok, rule) in checks.items():
        bad = ~(ok & np.isfinite(numeric[field]))
        if bad.any():
            i = bad.argmax()
            raise InvalidInput(f"limit {names[i]!r}: {field} {rule}, got {df[field].iloc[i]!r}",
                               table="limits", row=names[i], field=field)
    dup = df["limit"].duplicated().to_numpy()
    if dup.any():
        name = names[int(dup.argmax())]
        raise InvalidInput(f"duplicate limit {name!r}", table="limits", row=name, field="limit")
    return {"limit": names, "metric": df["metric"].tolist(), **numeric}


def _floats(col: pd.Series) -> np.ndarray:
    """``col`` as float64 (text that is no number → NaN); a numeric column cast directly."""
    if col.dtype.kind in "iuf":
        return col.to_numpy(dtype=float)
    return pd.to_numeric(col, errors="coerce").astype(float).to_numpy()


def limit_status(metrics: Mapping[str, float | None], limits: pd.DataFrame) -> pd.DataFrame:
    """Utilisation of every configured limit.

    utilisation = value / limit_value × 100 (percent; rounded to 9 decimals before
    classifying, so 240/300 is exactly 80). status: ``BREACH`` if > 100, ``WARNING`` if
    ≥ warn_pct, else ``OK``; ``NO_DATA`` (value and utilisation null) when the metric is
    absent or None — e.g. VaR under INSUFFICIENT_HISTORY, or drawdown not supplied. Values
    are magnitudes (the metrics dict already holds |DV01|, |net leverage|, ...).

    Returns:
        One row per limit. Columns: limit, metric, value, limit_value, utilisation, status.

    >>> lim = pd.DataFrame({"limit": ["GROSS"], "metric": ["gross_leverage"],
    ...                     "limit_value": [3.0], "warn_pct": [80.0]})
    >>> row = limit_status({"gross_leverage": 2.4}, lim).iloc[0]
    >>> float(row["utilisation"]), row["status"]
    (80.0, 'WARNING')
    """
    return utilisation(metrics, limits_from_frame(limits))


def utilisation(metrics: Mapping[str, float | None], lim: pd.DataFrame) -> pd.DataFrame:
    """:func:`limit_status` over limits already validated by :func:`limits_from_frame`."""
    cols = utilisation_columns(metrics, {"limit": lim["limit"], "metric": lim["metric"],
                                         "limit_value": lim["limit_value"].to_numpy(dtype=float),
                                         "warn_pct": lim["warn_pct"].to_numpy(dtype=float)})
    cols["limit_value"] = lim["limit_value"]
    return pd.DataFrame(cols, columns=LIMIT_STATUS_COLUMNS)


def utilisation_columns(metrics: Mapping[str, float | None],
                        lim: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`utilisation` as columns (the :data:`LIMIT_STATUS_COLUMNS`), over the
    :func:`limit_columns` of the limits: no frame for a caller that wants the rows."""
    value = np.array([_finite_or_none(metrics.get(k)) for k in lim["metric"]], dtype=float)
    limit, warn = lim["limit_value"], lim["warn_pct"]
    util = np.round(value / limit * 100.0, 9)
    status = np.select([np.isnan(value), util > 100.0, util >= warn],
                       ["NO_DATA", "BREACH", "WARNING"], "OK")
    return {"limit": lim["limit"], "metric": lim["metric"], "value": value,
            "limit_value": limit, "utilisation": util, "status": status}


def current_drawdown(navs: pd.Series) -> float:
    """Drawdown of the last NAV from its running peak, as a fraction: 1 − NAV_last / max NAV.

    Raises:
        InvalidInput: an empty, non-finite or non-positive NAV history.

    >>> current_drawdown(pd.Series([100.0, 120.0, 90.0]))
    0.25
    """
    v = np.asarray(navs, dtype=float)
    if len(v) == 0 or not (np.isfinite(v).all() and (v > 0).all()):
        raise InvalidInput("NAV history must be non-empty, finite and positive", field="nav_brl")
    return float(1.0 - v[-1] / v.max())


@dataclass(frozen=True)
class PerformanceIndex:
    """The flow-neutral performance index of a book history and its running peak.

    index_t = Π_{s≤t}(1 + pnl_bps_s/10⁴), anchored at 1 before the first day; peak =
    max(1, index_1, …, index_t); drawdown = 1 − index_t / peak — the definition attribution
    and the pack use too. Subscriptions and redemptions move NAV but not this index, so a
    redemption is never mistaken for a loss.

    Why a state: a backfill folds each new day into the previous day's index
    (:meth:`advance`) instead of multiplying every day since inception again. The fold is
    the same left-to-right product as the whole series' (numpy's cumulative product
    multiplies in order), so both give the same floats.

    Attributes:
        level: index_t (1.0 before any day). peak: its running maximum, at least 1.
        on: the last day folded in (None when not given). last_bps: its pnl_bps.
    """

    level: float = 1.0
    peak: float = 1.0
    on: date | None = None
    last_bps: float | None = None

    @classmethod
    def of(cls, pnl_bps: pd.Series | np.ndarray | list[float],
           on: date | None = None) -> PerformanceIndex:
        """The index after the days of ``pnl_bps`` (in date order), the last one ``on``.

        Raises:
            InvalidInput: a non-finite pnl_bps.
        """
        bps = np.asarray(pnl_bps, dtype=float)
        if not np.isfinite(bps).all():
            raise InvalidInput("pnl_bps history must be finite", field="pnl_bps")
        if not len(bps):
            return cls(on=on)
        index = np.cumprod(1.0 + bps / 1e4)
        return cls(float(index[-1]), max(1.0, float(index.max())), on, float(bps[-1]))

    def advance(self, pnl_bps: float, on: date | None = None) -> PerformanceIndex:
        """The index after one more day, ``on``, of ``pnl_bps``.

        Raises:
            InvalidInput: a non-finite pnl_bps.
        """
        bps = float(pnl_bps)
        if not math.isfinite(bps):
            raise InvalidInput("pnl_bps history must be finite", field="pnl_bps")
        level = self.level * (1.0 + bps / 1e4)
        return PerformanceIndex(level, max(self.peak, level), on, bps)

    @property
    def drawdown(self) -> float:
        """1 − index / peak, as a fraction (0 at a peak)."""
        return 1.0 - self.level / self.peak


def performance_drawdown(pnl_bps: pd.Series) -> float:
    """Drawdown of the flow-neutral performance index after the days of ``pnl_bps``, as a
    fraction (see :class:`PerformanceIndex`).

    Raises:
        InvalidInput: a non-finite pnl_bps.

    >>> round(performance_drawdown(pd.Series([-100.0, 0.0])), 10)
    0.01
    """
    return PerformanceIndex.of(pnl_bps).drawdown


def book_metrics(marks: pd.DataFrame, exposures: pd.DataFrame | Mapping[str, np.ndarray],
                 nav: float, *,
                 var95_brl: float | None = None, var99_brl: float | None = None,
                 es975_brl: float | None = None, worst_stress_brl: float | None = None,
                 drawdown: float | None = None) -> dict[str, float | None]:
    """The metrics dict :func:`limit_status` reads (also usable pre-trade on a hypothetical book).

    Keys (units):

    * ``var95_bps``/``var99_bps``/``es975_bps``: bps of NAV; None if the VaR is None;
    * ``gross_leverage`` = Σ|notional_brl|/NAV and ``net_leverage`` = |Σ notional_brl|/NAV
      (x; notionals are signed: + long, − short);
    * ``dv01_net_bps_nav`` = |Σ DV01|/NAV·10⁴ and ``dv01_gross_bps_nav`` =
      Σ_bucket|DV01|/NAV·10⁴ (bps of NAV per bp);
    * ``fx_delta_pct_nav`` and ``equity_delta_pct_nav``: |delta| as % of NAV;
    * ``concentration_pct.<ASSET_CLASS>``: Σ|notional| of the class as % of gross (every
      class of :data:`ASSET_CLASSES`, 0 when absent);
    * ``worst_stress_loss_bps``: max(0, −min stress P&L) in bps of NAV;
    * ``drawdown_pct``: drawdown fraction × 100.

    Args:
        marks: ``position_marks`` rows (notional_brl, asset_class).
        exposures: their ``factor_exposures`` (the frame, or its ``exposure_columns``).
        nav: NAV in BRL (> 0).
        var95_brl, var99_brl, es975_brl, worst_stress_brl, drawdown: the snapshot's
            figures, None when unavailable.

    Raises:
        InvalidInput: NAV not positive.
    """
    nav = float(nav)
    if not (math.isfinite(nav) and nav > 0):
        raise InvalidInput(f"NAV must be positive, got {nav!r}", table="book_snapshots",
                           field="nav_brl")

    def bps(x: float | None) -> float | None:
        return None if _finite_or_none(x) is None else float(x) / nav * 1e4

    # nansum: what a Series sum does (NaN as 0, the same pairwise order), without the Series
    notional = marks["notional_brl"].to_numpy(dtype=float)
    gross = float(np.nansum(np.abs(notional)))
    by_ac = pd.Series(np.abs(notional)).groupby(marks["asset_class"].to_numpy()).sum() \
        if len(marks) else pd.Series(dtype=float)
    s = _sums_by_factor(exposures)
    rate = np.array([s[f] for f in sorted(s) if factor_kind(f) == ABS_BP], dtype=float)
    out: dict[str, float | None] = {
        "var95_bps": bps(var95_brl), "var99_bps": bps(var99_brl), "es975_bps": bps(es975_brl),
        "gross_leverage": gross / nav,
        "net_leverage": abs(float(np.nansum(notional))) / nav,
        "dv01_net_bps_nav": abs(float(rate.sum())) / nav * 1e4,
        "dv01_gross_bps_nav": float(np.abs(rate).sum()) / nav * 1e4,
        "fx_delta_pct_nav": abs(float(s.get(FX_FACTOR, 0.0))) / nav * 100.0,
        "equity_delta_pct_nav": abs(float(s.get(EQUITY_FACTOR, 0.0))) / nav * 100.0,
        "worst_stress_loss_bps": None if _finite_or_none(worst_stress_brl) is None
        else max(0.0, -float(worst_stress_brl)) / nav * 1e4,
        "drawdown_pct": None if _finite_or_none(drawdown) is None else float(drawdown) * 100.0,
    }
    for ac in sorted(set(ASSET_CLASSES) | set(by_ac.index)):
        out[f"concentration_pct.{ac}"] = float(by_ac.get(ac, 0.0)) / gross * 100.0 \
            if gross else 0.0
    return out


def _sums_by_factor(exposures: pd.DataFrame | Mapping[str, np.ndarray]) -> dict[str, float]:
    """Net sensitivity per factor: a groupby sum by factor, sorted (the group ids, hence the
    summation and the floats, of grouping the exposures frame by its factor column)."""
    factor = np.asarray(exposures["factor"], dtype=object)
    if not len(factor):
        return {}
    sens = np.asarray(exposures["sensitivity_brl"], dtype=float)
    return pd.Series(sens).groupby(factor).sum().to_dict()
