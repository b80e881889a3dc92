"""Performance attribution: daily P&L by every dimension and period, additive to the centavo.

Pure module (DESIGN.md §1): stdlib, numpy, pandas and :mod:`pms_luigi.core.calendar`; no I/O, no
clock. Conventions: finance-conventions.md §3; the old engine's flaws it replaces:
original-system.md §5 (lifetime P&L reported as "daily", dimensions that did not add up,
calendar days, two drawdown definitions).

**One fact table.** Every number comes from the same rows: ``position_marks`` (one row per
business date, instrument and strategy, with the P&L explain columns) and ``book_snapshots``
(fund P&L, NAV_{t-1}, CDI). Every dimension and period is a group-by of those rows, so they
reconcile by construction:

* **Total** of a day = ``book_snapshots.pnl_brl`` (the fund P&L, identity NAV_t = NAV_{t-1} +
  P&L_t + flows_t, finance-conventions.md §3.2).
* Each dimension's buckets are group-bys of the (allocated) fact rows, plus an explicit
  ``residual`` bucket = fund P&L − Σ position P&L (cash yield, fees, anything the positions
  do not carry). Σ buckets == total for every dimension, day and period.
* All money inputs are centavo-exact (the writer rounded them), and every split (factor tags,
  shared positions) is done in whole centavos by largest remainder, so every bucket stays
  centavo-exact and the identity survives the writer's half-even rounding of each row.

**Dimensions** (``DIMENSIONS``; bucket names in brackets):

* ``total`` [total]
* ``strategy`` [strategy_id]
* ``asset_class`` [RATES INFLATION FX CUPOM EQUITY CREDIT] — from ``instruments.asset_class``,
  the reference data (``position_marks.asset_class`` is not read), so a reclassification
  restates history consistently in every period instead of mixing two taxonomies in YTD.
* ``instrument`` [instrument_id]
* ``risk_factor`` [rates inflation fx equity credit]: ``pnl_fx_brl`` (FX translation) of every
  row goes to ``fx`` (finance-conventions.md §3.3, "USD assets"); the rest of the row by asset class: RATES→rates, INFLATION→inflation,
  FX→fx, **CUPOM→fx**, EQUITY→equity, CREDIT→credit. CUPOM maps to fx because the cupom
  cambial is the onshore USD rate implied by the FX forward (DOL carry is "change in forward
  points ≈ cupom vs DI differential", §3.3): it is the FX-forward basis, traded and limited in
  the FX book, while ``rates`` stays the BRL pre/DI curve that the DV01 limits measure.
* ``factor_tag`` [strategies.factor_tags, or ``untagged``]: a strategy's P&L split across its
  tags — equally for a JSON list (``["carry", "momentum"]`` → ½ each), by the given weights
  for a JSON object (``{"carry": 0.7, "momentum": 0.3}``, normalised to sum 1).
* ``style`` [systematic discretionary] from ``strategies.is_systematic``.
* ``explain`` [carry market fx new_trades realized costs residual] from the MTM explain
  columns; ``residual`` also absorbs pnl − Σ components of a row and the book residual.

A bucket is listed for a period when a fact row maps to it in the period (even with zero
P&L); ``residual`` is listed for every dimension and period, zero or not.

A position shared by several strategies is split by an optional ``weights`` frame
(``instrument_id, strategy_id, share_strategy_id, weight``); positions are keyed by
(instrument, strategy), so without it every row has weight 1 to its own strategy.

**Periods** (``PERIODS``) on ANBIMA business days, each clipped at inception: DAY = ``on``;
WTD from Monday of ``on``'s week, MTD from the 1st of the month, QTD from the 1st of the
quarter, YTD from Jan 1 — each rolled to the first business day on or after —, ITD from
inception.

* **R$**: plain sums of daily P&L (exact; §3.4).
* **bps**: daily contribution c_{i,t} = 10,000 · P&L_{i,t} / NAV_{t−1}
  (``book_snapshots.nav_prev_brl``; flows of day t are credited at its close, so they do not
  enter that day's return). Σ_i c_{i,t} = r_t = P&L_t / NAV_{t−1} exactly.
* **Linking: Frongello** (J. Performance Measurement, 2002), default: linked c_i = Σ_t c_{i,t} · Π_{s<t}(1 + r_s).
  Chosen over Carino because (a) it is exact and telescopes to Π(1+r_t) − 1 with no special
  case at r = 0 and no logs; (b) a day's linked contribution depends only on the days before
  it, so adding a day never restates an earlier day's contribution (MTD of D−1 plus today's
  term gives MTD of D); (c) without capital flows it equals the bucket's R$ P&L divided by
  the NAV at the period start, so the R$ and bps columns rank and sign buckets identically,
  which is how a PM reads them. Carino (``linking="carino"``: k_t = ln(1+r_t)/r_t,
  K = ln(1+R)/R, linked c_i = Σ_t (k_t/K) c_{i,t}) is available and tested against the same
  worked example (§3.4) but not used by the pipeline.

**Statistics** (``STATS_PERIODS`` = MTD, YTD, ITD) on the daily fund returns r_t, see
:func:`performance_stats`. One drawdown definition everywhere (stats and equity curve):
peak-to-trough of the NAV-return index Π(1+r) anchored at 1 at the start of the window, as a
negative fraction (:func:`drawdown`; empyrical's definition).

**What the caller must pass** (the task layer): ``facts`` = position_marks rows and ``books``
= book_snapshots rows for every ANBIMA business day in [inception, on] (ITD needs them all;
rows outside that range are ignored); ``books`` must hold one row per business day there with
a CDI rate (the fixing that accrues over the day's return, i.e. that of the previous business
day, as MTM records it), else :class:`InvalidInput` / :class:`MissingCdi`.

**Incremental** (:func:`attribute_incremental`, what the pipeline runs every day): the rows
of an earlier date X, its ``metadata["chain_state"]`` (the unrounded running sums behind
the rows) and the facts of (X, on] only, plus all the books (one row per day: linking and
statistics). Daily buckets depend on their own day only and Frongello's multiplier of a
day on the returns before it, so each period sum resumes X's float fold over the days: the
result is identical, bit for bit, to :func:`attribute` over [inception, on].

Rounding: pure float64; money is rounded to centavos (half-even) by the writer only, and
``contribution_bps`` to the column's 10 decimals.
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from pms_luigi.core import calendar as cal
from pms_luigi.core.errors import InvalidInput, MissingCdi, NotBusinessDay

__all__ = [
    "ANNUALIZATION",
    "DIMENSIONS",
    "EXPLAIN_BUCKETS",
    "LINKING_METHODS",
    "PERIODS",
    "RESIDUAL",
    "RISK_FACTOR_BY_ASSET_CLASS",
    "STATS_PERIODS",
    "AttributionResult",
    "attribute",
    "attribute_incremental",
    "cdi_daily_returns",
    "drawdown",
    "link",
    "linking_multipliers",
    "performance_stats",
    "period_start",
    "reference_digest",
]

PERIODS: Final = ("DAY", "WTD", "MTD", "QTD", "YTD", "ITD")
STATS_PERIODS: Final = ("MTD", "YTD", "ITD")
DIMENSIONS: Final = (
    "total", "strategy", "asset_class", "instrument", "risk_factor", "factor_tag", "style",
    "explain",
)
LINKING_METHODS: Final = ("frongello", "carino")

TOTAL: Final = "total"
RESIDUAL: Final = "residual"
UNTAGGED: Final = "untagged"
SYSTEMATIC: Final = "systematic"
DISCRETIONARY: Final = "discretionary"

#: Trading days per year: annualisation of vol/Sharpe/Sortino (√252) and the CDI daily factor.
ANNUALIZATION: Final = 252

#: position_marks explain column -> explain bucket. Order = display order.
EXPLAIN_BUCKETS: Final[Mapping[str, str]] = {
    "pnl_carry_brl": "carry",
    "pnl_market_brl": "market",
    "pnl_fx_brl": "fx",
    "pnl_new_trades_brl": "new_trades",
    "pnl_realized_brl": "realized",
    "pnl_costs_brl": "costs",
    "pnl_residual_brl": RESIDUAL,
}

#: instruments.asset_class -> risk factor (CUPOM -> fx: see the module docstring).
RISK_FACTOR_BY_ASSET_CLASS: Final[Mapping[str, str]] = {
    "RATES": "rates",
    "INFLATION": "inflation",
    "FX": "fx",
    "CUPOM": "fx",
    "EQUITY": "equity",
    "CREDIT": "credit",
}

_MONEY: Final = ("pnl_brl", *EXPLAIN_BUCKETS)
_FACT_COLUMNS: Final = ("business_date", "instrument_id", "strategy_id", *_MONEY)
_BOOK_COLUMNS: Final = ("business_date", "nav_prev_brl", "pnl_brl", "nav_brl", "cdi_rate")
_BUCKET_MAX_LEN: Final = 60  # attribution.bucket is String(60)
_HALF_CENTAVO: Final = 0.005
_WEIGHT_TOL: Final = 1e-9


@dataclass(frozen=True)
class AttributionResult:
    """What :func:`attribute` returns; every frame uses the DB column names (minus run_id).

    Attributes:
        rows: ``attribution`` rows: business_date, period, dimension, bucket, pnl_brl,
            contribution_bps — sorted by period, dimension, bucket (``residual`` last).
        stats: ``performance_stats`` rows: business_date, period, stats (JSON-able dict).
        equity_curve: business_date, nav_brl, cumulative_return (time-weighted since
            inception), drawdown (same definition as the stats), one row per business day
            in [inception, on].
        metadata: JSON-able dict for the marker: total_pnl_brl, dimensions, periods, ...,
            method (full/incremental), base_date, and chain_state (base64 float64 running
            sums per row, in row order: what the next date chains on).
    """

    rows: pd.DataFrame
    stats: pd.DataFrame
    equity_curve: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)


# ============================================================================================
# periods, linking, drawdown, statistics (small public building blocks)


def period_start(period: str, on: date, inception: date) -> date:
    """First ANBIMA business day of ``period`` ending on ``on``, never before inception.

    The calendar anchor (Monday of the week, 1st of month/quarter/year, inception) is rolled
    forward to a business day, so a month that starts on a holiday (Jan 1) starts on Jan 2.
    """
    on, inception = _as_date(on, "on"), _as_date(inception, "inception")
    if period == "DAY":
        anchor = on
    elif period == "WTD":
        anchor = on - timedelta(days=on.weekday())
    elif period == "MTD":
        anchor = on.replace(day=1)
    elif period == "QTD":
        anchor = date(on.year, 3 * ((on.month - 1) // 3) + 1, 1)
    elif period == "YTD":
        anchor = date(on.year, 1, 1)
    elif period == "ITD":
        anchor = inception
    else:
        raise InvalidInput(f"unknown period {period!r}; expected one of {PERIODS}", field="period")
    return cal.following(max(anchor, inception))


def linking_multipliers(returns: npt.ArrayLike, method: str = "frongello") -> npt.NDArray[np.float64]:
    """Per-day multipliers m_t such that linked c_i = Σ_t m_t · c_{i,t} and Σ_t m_t r_t = R.

    * Frongello: m_t = Π_{s<t}(1 + r_s) (m_1 = 1). Σ_t r_t Π_{s<t}(1+r_s) telescopes to
      Π(1+r_t) − 1.
    * Carino: m_t = k_t / K with k_t = ln(1+r_t)/r_t, K = ln(1+R)/R, and k = 1 where the
      return is exactly 0 (the limit). Σ_t (k_t/K) r_t = Σ ln(1+r_t) / K = R.

    Source: finance-conventions.md §3.4 (worked vector reproduced in the tests).
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise InvalidInput("returns must be one-dimensional", field="returns")
    if np.any(~np.isfinite(r)) or np.any(r <= -1.0):
        raise InvalidInput("returns must be finite and > -100%", field="returns")
    if method == "frongello":
        growth = np.cumprod(1.0 + r)
        return np.concatenate(([1.0], growth[:-1])) if r.size else r.copy()
    if method == "carino":
        total = float(np.prod(1.0 + r) - 1.0)
        return _carino_k(r) / float(_carino_k(np.array([total]))[0])
    raise InvalidInput(f"unknown linking method {method!r}; expected one of {LINKING_METHODS}",
                       field="linking")


def _carino_k(r: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    safe = np.where(r == 0.0, 1.0, r)
    return np.where(r == 0.0, 1.0, np.log1p(safe) / safe)


def link(contributions: npt.ArrayLike, returns: npt.ArrayLike,
         method: str = "frongello") -> npt.NDArray[np.float64]:
    """Link daily contributions (T days × K buckets, as fractions) into period contributions.

    When each row of ``contributions`` sums to that day's ``returns``, the result sums to
    Π(1 + r_t) − 1 (exactly for both methods, up to float rounding).
    """
    c = np.asarray(contributions, dtype=np.float64)
    m = linking_multipliers(returns, method)
    if c.shape[0] != m.shape[0]:
        raise InvalidInput("contributions and returns must have the same number of days",
                           field="contributions")
    return np.tensordot(m, c, axes=(0, 0))


def drawdown(returns: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Drawdown per day of the NAV-return index: I_t / max(1, I_1..I_t) − 1, I_t = Π(1+r).

    The index is anchored at 1 before the first day, so a loss on day one is a drawdown. This
    is the one definition used everywhere (stats, equity curve, pack); it equals
    empyrical's ``drawdown_series``. Values are ≤ 0 (fractions).
    """
    r = np.asarray(returns, dtype=np.float64)
    index = np.cumprod(1.0 + r)
    peak = np.maximum.accumulate(np.concatenate(([1.0], index)))[1:]
    return index / peak - 1.0


def cdi_daily_returns(cdi_rates: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """CDI daily return (1 + r)^(1/252) − 1 from annual base-252 rates (contracts.md)."""
    return np.power(1.0 + np.asarray(cdi_rates, dtype=np.float64), 1.0 / ANNUALIZATION) - 1.0


def performance_stats(
    returns: npt.ArrayLike,
    cdi_rates: npt.ArrayLike,
    *,
    dates: Sequence[date] | None = None,
    pnl: npt.ArrayLike | None = None,
) -> dict[str, Any]:
    """Performance statistics of a window of daily fund returns, JSON-able, None if undefined.

    Definitions (daily r_t = P&L_t / NAV_{t−1}; CDI daily d_t = (1+cdi_t)^(1/252) − 1;
    excess e_t = r_t − d_t; n = number of business days):

    * ``return`` = Π(1+r_t) − 1; ``cdi_return`` = Π(1+d_t) − 1;
      ``pct_of_cdi`` = return / cdi_return ("% do CDI" as a fraction, 1.2 = 120 %; None when
      the CDI return is 0); ``excess_return`` = return − cdi_return.
    * ``volatility`` = sample std(r, ddof=1) · √252 (None if n < 2).
    * ``sharpe`` = mean(e) / std(e, ddof=1) · √252 (None if n < 2 or e is constant).
    * ``sortino`` = mean(e) · √252 / sqrt(mean(min(e, 0)²)), downside deviation over all n
      days with CDI as the minimum acceptable return (None if n < 2 or no day below CDI).
    * ``max_drawdown`` = min of :func:`drawdown` (≤ 0).
    * ``hit_rate`` = days with r > 0 / days with r ≠ 0 (flat days are not bets; None if none).
    * ``best_day_*`` / ``worst_day_*``: max/min r_t and its date.

    These match empyrical-reloaded's ``sharpe_ratio(r, risk_free=d)``,
    ``sortino_ratio(r, required_return=d)``, ``annual_volatility`` and ``max_drawdown``
    (cross-checked to 1e-9 in the tests).
    """
    r = np.asarray(returns, dtype=np.float64)
    cdi = np.asarray(cdi_rates, dtype=np.float64)
    n = int(r.size)
    if cdi.shape != r.shape:
        raise InvalidInput("returns and cdi_rates must have the same length", field="cdi_rate")
    if n == 0:
        raise InvalidInput("performance_stats needs at least one day", field="returns")
    d = cdi_daily_returns(cdi)
    e = r - d
    total = float(np.prod(1.0 + r) - 1.0)
    cdi_total = float(np.prod(1.0 + d) - 1.0)
    vol = sharpe = sortino = None
    if n >= 2:
        vol = float(np.std(r, ddof=1) * math.sqrt(ANNUALIZATION))
        if e.max() != e.min():
            sharpe = float(np.mean(e) / np.std(e, ddof=1) * math.sqrt(ANNUALIZATION))
        downside = math.sqrt(float(np.mean(np.square(np.minimum(e, 0.0)))))
        if downside > 0.0:
            sortino = float(np.mean(e) * math.sqrt(ANNUALIZATION) / downside)
    positive, negative = int(np.sum(r > 0)), int(np.sum(r < 0))
    best, worst = int(np.argmax(r)), int(np.argmin(r))
    day_label = (lambda i: dates[i].isoformat()) if dates is not None else (lambda i: None)
    stats: dict[str, Any] = {
        "start": day_label(0),
        "end": day_label(n - 1),
        "n_days": n,
        "pnl_brl": None if pnl is None else float(np.sum(np.asarray(pnl, dtype=np.float64))),
        "return": total,
        "cdi_return": cdi_total,
        "pct_of_cdi": total / cdi_total if cdi_total != 0.0 else None,
        "excess_return": total - cdi_total,
        "volatility": vol,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": float(np.min(drawdown(r))),
        "hit_rate": positive / (positive + negative) if positive + negative else None,
        "positive_days": positive,
        "negative_days": negative,
        "best_day_date": day_label(best),
        "best_day_return": float(r[best]),
        "worst_day_date": day_label(worst),
        "worst_day_return": float(r[worst]),
    }
    return stats


# ============================================================================================
# the attribution


def attribute(
    facts: pd.DataFrame,
    books: pd.DataFrame,
    strategies: pd.DataFrame,
    instruments: pd.DataFrame,
    on: date,
    inception: date,
    *,
    weights: pd.DataFrame | None = None,
    linking: str = "frongello",
) -> AttributionResult:
    """Attribution rows for every period × dimension × bucket, stats and the equity curve.

    Args:
        facts: ``position_marks`` rows (schema columns; business_date, instrument_id,
            strategy_id, pnl_brl and the seven ``pnl_*_brl`` explain columns are used) for
            the business days in [inception, on]; rows outside are ignored.
        books: ``book_snapshots`` rows (business_date, nav_prev_brl, pnl_brl, nav_brl,
            cdi_rate) — exactly one per ANBIMA business day in [inception, on].
        strategies: ``strategies`` rows (strategy_id, factor_tags, is_systematic).
        instruments: ``instruments`` rows (instrument_id, asset_class).
        on: the business date attributed. inception: the fund's first business date.
        weights: optional split of shared positions: instrument_id, strategy_id (the fact
            row's key), share_strategy_id, weight (> 0, summing to 1 per key).
        linking: "frongello" (default, see module docstring) or "carino".

    Returns:
        :class:`AttributionResult`. A bucket is listed for a period when it has a fact row
        in the period (even with zero P&L); ``residual`` is listed for every dimension and
        period.

    Raises:
        NotBusinessDay: ``on`` is not an ANBIMA business day.
        InvalidInput: a missing/duplicate/inconsistent row, naming table, date and field.
        MissingCdi: a book row in [inception, on] without cdi_rate.
    """
    on, inception = _as_date(on, "on"), _as_date(inception, "inception")
    if linking not in LINKING_METHODS:
        raise InvalidInput(f"unknown linking method {linking!r}; expected one of {LINKING_METHODS}",
                           field="linking")
    if not cal.is_business_day(on):
        raise NotBusinessDay(on, cal.holiday_name(on) or "not a business day")
    if inception > on:
        raise InvalidInput(f"inception {inception} is after the attribution date {on}",
                           field="inception")
    days = np.array(cal.business_days(inception, on), dtype="datetime64[D]")

    book = _prepare_books(books, days)
    ref = _reference(strategies, instruments)
    fact = _prepare_facts(facts, days, ref.asset_class, ref.style.index)
    if weights is not None:
        fact = _apply_weights(fact, weights, ref.style.index)
    daily = _daily_buckets(fact, book.pnl, ref.tags, ref.style, ref.asset_class)
    return _assemble(days, book, fact, daily, 0, None, on, inception, linking)


def attribute_incremental(
    base_rows: pd.DataFrame,
    base: date,
    facts: pd.DataFrame,
    books: pd.DataFrame,
    strategies: pd.DataFrame,
    instruments: pd.DataFrame,
    on: date,
    inception: date,
    *,
    base_state: Mapping[str, Any] | None = None,
    weights: pd.DataFrame | None = None,
) -> AttributionResult:
    """:func:`attribute` of ``on``, chained on the attribution rows of an earlier date ``base``.

    The same result as the full computation, from ``base``'s rows plus the facts of the
    business days in (base, on] only — O(days since base) instead of O(days since inception).
    With ``base_state`` (``base``'s ``metadata["chain_state"]``: the unrounded running sums
    behind its rows) the result is identical bit for bit: every period sum is the same
    left-to-right float fold over the days as in :func:`attribute`, resumed where ``base``
    stopped. Without it the chain starts from the rows as stored (R$ in centavos, bps to the
    column's 10 decimals): R$ still equal to the centavo, bps within ~1e-10 per chained day.

    * every daily bucket is a function of that day's facts, book and the reference data
      alone, so the days in (base, on] give the same daily buckets as in the full pass;
    * a period that started after ``base`` (always DAY; WTD/MTD/... on a boundary) lies
      inside (base, on]: computed exactly as :func:`attribute` does;
    * a period that started on or before ``base`` started on the same day for ``base`` (same
      calendar week/month/quarter/year, same inception), so its sums are ``base``'s row plus
      the new days: R$ = R$(base) + Σ P&L; Frongello bps = bps(base) + 10⁴·Σ c_t·Π_{s<t}(1+r_s)
      over the period — the multipliers of the new days depend only on the returns before
      them (the book series, read in full: one row per day), which is why Frongello chains
      and Carino (K depends on the whole period) does not;
    * a bucket is listed when it is listed in ``base``'s rows of that period or has a fact
      row in the new days — the same "has a fact row in the period" rule.

    Args:
        base_rows: the persisted ``attribution`` rows of ``base`` (period, dimension, bucket,
            pnl_brl, contribution_bps; business_date if present must be ``base``), computed
            with the same reference data (the caller checks :func:`reference_digest`).
        base: a business day in [inception, on).
        facts: ``position_marks`` rows for the business days in (base, on]; others ignored.
        books, strategies, instruments, on, inception, weights: as :func:`attribute`.
        base_state: ``metadata["chain_state"]`` of ``base``'s result, or None.

    Raises:
        InvalidInput: as :func:`attribute`, or when ``base_rows`` lack a period to chain on,
            list a bucket twice or hold a non-number, or ``base_state`` does not match
            ``base_rows``.
    """
    on, inception = _as_date(on, "on"), _as_date(inception, "inception")
    base = _as_date(base, "base")
    if not cal.is_business_day(on):
        raise NotBusinessDay(on, cal.holiday_name(on) or "not a business day")
    if not (inception <= base < on) or not cal.is_business_day(base):
        raise InvalidInput(f"base {base} must be a business day in [{inception}, {on})",
                           field="base")
    days = np.array(cal.business_days(inception, on), dtype="datetime64[D]")
    k = int(np.searchsorted(days, np.datetime64(base, "D")))
    book = _prepare_books(books, days)
    ref = _reference(strategies, instruments)
    fact = _prepare_facts(facts, days[k + 1:], ref.asset_class, ref.style.index)
    if weights is not None:
        fact = _apply_weights(fact, weights, ref.style.index)
    daily = _daily_buckets(fact, book.pnl[k + 1:], ref.tags, ref.style, ref.asset_class)
    prior = _prepare_base_rows(base_rows, base, base_state)
    return _assemble(days, book, fact, daily, k + 1, prior, on, inception, "frongello",
                     base=base)


def reference_digest(strategies: pd.DataFrame, instruments: pd.DataFrame) -> str:
    """SHA-256 of what attribution reads from the reference data: asset class per instrument,
    factor-tag weights and style per strategy. Rows chained by :func:`attribute_incremental`
    must come from the same digest, so a reclassification restates history (full pass)."""
    return _reference(strategies, instruments).digest


@dataclass(frozen=True)
class _Reference:
    """The reference data as the engine reads it (validated), and its digest."""

    tags: pd.DataFrame  # strategy_id, tag, weight
    style: pd.Series  # per strategy_id
    asset_class: pd.Series  # per instrument_id
    digest: str


_STRATEGY_COLUMNS: Final = ("strategy_id", "factor_tags", "is_systematic")
_INSTRUMENT_COLUMNS: Final = ("instrument_id", "asset_class")
_REFERENCE_MEMO: dict[tuple[tuple[str, ...], ...], _Reference] = {}
_REFERENCE_MEMO_SIZE: Final = 4


def _reference(strategies: pd.DataFrame, instruments: pd.DataFrame) -> _Reference:
    """:class:`_Reference` of the two frames, prepared once per distinct content.

    The pipeline reads the same reference data for every date, and needs it twice per date
    (the digest that decides whether to chain, then the attribution); preparing it (JSON
    tags, validation, the digest) costs ten times more than keying it by the ``repr`` of
    every value read (:func:`_content_key`). Pure: the result depends on the content only.
    """
    _require(strategies, _STRATEGY_COLUMNS, "strategies")
    _require(instruments, _INSTRUMENT_COLUMNS, "instruments")
    key = tuple(tuple(map(_content_key, frame[col].tolist()))
                for frame, columns in ((strategies, _STRATEGY_COLUMNS),
                                       (instruments, _INSTRUMENT_COLUMNS))
                for col in columns)
    found = _REFERENCE_MEMO.get(key)
    if found is None:
        tags, style = _prepare_strategies(strategies)
        asset_class = _prepare_instruments(instruments)
        body = {
            "asset_class": sorted(asset_class.items()),
            "tags": sorted(zip(tags["strategy_id"].astype(str).tolist(),
                               tags["tag"].astype(str).tolist(),
                               tags["weight"].astype(float).tolist())),
            "style": sorted(style.items()),
        }
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        if len(_REFERENCE_MEMO) >= _REFERENCE_MEMO_SIZE:
            _REFERENCE_MEMO.clear()
        found = _REFERENCE_MEMO[key] = _Reference(tags, style, asset_class, digest)
    return found


_SEP: Final = "\x1f"  # joins dimension and bucket into one key (never in a name)


def _rank(names: Sequence[str], values: npt.NDArray[np.object_]) -> npt.NDArray[np.int64]:
    """Position of each value in ``names`` (declaration order), −1 when not listed. The
    values repeat a few names: each distinct one is looked up once."""
    codes, distinct = pd.factorize(values)
    position = {name: i for i, name in enumerate(names)}
    return np.asarray([position.get(v, -1) for v in distinct], dtype=np.int64)[codes]


def _catalogue(dimensions: npt.NDArray[np.object_], buckets: npt.NDArray[np.object_]
               ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.object_], npt.NDArray[np.object_]]:
    """The distinct (dimension, bucket) keys in display order, and the key id of each input.

    Display order (how :func:`attribute` lists rows): dimension in declaration order,
    ``residual`` last, then bucket name by code point (as ``str`` compares). Ids are ranks in
    that order, so rows sort by (period, id) with integer sorts only — the strings are
    hashed once here instead of compared in every sort.
    """
    codes, _ = pd.factorize(dimensions + _SEP + buckets)
    _, first = np.unique(codes, return_index=True)
    dims, names = dimensions[first], buckets[first]
    order = np.lexsort((names.astype(str), names == RESIDUAL, _rank(DIMENSIONS, dims)))
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    return rank[codes], dims[order], names[order]


def encode_state(values: npt.NDArray[np.float64]) -> str:
    """float64 array -> base64 of its little-endian bytes (exact, compact, JSON-able)."""
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f8").tobytes()).decode("ascii")


def decode_state(text: Any) -> npt.NDArray[np.float64]:
    """Inverse of :func:`encode_state`."""
    try:
        raw = base64.b64decode(str(text).encode("ascii"), validate=True)
    except ValueError as exc:
        raise InvalidInput(f"chain_state is not base64: {exc}", field="chain_state") from exc
    if len(raw) % 8:
        raise InvalidInput("chain_state is not an array of float64", field="chain_state")
    return np.frombuffer(raw, dtype="<f8").astype(np.float64)


@dataclass(frozen=True)
class _Prior:
    """The base date's rows in display order, with the running sums to resume from.

    ``key`` indexes ``dimensions``/``buckets`` (the rows' own :func:`_catalogue`), so the
    union with the new days' buckets hashes each distinct key once, not once per period.
    """

    period: npt.NDArray[np.int64]  # index into PERIODS
    key: npt.NDArray[np.int64]
    dimensions: npt.NDArray[np.object_]
    buckets: npt.NDArray[np.object_]
    pnl_sum: npt.NDArray[np.float64]  # R$
    contrib_sum: npt.NDArray[np.float64]  # linked contribution, as a fraction


def _text(values: pd.Series) -> npt.NDArray[np.object_]:
    """A column as an object array of ``str`` (a text column — what the readers return —
    as it is: ``astype(str)`` leaves it unchanged)."""
    if values.dtype != object and pd.api.types.is_string_dtype(values.dtype):
        return values.to_numpy(dtype=object)
    return values.astype(str).to_numpy(dtype=object)


def _prepare_base_rows(rows: pd.DataFrame, base: date,
                       state: Mapping[str, Any] | None) -> _Prior:
    """The base date's rows in :func:`attribute`'s order, validated, with the running sums
    to resume from (the exact ``state`` when given, else the stored values)."""
    table = "attribution"
    _require(rows, ("period", "dimension", "bucket", "pnl_brl", "contribution_bps"), table)
    if "business_date" in rows.columns and len(rows):
        when = _to_days(rows["business_date"], table)
        if (when != np.datetime64(base, "D")).any():
            raise InvalidInput(f"{table}: base rows must all be dated {base}", table=table,
                               field="business_date")
    period, dimension, bucket = _text(rows["period"]), _text(rows["dimension"]), \
        _text(rows["bucket"])
    pnl = _numbers(rows["pnl_brl"])
    contrib = _numbers(rows["contribution_bps"]) / 10_000.0

    def fail(mask: npt.NDArray[np.bool_], what: str, field_name: str) -> InvalidInput:
        i = int(np.argmax(mask))
        return InvalidInput(f"{table} on {base}: {what.format(period[i], dimension[i], bucket[i])}",
                            table=table, field=field_name)

    bad = ~np.isfinite(pnl) | ~np.isfinite(contrib)
    if bad.any():
        raise fail(bad, "{} {} {} is not a number", "pnl_brl")
    p = _rank(PERIODS, period)
    unknown = (p < 0) | (_rank(DIMENSIONS, dimension) < 0)
    if unknown.any():
        raise fail(unknown, "unknown period/dimension {}/{}", "dimension")
    key, dims, names = _catalogue(dimension, bucket)
    row_id = p * max(dims.size, 1) + key
    order = np.argsort(row_id, kind="stable")
    if (np.diff(row_id[order]) == 0).any():
        raise InvalidInput(f"{table} on {base}: a bucket listed twice", table=table,
                           field="bucket")
    p, key, period, dimension, bucket = p[order], key[order], period[order], \
        dimension[order], bucket[order]
    pnl, contrib = pnl[order], contrib[order]
    if state is not None:
        pnl_state = decode_state(state.get("pnl_sum", ""))
        contrib_state = decode_state(state.get("contrib_sum", ""))
        if pnl_state.size != pnl.size or contrib_state.size != pnl.size:
            raise InvalidInput(f"{table} on {base}: chain_state has {pnl_state.size}/"
                               f"{contrib_state.size} values for {pnl.size} rows", table=table,
                               field="chain_state")
        # the state is exact; the stored rows are its rounding (R$ to centavos, bps to 1e-10)
        off = (np.abs(pnl_state - pnl) > _HALF_CENTAVO) | \
            (np.abs(contrib_state - contrib) * 10_000.0 > 1e-9)
        if off.any():
            raise fail(off, "chain_state does not match the row {} {} {}", "chain_state")
        pnl, contrib = pnl_state, contrib_state
    return _Prior(p, key, dims, names, pnl, contrib)


def _period_rows(daily: _Daily, offset: int, first: Mapping[str, int],
                 r: npt.NDArray[np.float64], nav_prev: npt.NDArray[np.float64], linking: str,
                 prior: _Prior | None, base: date | None) -> dict[str, npt.NDArray[Any]]:
    """period, dimension, bucket, pnl_brl and contrib_sum (a fraction) of every period, as
    arrays in display order, from the daily buckets of days[offset:] (and ``prior``, the rows of
    days[offset − 1], for the periods that began on or before it).

    All periods are bins (period, key) of one ``np.bincount`` per sum. Bincount adds in array
    order, and the arrays hold the base sums first, then each period's days in day order: so
    every bin is the same left fold over the days as a period-by-period pass — chained or
    not, bit for bit.
    """
    n_prior = 0 if prior is None else prior.dimensions.size
    key, dims, names = _catalogue(daily.dimensions, daily.labels) if prior is None else \
        _catalogue(np.concatenate([prior.dimensions, daily.dimensions]),
                   np.concatenate([prior.buckets, daily.labels]))
    n_keys = max(dims.size, 1)
    ids, pnl, contrib = [], [], []
    if prior is not None:
        chained = np.array([first[p] < offset for p in PERIODS])
        lacking = chained & (np.bincount(prior.period, minlength=len(PERIODS)) == 0)
        if lacking.any():
            raise InvalidInput(f"attribution on {base}: no {PERIODS[int(np.argmax(lacking))]} "
                               "rows to chain on", table="attribution", field="period")
        take = chained[prior.period]
        ids.append(prior.period[take] * n_keys + key[:n_prior][prior.key[take]])
        pnl.append(prior.pnl_sum[take])
        contrib.append(prior.contrib_sum[take])
    bucket_key = key[n_prior:]
    for p, period in enumerate(PERIODS):  # six windows over the same daily buckets
        i0 = first[period]
        keep = daily.d + offset >= i0
        d, day_pnl = daily.d[keep] + offset, daily.pnl[keep]
        ids.append(p * n_keys + bucket_key[daily.bucket[keep]])
        pnl.append(day_pnl)
        contrib.append(day_pnl / nav_prev[d] * linking_multipliers(r[i0:], linking)[d - i0])
    bins = np.concatenate(ids)
    n_bins = len(PERIODS) * n_keys
    sel = np.flatnonzero(np.bincount(bins, minlength=n_bins))
    period_of, key_of = np.divmod(sel, n_keys)
    return {
        "period": np.asarray(PERIODS, dtype=object)[period_of],
        "dimension": dims[key_of],
        "bucket": names[key_of],
        "pnl_brl": np.bincount(bins, weights=np.concatenate(pnl), minlength=n_bins)[sel],
        "contrib_sum": np.bincount(bins, weights=np.concatenate(contrib), minlength=n_bins)[sel],
    }


def _assemble(days: npt.NDArray[np.datetime64], book: _Book, fact: _Facts,
              daily: _Daily, offset: int, prior: _Prior | None, on: date,
              inception: date, linking: str, base: date | None = None) -> AttributionResult:
    """Rows, stats, equity curve and metadata from the daily buckets of days[offset:].

    ``offset`` > 0 (incremental): ``daily.d`` and ``fact.d`` index days[offset:], and the
    periods that began before days[offset] are chained on ``prior`` (the rows of
    days[offset − 1]).
    """
    book_pnl, r, nav_prev = book.pnl, book.r, book.nav_prev
    day_dates: list[date] = days.tolist()
    starts = {p: period_start(p, on, inception) for p in PERIODS}
    first = {p: int(np.searchsorted(days, np.datetime64(s, "D"))) for p, s in starts.items()}
    sums = _period_rows(daily, offset, first, r, nav_prev, linking, prior, base)
    chain_state = {"pnl_sum": encode_state(sums["pnl_brl"]),
                   "contrib_sum": encode_state(sums["contrib_sum"])}
    rows = pd.DataFrame({"business_date": on, "period": sums["period"],
                         "dimension": sums["dimension"], "bucket": sums["bucket"],
                         "pnl_brl": sums["pnl_brl"],
                         "contribution_bps": sums["contrib_sum"] * 10_000.0})

    cdi = book.cdi
    stats_rows = []
    for period in STATS_PERIODS:
        i0 = first[period]
        stats = performance_stats(r[i0:], cdi[i0:], dates=day_dates[i0:], pnl=book_pnl[i0:])
        stats_rows.append({"business_date": on, "period": period, "stats": _jsonable(stats)})
    stats_frame = pd.DataFrame(stats_rows, columns=["business_date", "period", "stats"])

    equity = pd.DataFrame({
        "business_date": day_dates,
        "nav_brl": book.nav,
        "cumulative_return": np.cumprod(1.0 + r) - 1.0,
        "drawdown": drawdown(r),
    })

    last = days.size - 1
    on_facts = fact.d + offset == last
    total_pnl = float(book_pnl[last])
    metadata = {
        "business_date": on.isoformat(),
        "inception": inception.isoformat(),
        "total_pnl_brl": total_pnl,
        "total_bps": float(r[last] * 10_000.0),
        "unallocated_pnl_brl": total_pnl - float(fact.money["pnl_brl"][on_facts].sum()),
        "dimensions": list(DIMENSIONS),
        "periods": list(PERIODS),
        "period_starts": {p: s.isoformat() for p, s in starts.items()},
        "linking": linking,
        "n_days_itd": int(days.size),
        "n_facts_on_date": int(on_facts.sum()),
        "n_rows": len(rows),
        "method": "full" if prior is None else "incremental",
        "base_date": None if base is None else base.isoformat(),
        "chain_state": chain_state,
    }
    return AttributionResult(rows, stats_frame, equity, metadata)


# ============================================================================================
# input preparation (validation lives here so the core can assume clean arrays)


@dataclass(frozen=True)
class _Facts:
    """Fact rows as integer codes, so every group-by is on an int64 key (fast at 10^6 rows).

    ``d`` indexes the business days of [inception, on]; ``inst``/``strat`` index the sorted
    label arrays (sorted, so codes and tie-breaks do not depend on row order).
    """

    d: npt.NDArray[np.int64]
    inst: npt.NDArray[np.int64]
    strat: npt.NDArray[np.int64]
    money: dict[str, npt.NDArray[np.float64]]
    inst_labels: npt.NDArray[np.object_]
    strat_labels: npt.NDArray[np.object_]


def _as_date(value: Any, what: str) -> date:
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise InvalidInput(f"{what} must be a date, got {value!r}", field=what)


def _require(frame: pd.DataFrame, columns: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(f"{table}: missing column(s) {', '.join(missing)}",
                           table=table, field=missing[0])


def _to_days(values: pd.Series, table: str) -> npt.NDArray[np.datetime64]:
    """Days of a date column. Dates, datetimes and ISO text (what the drivers return)
    convert in numpy's C loop; anything else goes through the pandas parser."""
    raw = values.to_numpy()
    try:
        out = raw.astype("datetime64[D]") if raw.dtype.kind in "MO" else None
    except (ValueError, TypeError):
        out = None
    try:
        if out is None:
            out = pd.to_datetime(values).to_numpy().astype("datetime64[D]")
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{table}.business_date is not a date: {exc}", table=table,
                           field="business_date") from exc
    if np.isnat(out).any():
        raise InvalidInput(f"{table}.business_date has a missing date", table=table,
                           field="business_date")
    return out


def _numbers(values: pd.Series) -> npt.NDArray[np.float64]:
    """float64, NaN where not a number (numpy number columns — most — without the parser)."""
    if values.dtype.kind in "iuf":  # numpy ints and floats: exact as float64 (|x| < 2^53)
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


@dataclass(frozen=True)
class _Book:
    """``book_snapshots`` as float64 arrays, one per business day of ``days``, in order."""

    pnl: npt.NDArray[np.float64]
    nav_prev: npt.NDArray[np.float64]
    nav: npt.NDArray[np.float64]
    cdi: npt.NDArray[np.float64]
    r: npt.NDArray[np.float64]  # pnl / nav_prev: the day's return


def _repeated(values: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """True where a value already occurred earlier in the array."""
    seen = np.ones(values.size, dtype=bool)
    seen[np.unique(values, return_index=True)[1]] = False
    return seen


def _prepare_books(books: pd.DataFrame, days: npt.NDArray[np.datetime64]) -> _Book:
    """One row per business day in ``days``, in order, with r = pnl / nav_prev."""
    table = "book_snapshots"
    _require(books, _BOOK_COLUMNS, table)
    when = _to_days(books["business_date"], table)
    keep = (when >= days[0]) & (when <= days[-1])
    when = when[keep]

    def fail(i: int, field_name: str, what: str) -> InvalidInput:
        return InvalidInput(f"{table} on {when[i]}: {what}", table=table, row=str(when[i]),
                            field=field_name)

    dup = _repeated(when)
    if dup.any():
        raise fail(int(np.argmax(dup)), "business_date", "two rows for the same date")
    extra = ~np.isin(when, days)
    if extra.any():
        i = int(np.argmax(extra))
        raise fail(i, "business_date", f"not an ANBIMA business day ({cal.holiday_name(when[i].item())})")
    missing = days[~np.isin(days, when)]
    if missing.size:
        listed = ", ".join(str(m) for m in missing[:5]) + (" ..." if missing.size > 5 else "")
        raise InvalidInput(f"{table}: no book for business day(s) {listed} "
                           f"({missing.size} missing between {days[0]} and {days[-1]})",
                           table=table, row=str(missing[0]), field="business_date")
    order = np.argsort(when, kind="stable")
    when = when[order]
    money = {}
    for col in ("nav_prev_brl", "pnl_brl", "nav_brl"):
        values = _numbers(books[col])[keep][order]
        bad = ~np.isfinite(values)
        if bad.any():
            raise fail(int(np.argmax(bad)), col, f"{col} is missing or not a number")
        money[col] = values
    nav, prev, pnl = money["nav_brl"], money["nav_prev_brl"], money["pnl_brl"]
    nonpositive = prev <= 0.0
    if nonpositive.any():
        raise fail(int(np.argmax(nonpositive)), "nav_prev_brl",
                   "nav_prev_brl must be > 0: returns are in bps of NAV_(t-1)")
    # The NAV chain: NAV_{t-1} of a day is the previous day's NAV. Otherwise the return path
    # (and the equity curve) would not describe the NAV the fund reported.
    broken = np.abs(prev[1:] - nav[:-1]) > _HALF_CENTAVO
    if broken.any():
        i = int(np.argmax(broken)) + 1
        raise fail(i, "nav_prev_brl", f"nav_prev_brl is {prev[i]:.2f} but nav_brl on "
                                      f"{when[i - 1]} is {nav[i - 1]:.2f}")
    cdi = _numbers(books["cdi_rate"])[keep][order]
    if (~np.isfinite(cdi)).any():
        raise MissingCdi(when[int(np.argmax(~np.isfinite(cdi)))].item())
    r = pnl / prev
    wiped = r <= -1.0
    if wiped.any():
        raise fail(int(np.argmax(wiped)), "pnl_brl", "a loss of 100% of NAV or more")
    return _Book(pnl, prev, nav, cdi, r)


def _parse_tags(raw: Any, strategy_id: str) -> dict[str, float]:
    """factor_tags JSON -> {tag: weight summing to 1}. A list splits equally; [] -> untagged."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise InvalidInput(f"strategies.factor_tags of {strategy_id} is not JSON: {exc}",
                               table="strategies", row=strategy_id, field="factor_tags") from exc
    if raw is None:
        raw = []
    if isinstance(raw, Mapping):
        try:
            pairs = [(str(k).strip(), float(v)) for k, v in raw.items()]
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"strategies.factor_tags of {strategy_id}: weights must be "
                               f"numbers ({exc})", table="strategies", row=strategy_id,
                               field="factor_tags") from exc
    elif isinstance(raw, (list, tuple, np.ndarray)):
        names = list(dict.fromkeys(str(t).strip() for t in raw))  # dedupe, keep order
        pairs = [(t, 1.0) for t in names]
    else:
        raise InvalidInput(f"strategies.factor_tags of {strategy_id} must be a JSON list or "
                           f"object, got {type(raw).__name__}", table="strategies",
                           row=strategy_id, field="factor_tags")
    for tag, w in pairs:
        if not tag or tag == RESIDUAL or len(tag) > _BUCKET_MAX_LEN:
            raise InvalidInput(f"strategies.factor_tags of {strategy_id}: invalid tag {tag!r}",
                               table="strategies", row=strategy_id, field="factor_tags")
        if not math.isfinite(w) or w < 0.0:
            raise InvalidInput(f"strategies.factor_tags of {strategy_id}: weight of {tag} must "
                               f"be a finite number >= 0, got {w}", table="strategies",
                               row=strategy_id, field="factor_tags")
    pairs = [(t, w) for t, w in pairs if w > 0.0]
    if not pairs:
        return {UNTAGGED: 1.0}
    total = sum(w for _, w in pairs)
    return {t: w / total for t, w in pairs}


def _content_key(value: Any) -> str:
    """Equal for equal factor_tags values, distinct otherwise: ``repr`` keeps a JSON text
    apart from the list it spells; a numpy array's repr abbreviates, so it is listed first."""
    return repr(value.tolist() if isinstance(value, np.ndarray) else value)


def _tag_weights(ids: npt.NDArray[np.object_], raw: npt.NDArray[np.object_]) -> pd.DataFrame:
    """(strategy_id, tag, weight) rows: strategies in row order, each one's tags in its order.

    Each distinct factor_tags value is parsed once and its rows repeated: a book of hundreds
    of strategies repeats a handful of tag sets, and parsing was the bulk of the cost. Values
    are parsed in order of first appearance, so a bad value is named by its first strategy.
    """
    codes, _ = pd.factorize(np.asarray(list(map(_content_key, raw)), dtype=object))
    _, first = np.unique(codes, return_index=True)
    parsed = [_parse_tags(raw[i], ids[i]) for i in first]  # one per distinct tag set
    size = np.asarray([len(tags) for tags in parsed], dtype=np.int64)
    tag = np.asarray([t for tags in parsed for t in tags], dtype=object)
    weight = np.asarray([w for tags in parsed for w in tags.values()], dtype=np.float64)
    row, item = _expand(codes, size)
    return pd.DataFrame({"strategy_id": ids[row], "tag": tag[item], "weight": weight[item]})


def _expand(codes: npt.NDArray[np.int64], size: npt.NDArray[np.int64]
            ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """A join without pandas' merge: group g has ``size[g]`` items stored contiguously (in
    group order); each row, of group ``codes[row]``, is paired with every item of its group.
    Returns (row, item) index pairs in row order, then item order — a left join's order."""
    per_row = size[codes]
    row = np.repeat(np.arange(codes.size), per_row)
    within = np.arange(row.size) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    return row, (np.cumsum(size) - size)[codes][row] + within


def _prepare_strategies(strategies: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """(tag weights: strategy_id, tag, weight) and style per strategy_id."""
    table = "strategies"
    _require(strategies, _STRATEGY_COLUMNS, table)
    ids = strategies["strategy_id"].astype(str)
    if ids.duplicated().any():
        dup = ids[ids.duplicated()].iloc[0]
        raise InvalidInput(f"{table}: strategy {dup} listed twice", table=table, row=dup,
                           field="strategy_id")
    tags = _tag_weights(ids.to_numpy(dtype=object), strategies["factor_tags"].to_numpy(dtype=object))
    systematic = strategies["is_systematic"]
    if systematic.isna().any():
        bad = ids[systematic.isna().to_numpy()].iloc[0]
        raise InvalidInput(f"{table}.is_systematic is missing for {bad}", table=table, row=bad,
                           field="is_systematic")
    style = pd.Series(np.where(systematic.astype(bool).to_numpy(), SYSTEMATIC, DISCRETIONARY),
                      index=ids.to_numpy(), name="style")
    return tags, style


def _prepare_instruments(instruments: pd.DataFrame) -> pd.Series:
    """asset_class per instrument_id, validated against the known classes."""
    table = "instruments"
    _require(instruments, _INSTRUMENT_COLUMNS, table)
    ids = instruments["instrument_id"].astype(str)
    if ids.duplicated().any():
        dup = ids[ids.duplicated()].iloc[0]
        raise InvalidInput(f"{table}: instrument {dup} listed twice", table=table, row=dup,
                           field="instrument_id")
    classes = pd.Series(instruments["asset_class"].astype(str).to_numpy(), index=ids.to_numpy())
    unknown = ~classes.isin(list(RISK_FACTOR_BY_ASSET_CLASS)).to_numpy()
    if unknown.any():
        bad = classes.index[unknown][0]
        raise InvalidInput(f"{table}.asset_class of {bad} is {classes[bad]!r}; expected one of "
                           f"{', '.join(RISK_FACTOR_BY_ASSET_CLASS)}", table=table, row=bad,
                           field="asset_class")
    return classes


@dataclass(frozen=True)
class _FactRows:
    """Date and ids of each kept fact row: what an error names."""

    when: npt.NDArray[np.datetime64]
    instrument_id: npt.NDArray[np.object_]
    strategy_id: npt.NDArray[np.object_]

    def error(self, mask: npt.NDArray[np.bool_], field_name: str, what: str) -> InvalidInput:
        """The error for the first row in ``mask``."""
        i = int(np.argmax(mask))
        when, inst, strat = self.when[i], self.instrument_id[i], self.strategy_id[i]
        return InvalidInput(f"position_marks {inst} / {strat} on {when}: {what}",
                            table="position_marks", row=(str(when), str(inst), str(strat)),
                            field=field_name)


def _labels(values: npt.NDArray[np.object_], what: str, rows: _FactRows
            ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.object_]]:
    """Sorted factorisation of an id column; a missing id is an error naming the row."""
    codes, uniques = pd.factorize(values, sort=True)
    if (codes < 0).any():
        raise rows.error(codes < 0, what, f"{what} is missing")
    labels = np.asarray([str(u) for u in uniques], dtype=object)
    return codes.astype(np.int64), labels


def _prepare_facts(facts: pd.DataFrame, days: npt.NDArray[np.datetime64],
                   asset_class: pd.Series, strategy_ids: pd.Index) -> _Facts:
    """Fact rows in [days[0], days[-1]], validated and encoded (see :class:`_Facts`).
    Column by column on arrays: no copy of the frame, no pandas op per check."""
    table = "position_marks"
    _require(facts, _FACT_COLUMNS, table)
    when = _to_days(facts["business_date"], table)
    keep = (when >= days[0]) & (when <= days[-1])
    rows = _FactRows(when[keep], facts["instrument_id"].to_numpy(dtype=object)[keep],
                     facts["strategy_id"].to_numpy(dtype=object)[keep])
    d = np.searchsorted(days, rows.when).astype(np.int64)
    not_bd = days[np.minimum(d, days.size - 1)] != rows.when
    if not_bd.any():
        raise rows.error(not_bd, "business_date", "not an ANBIMA business day")
    inst, inst_labels = _labels(rows.instrument_id, "instrument_id", rows)
    strat, strat_labels = _labels(rows.strategy_id, "strategy_id", rows)
    money = {}
    for col in _MONEY:
        values = _numbers(facts[col])[keep]
        bad = ~np.isfinite(values)
        if bad.any():
            raise rows.error(bad, col, f"{col} is missing or not a number")
        money[col] = values
    unknown = asset_class.index.get_indexer(inst_labels) < 0
    if unknown.any():
        raise rows.error(unknown[inst], "instrument_id", "instrument not in the instrument master")
    unknown = strategy_ids.get_indexer(strat_labels) < 0
    if unknown.any():
        raise rows.error(unknown[strat], "strategy_id", "strategy not in the strategies table")
    for codes, labels, col in ((inst, inst_labels, "instrument_id"), (strat, strat_labels, "strategy_id")):
        reserved = labels == RESIDUAL
        if reserved.any():
            raise rows.error(reserved[codes], col, f"{RESIDUAL!r} is a reserved bucket name")
    dup = _repeated((d * inst_labels.size + inst) * strat_labels.size + strat)
    if dup.any():
        raise rows.error(dup, "strategy_id", "two rows for the same position")
    return _Facts(d, inst, strat, money, inst_labels, strat_labels)


# ============================================================================================
# splitting in centavos


def _split_centavos(amount: npt.NDArray[np.float64], weight: npt.NDArray[np.float64],
                    group: npt.NDArray[np.int64], tiebreak: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Split each group's ``amount`` (same value on every row of the group) by ``weight``.

    Largest remainder in centavos (Hamilton's method): every share is floor(amount·w) in
    centavos, and the centavos left over go one each to the largest remainders (ties by
    ``tiebreak``); any sub-centavo part of the amount ends on the last share. The shares sum
    to the amount exactly and are whole centavos whenever the amount is. Why: the writer
    rounds every bucket to centavos, and Σ rounded buckets must still equal the rounded total.
    Weights must sum to 1 per group.
    """
    n = amount.size
    if n == 0:
        return amount.copy()
    cents = amount * 100.0
    snapped = np.round(cents)
    cents = np.where(np.abs(cents - snapped) < 1e-6, snapped, cents)
    raw = cents * weight
    base = np.floor(raw)
    _, g = np.unique(group, return_inverse=True)
    n_groups = int(g.max()) + 1
    size = np.bincount(g, minlength=n_groups)[g]
    left = cents - np.bincount(g, weights=base, minlength=n_groups)[g]
    order = np.lexsort((tiebreak, -(raw - base), g))
    starts = np.concatenate(([0], np.cumsum(np.bincount(g, minlength=n_groups))[:-1]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[g[order]]
    extra = np.clip(left - rank, 0.0, 1.0)
    is_last = rank == size - 1
    others = np.bincount(g, weights=np.where(is_last, 0.0, extra), minlength=n_groups)[g]
    extra = np.where(is_last, left - others, extra)
    return (base + extra) / 100.0


def _apply_weights(fact: _Facts, weights: pd.DataFrame, strategy_ids: pd.Index) -> _Facts:
    """Split shared positions: one fact row per share_strategy_id, money in centavo shares."""
    table = "weights"
    _require(weights, ("instrument_id", "strategy_id", "share_strategy_id", "weight"), table)
    w = weights[["instrument_id", "strategy_id", "share_strategy_id", "weight"]].copy()
    for col in ("instrument_id", "strategy_id", "share_strategy_id"):
        w[col] = w[col].astype(str)
    w["weight"] = _numbers(w["weight"])
    key = w["instrument_id"] + " / " + w["strategy_id"]
    bad = ~np.isfinite(w["weight"].to_numpy()) | (w["weight"].to_numpy() <= 0.0)
    if bad.any():
        k = key[bad].iloc[0]
        raise InvalidInput(f"{table}: weight of {k} must be a number > 0", table=table, row=k,
                           field="weight")
    twice = w.duplicated(["instrument_id", "strategy_id", "share_strategy_id"]).to_numpy()
    if twice.any():
        k = key[twice].iloc[0]
        raise InvalidInput(f"{table}: {k} lists a share strategy twice", table=table, row=k,
                           field="share_strategy_id")
    sums = w.groupby(["instrument_id", "strategy_id"])["weight"].transform("sum")
    off = ((sums - 1.0).abs() > _WEIGHT_TOL).to_numpy()
    if off.any():
        k = key[off].iloc[0]
        raise InvalidInput(f"{table}: weights of {k} sum to {sums[off].iloc[0]:.12g}, not 1",
                           table=table, row=k, field="weight")
    unknown = ~w["share_strategy_id"].isin(strategy_ids).to_numpy()
    if unknown.any():
        k = w["share_strategy_id"][unknown].iloc[0]
        raise InvalidInput(f"{table}: share strategy {k} not in the strategies table",
                           table=table, row=k, field="share_strategy_id")
    w["weight"] = w["weight"] / sums  # exact unit sums, so the centavo splits close exactly

    labels = np.asarray(sorted(set(fact.strat_labels) | set(w["share_strategy_id"])), dtype=object)
    old_to_new = np.searchsorted(labels, fact.strat_labels)
    inst_code = {label: i for i, label in enumerate(fact.inst_labels)}
    strat_code = {label: i for i, label in enumerate(fact.strat_labels)}
    w["inst"] = w["instrument_id"].map(inst_code)
    w["strat"] = w["strategy_id"].map(strat_code)
    w = w.dropna(subset=["inst", "strat"]).astype({"inst": np.int64, "strat": np.int64})
    w["share"] = np.searchsorted(labels, w["share_strategy_id"].to_numpy(dtype=object))

    rows = pd.DataFrame({"row": np.arange(fact.d.size), "inst": fact.inst, "strat": fact.strat})
    merged = rows.merge(w[["inst", "strat", "share", "weight"]], on=["inst", "strat"], how="left")
    own = merged["share"].isna().to_numpy()
    row = merged["row"].to_numpy()
    share = np.where(own, old_to_new[fact.strat[row]], merged["share"].fillna(0).to_numpy())
    share = share.astype(np.int64)
    weight = np.where(own, 1.0, merged["weight"].fillna(1.0).to_numpy())
    money = {col: _split_centavos(v[row], weight, row, share) for col, v in fact.money.items()}
    return _Facts(fact.d[row], fact.inst[row], share, money, fact.inst_labels, labels)


# ============================================================================================
# daily buckets


@dataclass(frozen=True)
class _Daily:
    """Per-day bucket P&L: rows (d, bucket, pnl) and the bucket catalogue they index."""

    d: npt.NDArray[np.int64]
    bucket: npt.NDArray[np.int64]
    pnl: npt.NDArray[np.float64]
    dimensions: npt.NDArray[np.object_]  # per bucket id
    labels: npt.NDArray[np.object_]  # per bucket id


def _sum_by_day(d: npt.NDArray[np.int64], code: npt.NDArray[np.int64], values: npt.NDArray[np.float64],
                n_codes: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Σ values per (d, code), keyed d·n_codes + code: one sort of int64, no string hashing."""
    key = d * max(n_codes, 1) + code
    uniq, inverse = np.unique(key, return_inverse=True)
    sums = np.bincount(inverse, weights=values, minlength=uniq.size)
    return uniq // max(n_codes, 1), uniq % max(n_codes, 1), sums


def _lookup(series: pd.Series, labels: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """``series`` at ``labels`` (all in its index: the facts were validated against it)."""
    return series.to_numpy(dtype=object)[series.index.get_indexer(labels)]


def _daily_buckets(fact: _Facts, book_pnl: npt.NDArray[np.float64], tags: pd.DataFrame,
                   style: pd.Series, asset_class: pd.Series) -> _Daily:
    """Per day and dimension, the bucket P&L; every dimension sums to the book P&L each day."""
    n_days = book_pnl.size
    all_days = np.arange(n_days, dtype=np.int64)
    dims: list[str] = []
    labels: list[str] = []
    parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]] = []
    pnl = fact.money["pnl_brl"]

    def add(dimension: str, names: Sequence[str], d: npt.NDArray[np.int64],
            code: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> None:
        """Buckets ``names`` + residual; residual = book P&L − Σ buckets, every day."""
        offset = len(labels)
        dims.extend([dimension] * (len(names) + 1))
        labels.extend([*names, RESIDUAL])
        dd, cc, ss = _sum_by_day(d, code, values, len(names))
        parts.append((dd, offset + cc, ss))
        residual = book_pnl - np.bincount(dd, weights=ss, minlength=n_days)
        parts.append((all_days, np.full(n_days, offset + len(names)), residual))

    dims.append(TOTAL)
    labels.append(TOTAL)
    parts.append((all_days, np.zeros(n_days, dtype=np.int64), book_pnl))

    bs_d, bs_s, bs_p = _sum_by_day(fact.d, fact.strat, pnl, fact.strat_labels.size)
    add("strategy", list(fact.strat_labels), bs_d, bs_s, bs_p)

    class_of_inst = _lookup(asset_class, fact.inst_labels)
    class_code, class_labels = pd.factorize(class_of_inst, sort=True)
    add("asset_class", list(class_labels), fact.d, class_code[fact.inst], pnl)

    add("instrument", list(fact.inst_labels), fact.d, fact.inst, pnl)

    factor_of_inst = np.asarray([RISK_FACTOR_BY_ASSET_CLASS[c] for c in class_of_inst], dtype=object)
    factor_labels = np.asarray(sorted({*factor_of_inst, "fx"}), dtype=object)
    factor_code = np.searchsorted(factor_labels, factor_of_inst)
    fx_pnl = fact.money["pnl_fx_brl"]
    translated = fx_pnl != 0.0  # the FX-translation leg of every row goes to fx
    add("risk_factor", list(factor_labels),
        np.concatenate([fact.d, fact.d[translated]]),
        np.concatenate([factor_code[fact.inst],
                        np.full(int(translated.sum()), int(np.searchsorted(factor_labels, "fx")))]),
        np.concatenate([pnl - fx_pnl, fx_pnl[translated]]))

    # each (day, strategy) sum paired with the strategy's tags, in tag-table order
    s = pd.Index(fact.strat_labels).get_indexer(tags["strategy_id"].to_numpy(dtype=object))
    used = s >= 0
    tag_names = tags["tag"].to_numpy(dtype=object)[used]
    tag_labels = np.unique(tag_names)
    by_strategy = np.argsort(s[used], kind="stable")
    t = np.searchsorted(tag_labels, tag_names)[by_strategy]
    w = tags["weight"].to_numpy(dtype=np.float64)[used][by_strategy]
    row, item = _expand(bs_s, np.bincount(s[used], minlength=fact.strat_labels.size))
    add("factor_tag", list(tag_labels), bs_d[row], t[item],
        _split_centavos(bs_p[row], w[item], row, t[item]))

    style_labels = [DISCRETIONARY, SYSTEMATIC]
    is_systematic = _lookup(style, fact.strat_labels) == SYSTEMATIC
    add("style", style_labels, bs_d, is_systematic.astype(np.int64)[bs_s], bs_p)

    # explain: the seven MTM columns; residual also takes pnl − Σ components of the rows and
    # the book residual (fund P&L − Σ position P&L), so the dimension closes like the others.
    offset = len(labels)
    dims.extend(["explain"] * len(EXPLAIN_BUCKETS))
    labels.extend(EXPLAIN_BUCKETS.values())
    held = np.flatnonzero(np.bincount(fact.d, minlength=n_days) > 0)
    explained = np.zeros(n_days)
    for j, col in enumerate(EXPLAIN_BUCKETS):
        by_day = np.bincount(fact.d, weights=fact.money[col], minlength=n_days)
        explained += by_day
        if col == "pnl_residual_brl":
            by_day = by_day + book_pnl - explained  # everything the named parts do not explain
            parts.append((all_days, np.full(n_days, offset + j), by_day))
        else:
            parts.append((held, np.full(held.size, offset + j), by_day[held]))

    n_buckets = len(labels)
    d, bucket, total = _sum_by_day(np.concatenate([p[0] for p in parts]),
                                   np.concatenate([p[1] for p in parts]).astype(np.int64),
                                   np.concatenate([p[2] for p in parts]), n_buckets)
    return _Daily(d, bucket, total, np.asarray(dims, dtype=object),
                  np.asarray(labels, dtype=object))


def _jsonable(value: Any) -> Any:
    """Plain Python types (float, int, str, None, dict, list): what the Json column stores."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    return value
