"""Period windows (DAY, WTD, MTD, QTD, YTD, ITD) and the period sums of the daily buckets.

Periods are on ANBIMA business days, each clipped at inception: DAY = ``on``; WTD from
Monday of ``on``'s week, MTD from the 1st of the month, QTD from the 1st of the quarter,
YTD from Jan 1 — each rolled to the first business day on or after —, ITD from inception.
A period's R$ is the plain sum of the daily P&L; its contribution is the linked sum of
the daily contributions (:mod:`.linking`).
"""
from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from pms_luigi.core import calendar as cal
from pms_luigi.core.attribution.buckets import Daily
from pms_luigi.core.attribution.facts import DIMENSIONS, RESIDUAL
from pms_luigi.core.attribution.linking import linking_multipliers
from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.frames import as_date

PERIODS: Final = ("DAY", "WTD", "MTD", "QTD", "YTD", "ITD")
_SEP: Final = "\x1f"  # joins dimension and bucket into one key (never in a name)


def period_start(period: str, on: date, inception: date) -> date:
    """First ANBIMA business day of ``period`` ending on ``on``, never before inception.

    The calendar anchor (Monday of the week, 1st of month/quarter/year, inception) is rolled
    forward to a business day, so a month that starts on a holiday (Jan 1) starts on Jan 2.

    Raises:
        InvalidInput: an unknown period, or dates that are not dates.

    >>> period_start("YTD", date(2026, 3, 4), date(2020, 1, 2))
    datetime.date(2026, 1, 2)
    >>> period_start("MTD", date(2026, 3, 4), date(2026, 3, 3))
    datetime.date(2026, 3, 3)
    """
    on, inception = as_date(on, "on"), as_date(inception, "inception")
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
        raise InvalidInput(f"unknown period {period!r}; expected one of {PERIODS}",
                           field="period")
    return cal.following(max(anchor, inception))


def rank(names: Sequence[str], values: npt.NDArray[np.object_]) -> npt.NDArray[np.int64]:
    """Position of each value in ``names`` (declaration order), −1 when not listed. The
    values repeat a few names: each distinct one is looked up once."""
    codes, distinct = pd.factorize(values)
    position = {name: i for i, name in enumerate(names)}
    return np.asarray([position.get(v, -1) for v in distinct], dtype=np.int64)[codes]


def catalogue(dimensions: npt.NDArray[np.object_], buckets: npt.NDArray[np.object_]
              ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.object_], npt.NDArray[np.object_]]:
    """The distinct (dimension, bucket) keys in display order, and the key id of each input.

    Display order (how attribution lists rows): dimension in declaration order, ``residual``
    last, then bucket name by code point (as ``str`` compares). Ids are ranks in that order,
    so rows sort by (period, id) with integer sorts only — the strings are hashed once here
    instead of compared in every sort.
    """
    codes, _ = pd.factorize(dimensions + _SEP + buckets)
    _, first = np.unique(codes, return_index=True)
    dims, names = dimensions[first], buckets[first]
    order = np.lexsort((names.astype(str), names == RESIDUAL, rank(DIMENSIONS, dims)))
    ranks = np.empty(order.size, dtype=np.int64)
    ranks[order] = np.arange(order.size)
    return ranks[codes], dims[order], names[order]


def encode_state(values: npt.NDArray[np.float64]) -> str:
    """float64 array -> base64 of its little-endian bytes (exact, compact, JSON-able).

    >>> encode_state(np.array([1.5]))
    'AAAAAAAA+D8='
    """
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f8").tobytes()).decode("ascii")


def decode_state(text: Any) -> npt.NDArray[np.float64]:
    """Inverse of :func:`encode_state`.

    Raises:
        InvalidInput: not base64, or not a whole number of float64.
    """
    try:
        raw = base64.b64decode(str(text).encode("ascii"), validate=True)
    except ValueError as exc:
        raise InvalidInput(f"chain_state is not base64: {exc}", field="chain_state") from exc
    if len(raw) % 8:
        raise InvalidInput("chain_state is not an array of float64", field="chain_state")
    return np.frombuffer(raw, dtype="<f8").astype(np.float64)


@dataclass(frozen=True)
class Prior:
    """An earlier date's rows in display order, with the running sums to resume from.

    ``key`` indexes ``dimensions``/``buckets`` (the rows' own :func:`catalogue`), so the
    union with the new days' buckets hashes each distinct key once, not once per period.
    """

    period: npt.NDArray[np.int64]  # index into PERIODS
    key: npt.NDArray[np.int64]
    dimensions: npt.NDArray[np.object_]
    buckets: npt.NDArray[np.object_]
    pnl_sum: npt.NDArray[np.float64]  # R$
    contrib_sum: npt.NDArray[np.float64]  # linked contribution, as a fraction


def period_rows(daily: Daily, offset: int, first: Mapping[str, int],
                r: npt.NDArray[np.float64], nav_prev: npt.NDArray[np.float64], linking: str,
                prior: Prior | None, base: date | None) -> dict[str, npt.NDArray[Any]]:
    """period, dimension, bucket, pnl_brl and contrib_sum (a fraction) of every period, as
    arrays in display order, from the daily buckets of days[offset:] (and ``prior``, the
    rows of days[offset − 1], for the periods that began on or before it).

    All periods are bins (period, key) of one ``np.bincount`` per sum. Bincount adds in
    array order, and the arrays hold the base sums first, then each period's days in day
    order: so every bin is the same left fold over the days as a period-by-period pass —
    chained or not, bit for bit.

    Raises:
        InvalidInput: ``prior`` lacks the rows of a period to chain on.
    """
    n_prior = 0 if prior is None else prior.dimensions.size
    key, dims, names = catalogue(daily.dimensions, daily.labels) if prior is None else \
        catalogue(np.concatenate([prior.dimensions, daily.dimensions]),
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
