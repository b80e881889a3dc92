"""Daily P&L per dimension and bucket: every dimension sums to the fund P&L every day.

Each dimension's buckets are group-bys of the (allocated) fact rows, plus an explicit
``residual`` bucket = fund P&L − Σ position P&L (cash yield, fees, anything the positions do
not carry). The ``total`` dimension is the fund P&L itself. A bucket has a row on a day when
a fact row maps to it that day (even with zero P&L); ``residual`` has a row every day.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from pms_luigi.core.attribution.facts import (
    DISCRETIONARY,
    EXPLAIN_BUCKETS,
    RESIDUAL,
    RISK_FACTOR_BY_ASSET_CLASS,
    SYSTEMATIC,
    TOTAL,
    Facts,
    split_centavos,
)

_Part = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]


@dataclass(frozen=True)
class Daily:
    """Per-day bucket P&L: rows (d, bucket, pnl) and the bucket catalogue they index."""

    d: npt.NDArray[np.int64]
    bucket: npt.NDArray[np.int64]
    pnl: npt.NDArray[np.float64]
    dimensions: npt.NDArray[np.object_]  # per bucket id
    labels: npt.NDArray[np.object_]  # per bucket id


def sum_by_day(d: npt.NDArray[np.int64], code: npt.NDArray[np.int64],
               values: npt.NDArray[np.float64], n_codes: int) -> _Part:
    """Σ values per (d, code), keyed d·n_codes + code: one sort of int64, no string hashing."""
    key = d * max(n_codes, 1) + code
    uniq, inverse = np.unique(key, return_inverse=True)
    sums = np.bincount(inverse, weights=values, minlength=uniq.size)
    return uniq // max(n_codes, 1), uniq % max(n_codes, 1), sums


def expand(codes: npt.NDArray[np.int64], size: npt.NDArray[np.int64]
           ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """A join without pandas' merge: group g has ``size[g]`` items stored contiguously (in
    group order); each row, of group ``codes[row]``, is paired with every item of its group.

    Returns:
        (row, item) index pairs in row order, then item order — a left join's order.

    >>> [a.tolist() for a in expand(np.array([1, 0]), np.array([1, 2]))]
    [[0, 0, 1], [1, 2, 0]]
    """
    per_row = size[codes]
    row = np.repeat(np.arange(codes.size), per_row)
    within = np.arange(row.size) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    return row, (np.cumsum(size) - size)[codes][row] + within


def _lookup(series: pd.Series, labels: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """``series`` at ``labels`` (all in its index: the facts were validated against it)."""
    return series.to_numpy(dtype=object)[series.index.get_indexer(labels)]


@dataclass
class _Table:
    """The bucket catalogue and its (day, bucket, P&L) parts, built one dimension at a time."""

    book_pnl: npt.NDArray[np.float64]
    dims: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    parts: list[_Part] = field(default_factory=list)

    @property
    def all_days(self) -> npt.NDArray[np.int64]:
        return np.arange(self.book_pnl.size, dtype=np.int64)

    def catalogue(self, dimension: str, names: Sequence[str]) -> int:
        """Register ``names`` as buckets of ``dimension``; the id of the first."""
        offset = len(self.labels)
        self.dims.extend([dimension] * len(names))
        self.labels.extend(names)
        return offset

    def add(self, dimension: str, names: Sequence[str], d: npt.NDArray[np.int64],
            code: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> None:
        """Buckets ``names`` + residual; residual = book P&L − Σ buckets, every day."""
        offset = self.catalogue(dimension, [*names, RESIDUAL])
        dd, cc, ss = sum_by_day(d, code, values, len(names))
        self.parts.append((dd, offset + cc, ss))
        n_days = self.book_pnl.size
        residual = self.book_pnl - np.bincount(dd, weights=ss, minlength=n_days)
        self.parts.append((self.all_days, np.full(n_days, offset + len(names)), residual))

    def daily(self) -> Daily:
        """The parts summed per (day, bucket), in part order (bincount adds in array order)."""
        d, bucket, total = sum_by_day(np.concatenate([p[0] for p in self.parts]),
                                      np.concatenate([p[1] for p in self.parts]).astype(np.int64),
                                      np.concatenate([p[2] for p in self.parts]), len(self.labels))
        return Daily(d, bucket, total, np.asarray(self.dims, dtype=object),
                     np.asarray(self.labels, dtype=object))


def daily_buckets(fact: Facts, book_pnl: npt.NDArray[np.float64], tags: pd.DataFrame,
                  style: pd.Series, asset_class: pd.Series) -> Daily:
    """Per day and dimension, the bucket P&L; every dimension sums to the book P&L each day.

    Args:
        fact: the fact rows (``d`` indexes ``book_pnl``).
        book_pnl: the fund P&L of each day.
        tags: (strategy_id, tag, weight) rows, weights summing to 1 per strategy.
        style: systematic/discretionary per strategy_id.
        asset_class: asset class per instrument_id.
    """
    table = _Table(book_pnl)
    table.catalogue(TOTAL, [TOTAL])
    table.parts.append((table.all_days, np.zeros(book_pnl.size, dtype=np.int64), book_pnl))
    pnl = fact.money["pnl_brl"]
    by_strategy = sum_by_day(fact.d, fact.strat, pnl, fact.strat_labels.size)
    table.add("strategy", list(fact.strat_labels), *by_strategy)

    class_of_inst = _lookup(asset_class, fact.inst_labels)
    class_code, class_labels = pd.factorize(class_of_inst, sort=True)
    table.add("asset_class", list(class_labels), fact.d, class_code[fact.inst], pnl)
    table.add("instrument", list(fact.inst_labels), fact.d, fact.inst, pnl)
    _add_risk_factors(table, fact, class_of_inst)
    _add_factor_tags(table, fact, tags, by_strategy)
    bs_d, bs_s, bs_p = by_strategy
    is_systematic = _lookup(style, fact.strat_labels) == SYSTEMATIC
    table.add("style", [DISCRETIONARY, SYSTEMATIC], bs_d, is_systematic.astype(np.int64)[bs_s],
              bs_p)
    _add_explain(table, fact)
    return table.daily()


def _add_risk_factors(table: _Table, fact: Facts, class_of_inst: npt.NDArray[np.object_]
                      ) -> None:
    """``risk_factor``: the FX-translation leg (``pnl_fx_brl``) of every row goes to ``fx``;
    the rest of the row to its asset class's factor (:data:`RISK_FACTOR_BY_ASSET_CLASS`)."""
    factor_of_inst = np.asarray([RISK_FACTOR_BY_ASSET_CLASS[c] for c in class_of_inst],
                                dtype=object)
    factor_labels = np.asarray(sorted({*factor_of_inst, "fx"}), dtype=object)
    factor_code = np.searchsorted(factor_labels, factor_of_inst)
    pnl, fx_pnl = fact.money["pnl_brl"], fact.money["pnl_fx_brl"]
    translated = fx_pnl != 0.0
    fx_code = int(np.searchsorted(factor_labels, "fx"))
    table.add("risk_factor", list(factor_labels),
              np.concatenate([fact.d, fact.d[translated]]),
              np.concatenate([factor_code[fact.inst], np.full(int(translated.sum()), fx_code)]),
              np.concatenate([pnl - fx_pnl, fx_pnl[translated]]))


def _add_factor_tags(table: _Table, fact: Facts, tags: pd.DataFrame, by_strategy: _Part
                     ) -> None:
    """``factor_tag``: each (day, strategy) sum split across the strategy's tags in whole
    centavos (tags in tag-table order)."""
    bs_d, bs_s, bs_p = by_strategy
    s = pd.Index(fact.strat_labels).get_indexer(tags["strategy_id"].to_numpy(dtype=object))
    used = s >= 0
    tag_names = tags["tag"].to_numpy(dtype=object)[used]
    tag_labels = np.unique(tag_names)
    order = np.argsort(s[used], kind="stable")
    t = np.searchsorted(tag_labels, tag_names)[order]
    w = tags["weight"].to_numpy(dtype=np.float64)[used][order]
    row, item = expand(bs_s, np.bincount(s[used], minlength=fact.strat_labels.size))
    table.add("factor_tag", list(tag_labels), bs_d[row], t[item],
              split_centavos(bs_p[row], w[item], row, t[item]))


def _add_explain(table: _Table, fact: Facts) -> None:
    """``explain``: the seven MTM explain columns; ``residual`` also takes pnl − Σ components
    of the rows and the book residual (fund P&L − Σ position P&L), so the dimension closes
    like the others."""
    n_days = table.book_pnl.size
    offset = table.catalogue("explain", list(EXPLAIN_BUCKETS.values()))
    held = np.flatnonzero(np.bincount(fact.d, minlength=n_days) > 0)
    explained = np.zeros(n_days)
    for j, col in enumerate(EXPLAIN_BUCKETS):
        by_day = np.bincount(fact.d, weights=fact.money[col], minlength=n_days)
        explained += by_day
        if col == "pnl_residual_brl":
            by_day = by_day + table.book_pnl - explained  # all the named parts do not explain
            table.parts.append((table.all_days, np.full(n_days, offset + j), by_day))
        else:
            table.parts.append((held, np.full(held.size, offset + j), by_day[held]))
