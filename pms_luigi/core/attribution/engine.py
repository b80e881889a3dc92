"""The full attribution pass over [inception, on], and the result both passes assemble.

facts and books (:mod:`.facts`) → daily buckets per dimension (:mod:`.buckets`) → period
sums and linked contributions (:mod:`.periods`, :mod:`.linking`) → rows, statistics
(:mod:`.stats`) and the equity curve.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from pms_luigi.core import calendar as cal
from pms_luigi.core.attribution.buckets import Daily, daily_buckets
from pms_luigi.core.attribution.facts import (
    DIMENSIONS,
    Book,
    Facts,
    apply_weights,
    prepare_books,
    prepare_facts,
)
from pms_luigi.core.attribution.linking import LINKING_METHODS
from pms_luigi.core.attribution.periods import (
    PERIODS,
    Prior,
    encode_state,
    period_rows,
    period_start,
)
from pms_luigi.core.attribution.reference import Reference, resolve
from pms_luigi.core.attribution.stats import STATS_PERIODS, drawdown, performance_stats
from pms_luigi.core.errors import InvalidInput, NotBusinessDay
from pms_luigi.core.frames import as_date, json_safe


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
    reference: Reference | None = None,
) -> AttributionResult:
    """Attribution rows for every period × dimension × bucket, stats and the equity curve.

    Args:
        facts: ``position_marks`` rows (business_date, instrument_id, strategy_id, pnl_brl
            and the seven ``pnl_*_brl`` explain columns) for the business days in
            [inception, on]; rows outside are ignored.
        books: ``book_snapshots`` rows (business_date, nav_prev_brl, pnl_brl, nav_brl,
            cdi_rate) — exactly one per ANBIMA business day in [inception, on].
        strategies: ``strategies`` rows (strategy_id, factor_tags, is_systematic).
        instruments: ``instruments`` rows (instrument_id, asset_class).
        on: the business date attributed. inception: the fund's first business date.
        weights: optional split of shared positions: instrument_id, strategy_id (the fact
            row's key), share_strategy_id, weight (> 0, summing to 1 per key).
        linking: "frongello" (default) or "carino".
        reference: ``Reference.of(strategies, instruments)`` prepared once by a caller that
            attributes many dates; None prepares it here (same result).

    Returns:
        :class:`AttributionResult`. A bucket is listed for a period when it has a fact row
        in the period (even with zero P&L); ``residual`` is listed for every dimension and
        period.

    Raises:
        NotBusinessDay: ``on`` is not an ANBIMA business day.
        InvalidInput: a missing/duplicate/inconsistent row, naming table, date and field;
            a ``reference`` not prepared from these strategies and instruments.
        MissingCdi: a book row in [inception, on] without cdi_rate.
    """
    on, inception = as_date(on, "on"), as_date(inception, "inception")
    if linking not in LINKING_METHODS:
        raise InvalidInput(f"unknown linking method {linking!r}; expected one of "
                           f"{LINKING_METHODS}", field="linking")
    if not cal.is_business_day(on):
        raise NotBusinessDay(on, cal.holiday_name(on) or "not a business day")
    if inception > on:
        raise InvalidInput(f"inception {inception} is after the attribution date {on}",
                           field="inception")
    days = np.array(cal.business_days(inception, on), dtype="datetime64[D]")

    book = prepare_books(books, days)
    ref = resolve(strategies, instruments, reference)
    fact = prepare_facts(facts, days, ref.asset_class, ref.style.index)
    if weights is not None:
        fact = apply_weights(fact, weights, ref.style.index)
    daily = daily_buckets(fact, book.pnl, ref.tags, ref.style, ref.asset_class)
    return assemble(days, book, fact, daily, 0, None, on, inception, linking)


def assemble(days: npt.NDArray[np.datetime64], book: Book, fact: Facts,
             daily: Daily, offset: int, prior: Prior | None, on: date,
             inception: date, linking: str, base: date | None = None) -> AttributionResult:
    """Rows, stats, equity curve and metadata from the daily buckets of days[offset:].

    ``offset`` > 0 (incremental): ``daily.d`` and ``fact.d`` index days[offset:], and the
    periods that began before days[offset] are chained on ``prior`` (the rows of
    days[offset − 1]).
    """
    r = book.r
    day_dates: list[date] = days.tolist()
    starts = {p: period_start(p, on, inception) for p in PERIODS}
    first = {p: int(np.searchsorted(days, np.datetime64(s, "D"))) for p, s in starts.items()}
    sums = period_rows(daily, offset, first, r, book.nav_prev, linking, prior, base)
    rows = pd.DataFrame({"business_date": on, "period": sums["period"],
                         "dimension": sums["dimension"], "bucket": sums["bucket"],
                         "pnl_brl": sums["pnl_brl"],
                         "contribution_bps": sums["contrib_sum"] * 10_000.0})
    stats = pd.DataFrame(
        [{"business_date": on, "period": period,
          "stats": json_safe(performance_stats(r[first[period]:], book.cdi[first[period]:],
                                               dates=day_dates[first[period]:],
                                               pnl=book.pnl[first[period]:]))}
         for period in STATS_PERIODS],
        columns=["business_date", "period", "stats"])
    equity = pd.DataFrame({
        "business_date": day_dates,
        "nav_brl": book.nav,
        "cumulative_return": np.cumprod(1.0 + r) - 1.0,
        "drawdown": drawdown(r),
    })
    last = days.size - 1
    on_facts = fact.d + offset == last
    total_pnl = float(book.pnl[last])
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
        "chain_state": {"pnl_sum": encode_state(sums["pnl_brl"]),
                        "contrib_sum": encode_state(sums["contrib_sum"])},
    }
    return AttributionResult(rows, stats, equity, metadata)
