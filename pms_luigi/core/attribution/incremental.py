"""Incremental attribution: the result of ``on`` chained on the rows of an earlier date.

What the pipeline runs every day: O(days since base) instead of O(days since inception),
and identical bit for bit to the full pass when the base's running sums are given. Why it
is exact:

* every daily bucket is a function of that day's facts, book and the reference data alone,
  so the days in (base, on] give the same daily buckets as in the full pass;
* a period that started after ``base`` (always DAY; WTD/MTD/... on a boundary) lies inside
  (base, on]: computed exactly as the full pass does;
* a period that started on or before ``base`` started on the same day for ``base`` (same
  calendar week/month/quarter/year, same inception), so its sums are ``base``'s row plus
  the new days: R$ = R$(base) + Σ P&L; Frongello bps = bps(base) + 10⁴·Σ c_t·Π_{s<t}(1+r_s)
  over the period — the multipliers of the new days depend only on the returns before them
  (the book series, read in full: one row per day), which is why Frongello chains and
  Carino (K depends on the whole period) does not;
* a bucket is listed when it is listed in ``base``'s rows of that period or has a fact row
  in the new days — the same "has a fact row in the period" rule.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from pms_luigi.core import calendar as cal
from pms_luigi.core.attribution.buckets import daily_buckets
from pms_luigi.core.attribution.engine import AttributionResult, assemble
from pms_luigi.core.attribution.facts import (
    DIMENSIONS,
    HALF_CENTAVO,
    apply_weights,
    business_dates,
    numbers,
    prepare_books,
    prepare_facts,
)
from pms_luigi.core.attribution.periods import PERIODS, Prior, catalogue, decode_state, rank
from pms_luigi.core.attribution.reference import Reference, resolve
from pms_luigi.core.errors import InvalidInput, NotBusinessDay
from pms_luigi.core.frames import as_date, require


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
    reference: Reference | None = None,
) -> AttributionResult:
    """``attribute`` of ``on``, chained on the attribution rows of an earlier date ``base``.

    With ``base_state`` (``base``'s ``metadata["chain_state"]``: the unrounded running sums
    behind its rows) the result is identical bit for bit to the full pass: every period sum
    is the same left-to-right float fold over the days, resumed where ``base`` stopped.
    Without it the chain starts from the rows as stored (R$ in centavos, bps to the
    column's 10 decimals): R$ still equal to the centavo, bps within ~1e-10 per chained day.

    Args:
        base_rows: the persisted ``attribution`` rows of ``base`` (period, dimension, bucket,
            pnl_brl, contribution_bps; business_date if present must be ``base``), computed
            with the same reference data (the caller compares the reference digests).
        base: a business day in [inception, on).
        facts: ``position_marks`` rows for the business days in (base, on]; others ignored.
        books, strategies, instruments, on, inception, weights: as ``attribute``.
        base_state: ``metadata["chain_state"]`` of ``base``'s result, or None.
        reference: ``Reference.of(strategies, instruments)`` prepared once per run; None
            prepares it here (same result).

    Returns:
        The ``AttributionResult`` of ``on``; metadata ``method`` is ``incremental``.

    Raises:
        NotBusinessDay: ``on`` is not an ANBIMA business day.
        InvalidInput: as ``attribute``, or when ``base_rows`` lack a period to chain on,
            list a bucket twice or hold a non-number, or ``base_state`` does not match
            ``base_rows``.
    """
    on, inception = as_date(on, "on"), as_date(inception, "inception")
    base = as_date(base, "base")
    if not cal.is_business_day(on):
        raise NotBusinessDay(on, cal.holiday_name(on) or "not a business day")
    if not (inception <= base < on) or not cal.is_business_day(base):
        raise InvalidInput(f"base {base} must be a business day in [{inception}, {on})",
                           field="base")
    days = np.array(cal.business_days(inception, on), dtype="datetime64[D]")
    k = int(np.searchsorted(days, np.datetime64(base, "D")))
    book = prepare_books(books, days)
    ref = resolve(strategies, instruments, reference)
    fact = prepare_facts(facts, days[k + 1:], ref.asset_class, ref.style.index)
    if weights is not None:
        fact = apply_weights(fact, weights, ref.style.index)
    daily = daily_buckets(fact, book.pnl[k + 1:], ref.tags, ref.style, ref.asset_class)
    prior = _prepare_base_rows(base_rows, base, base_state)
    return assemble(days, book, fact, daily, k + 1, prior, on, inception, "frongello",
                    base=base)


def _text(values: pd.Series) -> npt.NDArray[np.object_]:
    """A column as an object array of ``str`` (a text column — what the readers return —
    as it is: ``astype(str)`` leaves it unchanged)."""
    if values.dtype != object and pd.api.types.is_string_dtype(values.dtype):
        return values.to_numpy(dtype=object)
    return values.astype(str).to_numpy(dtype=object)


def _prepare_base_rows(rows: pd.DataFrame, base: date,
                       state: Mapping[str, Any] | None) -> Prior:
    """The base date's rows in display order, validated, with the running sums to resume
    from (the exact ``state`` when given, else the stored values)."""
    table = "attribution"
    require(rows, ("period", "dimension", "bucket", "pnl_brl", "contribution_bps"), table)
    if "business_date" in rows.columns and len(rows):
        when = business_dates(rows["business_date"], table)
        if (when != np.datetime64(base, "D")).any():
            raise InvalidInput(f"{table}: base rows must all be dated {base}", table=table,
                               field="business_date")
    period, dimension, bucket = _text(rows["period"]), _text(rows["dimension"]), \
        _text(rows["bucket"])
    pnl = numbers(rows["pnl_brl"])
    contrib = numbers(rows["contribution_bps"]) / 10_000.0

    def fail(mask: npt.NDArray[np.bool_], what: str, field_name: str) -> InvalidInput:
        i = int(np.argmax(mask))
        return InvalidInput(f"{table} on {base}: {what.format(period[i], dimension[i], bucket[i])}",
                            table=table, field=field_name)

    bad = ~np.isfinite(pnl) | ~np.isfinite(contrib)
    if bad.any():
        raise fail(bad, "{} {} {} is not a number", "pnl_brl")
    p = rank(PERIODS, period)
    unknown = (p < 0) | (rank(DIMENSIONS, dimension) < 0)
    if unknown.any():
        raise fail(unknown, "unknown period/dimension {}/{}", "dimension")
    key, dims, names = catalogue(dimension, bucket)
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
        off = (np.abs(pnl_state - pnl) > HALF_CENTAVO) | \
            (np.abs(contrib_state - contrib) * 10_000.0 > 1e-9)
        if off.any():
            raise fail(off, "chain_state does not match the row {} {} {}", "chain_state")
        pnl, contrib = pnl_state, contrib_state
    return Prior(p, key, dims, names, pnl, contrib)
