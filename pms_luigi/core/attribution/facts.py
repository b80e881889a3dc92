"""The fact table of attribution: validated, integer-coded position and book rows.

Every number of attribution comes from the same rows: ``position_marks`` (one row per
business date, instrument and strategy, with the P&L explain columns) and
``book_snapshots`` (fund P&L, NAV_{t−1}, CDI). Validation lives here, so the rest of the
package can assume clean arrays; an error names the table, date, row and field.

Also here: the dimension vocabulary (:data:`DIMENSIONS`, :data:`EXPLAIN_BUCKETS`,
:data:`RISK_FACTOR_BY_ASSET_CLASS`) and the split of shared positions in whole centavos.
Names without a leading underscore are shared with the sibling modules; the package's
public API is what ``pms_luigi.core.attribution`` re-exports.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from pms_luigi.core import calendar as cal
from pms_luigi.core.errors import InvalidInput, MissingCdi
from pms_luigi.core.frames import require, to_days

DIMENSIONS: Final = (
    "total", "strategy", "asset_class", "instrument", "risk_factor", "factor_tag", "style",
    "explain",
)
TOTAL: Final = "total"
RESIDUAL: Final = "residual"
UNTAGGED: Final = "untagged"
SYSTEMATIC: Final = "systematic"
DISCRETIONARY: Final = "discretionary"

#: position_marks explain column -> explain bucket. Order = display order.
EXPLAIN_BUCKETS: Final = MappingProxyType({
    "pnl_carry_brl": "carry",
    "pnl_market_brl": "market",
    "pnl_fx_brl": "fx",
    "pnl_new_trades_brl": "new_trades",
    "pnl_realized_brl": "realized",
    "pnl_costs_brl": "costs",
    "pnl_residual_brl": RESIDUAL,
})

#: instruments.asset_class -> risk factor. CUPOM maps to fx: the cupom cambial is the
#: onshore USD rate implied by the FX forward, traded and limited in the FX book, while
#: ``rates`` stays the BRL pre/DI curve that the DV01 limits measure.
RISK_FACTOR_BY_ASSET_CLASS: Final = MappingProxyType({
    "RATES": "rates",
    "INFLATION": "inflation",
    "FX": "fx",
    "CUPOM": "fx",
    "EQUITY": "equity",
    "CREDIT": "credit",
})

MONEY: Final = ("pnl_brl", *EXPLAIN_BUCKETS)
_FACT_COLUMNS: Final = ("business_date", "instrument_id", "strategy_id", *MONEY)
_BOOK_COLUMNS: Final = ("business_date", "nav_prev_brl", "pnl_brl", "nav_brl", "cdi_rate")
#: Half a centavo: the tolerance of the NAV chain and of a chained R$ sum.
HALF_CENTAVO: Final = 0.005
_WEIGHT_TOL: Final = 1e-9


@dataclass(frozen=True)
class Facts:
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


@dataclass(frozen=True)
class Book:
    """``book_snapshots`` as float64 arrays, one per business day of ``days``, in order."""

    pnl: npt.NDArray[np.float64]
    nav_prev: npt.NDArray[np.float64]
    nav: npt.NDArray[np.float64]
    cdi: npt.NDArray[np.float64]
    r: npt.NDArray[np.float64]  # pnl / nav_prev: the day's return


def business_dates(values: pd.Series, table: str) -> npt.NDArray[np.datetime64]:
    """The ``business_date`` column of ``table`` as datetime64[D]; no missing date.

    Raises:
        InvalidInput: a value that is not a date, or a missing one.
    """
    try:
        out = to_days(values)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{table}.business_date is not a date: {exc}", table=table,
                           field="business_date") from exc
    if np.isnat(out).any():
        raise InvalidInput(f"{table}.business_date has a missing date", table=table,
                           field="business_date")
    return out


def numbers(values: pd.Series) -> npt.NDArray[np.float64]:
    """float64, NaN where not a number (numpy number columns — most — without the parser)."""
    if values.dtype.kind in "iuf":  # numpy ints and floats: exact as float64 (|x| < 2^53)
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _repeated(values: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """True where a value already occurred earlier in the array."""
    seen = np.ones(values.size, dtype=bool)
    seen[np.unique(values, return_index=True)[1]] = False
    return seen


def prepare_books(books: pd.DataFrame, days: npt.NDArray[np.datetime64]) -> Book:
    """One row per business day in ``days``, in order, with r = pnl / nav_prev.

    Raises:
        InvalidInput: a day twice, a non-business day, a day missing, a non-number, a
            non-positive NAV_{t−1}, a broken NAV chain (NAV_{t−1} ≠ previous NAV by more
            than half a centavo), a loss of 100% of NAV or more.
        MissingCdi: a day without cdi_rate.
    """
    table = "book_snapshots"
    require(books, _BOOK_COLUMNS, table)
    when = business_dates(books["business_date"], table)
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
        raise fail(i, "business_date",
                   f"not an ANBIMA business day ({cal.holiday_name(when[i].item())})")
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
        values = numbers(books[col])[keep][order]
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
    broken = np.abs(prev[1:] - nav[:-1]) > HALF_CENTAVO
    if broken.any():
        i = int(np.argmax(broken)) + 1
        raise fail(i, "nav_prev_brl", f"nav_prev_brl is {prev[i]:.2f} but nav_brl on "
                                      f"{when[i - 1]} is {nav[i - 1]:.2f}")
    cdi = numbers(books["cdi_rate"])[keep][order]
    if (~np.isfinite(cdi)).any():
        raise MissingCdi(when[int(np.argmax(~np.isfinite(cdi)))].item())
    r = pnl / prev
    wiped = r <= -1.0
    if wiped.any():
        raise fail(int(np.argmax(wiped)), "pnl_brl", "a loss of 100% of NAV or more")
    return Book(pnl, prev, nav, cdi, r)


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


def prepare_facts(facts: pd.DataFrame, days: npt.NDArray[np.datetime64],
                  asset_class: pd.Series, strategy_ids: pd.Index) -> Facts:
    """Fact rows in [days[0], days[-1]], validated and encoded (see :class:`Facts`).

    Column by column on arrays: no copy of the frame, no pandas op per check.

    Raises:
        InvalidInput: a non-business day, a missing id or amount, an instrument or strategy
            not in the reference data, an id named ``residual``, a position twice a day.
    """
    table = "position_marks"
    require(facts, _FACT_COLUMNS, table)
    when = business_dates(facts["business_date"], table)
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
    for col in MONEY:
        values = numbers(facts[col])[keep]
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
    for codes, labels, col in ((inst, inst_labels, "instrument_id"),
                               (strat, strat_labels, "strategy_id")):
        reserved = labels == RESIDUAL
        if reserved.any():
            raise rows.error(reserved[codes], col, f"{RESIDUAL!r} is a reserved bucket name")
    dup = _repeated((d * inst_labels.size + inst) * strat_labels.size + strat)
    if dup.any():
        raise rows.error(dup, "strategy_id", "two rows for the same position")
    return Facts(d, inst, strat, money, inst_labels, strat_labels)


def split_centavos(amount: npt.NDArray[np.float64], weight: npt.NDArray[np.float64],
                   group: npt.NDArray[np.int64], tiebreak: npt.NDArray[np.int64]
                   ) -> npt.NDArray[np.float64]:
    """Split each group's ``amount`` (same value on every row of the group) by ``weight``.

    Largest remainder in centavos (Hamilton's method): every share is floor(amount·w) in
    centavos, and the centavos left over go one each to the largest remainders (ties by
    ``tiebreak``); any sub-centavo part of the amount ends on the last share. The shares sum
    to the amount exactly and are whole centavos whenever the amount is. Why: the writer
    rounds every bucket to centavos, and Σ rounded buckets must still equal the rounded
    total. Weights must sum to 1 per group.

    >>> split_centavos(np.array([1.0, 1.0, 1.0]), np.full(3, 1 / 3), np.zeros(3, np.int64),
    ...                np.arange(3)).tolist()
    [0.34, 0.33, 0.33]
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


def _weights(weights: pd.DataFrame, strategy_ids: pd.Index) -> pd.DataFrame:
    """The validated ``weights`` frame (ids as text), each key's weights scaled to sum 1.

    Raises:
        InvalidInput: a weight not > 0, a share strategy twice for a key, weights of a key
            not summing to 1, a share strategy not in the strategies table.
    """
    table = "weights"
    require(weights, ("instrument_id", "strategy_id", "share_strategy_id", "weight"), table)
    w = weights[["instrument_id", "strategy_id", "share_strategy_id", "weight"]].copy()
    for col in ("instrument_id", "strategy_id", "share_strategy_id"):
        w[col] = w[col].astype(str)
    w["weight"] = numbers(w["weight"])
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
    return w


def apply_weights(fact: Facts, weights: pd.DataFrame, strategy_ids: pd.Index) -> Facts:
    """Split shared positions: one fact row per share_strategy_id, money in centavo shares.

    ``weights`` rows (instrument_id, strategy_id, share_strategy_id, weight) key a fact row
    by its (instrument, strategy); a fact row without weights keeps weight 1 to its own
    strategy.
    """
    w = _weights(weights, strategy_ids)
    labels = np.asarray(sorted(set(fact.strat_labels) | set(w["share_strategy_id"])),
                        dtype=object)
    old_to_new = np.searchsorted(labels, fact.strat_labels)
    inst_code = {label: i for i, label in enumerate(fact.inst_labels)}
    strat_code = {label: i for i, label in enumerate(fact.strat_labels)}
    w["inst"] = w["instrument_id"].map(inst_code)
    w["strat"] = w["strategy_id"].map(strat_code)
    w = w.dropna(subset=["inst", "strat"]).astype({"inst": np.int64, "strat": np.int64})
    w["share"] = np.searchsorted(labels, w["share_strategy_id"].to_numpy(dtype=object))

    rows = pd.DataFrame({"row": np.arange(fact.d.size), "inst": fact.inst, "strat": fact.strat})
    merged = rows.merge(w[["inst", "strat", "share", "weight"]], on=["inst", "strat"],
                        how="left")
    own = merged["share"].isna().to_numpy()
    row = merged["row"].to_numpy()
    share = np.where(own, old_to_new[fact.strat[row]], merged["share"].fillna(0).to_numpy())
    share = share.astype(np.int64)
    weight = np.where(own, 1.0, merged["weight"].fillna(1.0).to_numpy())
    money = {col: split_centavos(v[row], weight, row, share) for col, v in fact.money.items()}
    return Facts(fact.d[row], fact.inst[row], share, money, fact.inst_labels, labels)
