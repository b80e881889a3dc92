"""The ledger state: the average-cost fold of every trade up to a date, carried to the next.

Why: marking D needs each position's quantity at P and, after D's trades, its average cost
and cumulative realized P&L: a fold over the ledger since inception. Folding the whole
ledger again for every date of a backfill makes each date cost more than the one before. A
:class:`LedgerState` is that fold after every trade dated on or before its ``as_of``; D
folds only the trades after it (:func:`fold`) and hands its own state on to D+1.

The same floats as one fold of the whole ledger, which pandas computes with grouped
operations: the rules are those of :func:`~pms_luigi.core.mtm.ledger.moves`; the running
quantity and the segment's cost-basis sum are pandas' grouped cumulative sums, compensated
(Kahan) sums — y = x − c; t = s + y; c = (t − s) − y; s = t — kept here with their
compensation c, so stopping after D and going on at D+1 changes no bit; the running product
of the cost-basis factors (a grouped cumulative product) needs nothing more. The quantity is
the running sum rounded to the ledger's 6 decimals; the sum itself runs unrounded, as in
:func:`~pms_luigi.core.mtm.ledger.scan`. The cumulative realized P&L and costs are grouped
sums, which pandas adds pairwise (``numpy.add.reduceat``): their order is a tree that
changes with the number of terms, so the state keeps each trade's realized amount and cost
and adds them with the same call (a pass in C, no Python per trade).

A state is used only on the ledger it came from (:func:`usable`). It keeps the trades it
folded as the caller gave them (their values, not a copy of the frame), and the maturities
of its instruments, which the trades were checked against. The next date's trades must
start with exactly those rows, value for value and in the same order — what the trades
reader gives, ordered by (trade_date, trade_id) — and continue with trades dated after
``as_of`` only. A trade inserted, removed, corrected or moved on or before ``as_of``,
another maturity, a state dated after P, rows in another order: the ledger is folded again
from its first trade. An element-wise comparison in C, cheaper than hashing the trades.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd

from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.frames import as_date, require, to_days
from pms_luigi.core.mtm.ledger import moves, sort_trades, typed_trades
from pms_luigi.core.mtm.model import (
    KEY,
    POSITION_COLUMNS,
    QTY_DECIMALS,
    TRADE_COLUMNS,
    TRADE_OPTIONAL,
    num,
    pairs,
)

__all__ = ["LedgerState", "fold", "ledger_columns", "positions_as_of", "usable"]

#: Per key: the position (quantity, avg_cost), the last cost-basis factor product, each
#: compensated running sum's total and compensation (the quantity, the segment's
#: Σ price·opened/factor) and the sums of the realized P&L and the costs.
_FLOATS: Final = ("quantity", "avg_cost", "factor", "q_sum", "q_err", "basis_sum",
                  "basis_err", "realized_pnl", "cost_brl")
#: A new key's floats other than 0: flat (no average cost), the factor product not started.
_START: Final = MappingProxyType({"avg_cost": np.nan, "factor": 1.0})


@dataclass(frozen=True)
class LedgerState:
    """The average-cost ledger after every trade dated on or before ``as_of``.

    Treat it as immutable: :func:`fold` returns a new state.

    Attributes:
        as_of: the last date folded (None: nothing folded yet).
        last_trade: (trade_date, trade_id) of the latest trade folded, None before any.
        columns: per (instrument_id, strategy_id) traded, sorted by them (a contract
            that matured on or before the date the state last stood at is dropped by the
            next :func:`fold`), aligned arrays: ``key``
            (:func:`~pms_luigi.core.mtm.model.pairs`), instrument_id, strategy_id, maturity
            (checked against; NaT when none), n_trades, last_trade_date and the fold's floats
            (quantity, avg_cost — NaN when flat —, realized_pnl in price points × quantity,
            cost_brl, the running factor product and the compensated sums).
        realized, costs: each trade's realized amount and cost, by key in ledger order
            (``n_trades`` of them per key): the terms of the two grouped sums.
        trades: the trades folded as the caller gave them, column by column, in the order
            given (see :func:`usable`).
        instruments: every instrument of those trades (``instrument_id``, sorted) and the
            ``maturity`` they were checked against (NaT when none).
    """

    as_of: np.datetime64 | None
    last_trade: tuple[np.datetime64, str] | None
    columns: Mapping[str, np.ndarray]
    realized: np.ndarray
    costs: np.ndarray
    trades: Mapping[str, np.ndarray]
    instruments: Mapping[str, np.ndarray]

    @classmethod
    def empty(cls) -> LedgerState:
        """Before the first trade."""
        columns = {"key": np.empty(0, object), "instrument_id": np.empty(0, object),
                   "strategy_id": np.empty(0, object), "n_trades": np.zeros(0, np.int64),
                   "maturity": np.empty(0, "datetime64[D]"),
                   "last_trade_date": np.empty(0, "datetime64[D]")}
        columns |= {c: np.zeros(0) for c in _FLOATS}
        return cls(None, None, MappingProxyType(columns), np.zeros(0), np.zeros(0),
                   MappingProxyType({}), MappingProxyType(
                       {"instrument_id": np.empty(0, object),
                        "maturity": np.empty(0, "datetime64[D]")}))

    @property
    def n_trades(self) -> int:
        """How many trades were folded."""
        return len(self.trades.get("trade_id", ()))

    @property
    def rows(self) -> pd.DataFrame:
        """:attr:`columns` as a frame, one row per key."""
        return pd.DataFrame(dict(self.columns))

    def held(self) -> pd.DataFrame:
        """Positions open at ``as_of``: instrument_id, strategy_id, quantity (non-zero, the
        contract not matured by then)."""
        c = self.columns
        live = c["quantity"] != 0
        if self.as_of is not None:
            live &= np.isnat(c["maturity"]) | (c["maturity"] > self.as_of)
        return pd.DataFrame({"instrument_id": c["instrument_id"][live],
                             "strategy_id": c["strategy_id"][live],
                             "quantity": c["quantity"][live]})

    def positions(self) -> pd.DataFrame:
        """One row per key: :data:`~pms_luigi.core.mtm.model.POSITION_COLUMNS` (realized P&L
        in price points × quantity, cost_brl the cumulative trade costs)."""
        if not len(self.columns["key"]):
            return pd.DataFrame({c: pd.Series(dtype=object if c in (*KEY, "last_trade_date")
                                              else float) for c in POSITION_COLUMNS})
        return pd.DataFrame({c: self.columns[c] for c in POSITION_COLUMNS})


def _maturities(instrument_ids: np.ndarray, inst: pd.DataFrame | None) -> np.ndarray:
    """The maturity ``inst`` (prepared: instrument_id, mat) gives each instrument; NaT for
    an instrument it does not have (or without ``inst``)."""
    nat = np.datetime64("NaT", "D")
    if inst is None or not len(inst) or not len(instrument_ids):
        return np.full(len(instrument_ids), nat)
    at = pd.Index(inst["instrument_id"].to_numpy()).get_indexer(instrument_ids)
    mat = inst["mat"].to_numpy().astype("datetime64[D]")
    return np.where(at >= 0, mat[np.maximum(at, 0)], nat)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal value for value (NaN equal to NaN among floats)."""
    if len(a) != len(b):
        return False
    if a.dtype.kind == b.dtype.kind == "f":
        return np.array_equal(a, b, equal_nan=True)
    if a.dtype.kind == b.dtype.kind == "M":
        return np.array_equal(a.astype("datetime64[D]").view(np.int64),
                              b.astype("datetime64[D]").view(np.int64))
    return bool((a == b).all())


def ledger_columns(trades: pd.DataFrame) -> list[str]:
    """The columns of ``trades`` the ledger reads (the optional ones when present)."""
    return [*TRADE_COLUMNS, *(c for c in TRADE_OPTIONAL if c in trades.columns)]


def usable(state: LedgerState | None, trades: pd.DataFrame, inst: pd.DataFrame,
           p64: np.datetime64 | None) -> bool:
    """Whether ``state`` is the fold of ``trades`` up to its ``as_of``, on or before P.

    Args:
        state: a carried state (None: none).
        trades: the ledger as read (:data:`~pms_luigi.core.mtm.model.TRADE_COLUMNS`).
        inst: the prepared instruments; p64: P (None on the fund's first day).

    Returns:
        True when the state's date is not after P, its instruments have the maturities they
        were checked against, ``trades`` starts with the rows it folded (equal value for
        value, in the order given) and every other row is dated after its date. Nothing is
        converted, sorted or folded.
    """
    if state is None or state.as_of is None or p64 is None or state.as_of > p64:
        return False
    known = state.instruments
    if not _same(_maturities(known["instrument_id"], inst), known["maturity"]):
        return False
    n, seen = state.n_trades, state.trades
    if list(seen) != ledger_columns(trades) or len(trades) < n:
        return False
    if not all(_same(trades[col].to_numpy()[:n], seen[col]) for col in seen):
        return False
    return not (to_days(trades["trade_date"].to_numpy()[n:]) <= state.as_of).any()


def fold(state: LedgerState, t: pd.DataFrame, as_of: np.datetime64 | None,
         inst: pd.DataFrame | None = None, given: pd.DataFrame | None = None) -> LedgerState:
    """The state after the sorted trades ``t``, dated after ``state.as_of``, up to ``as_of``.

    Each key's trades go through the step in order; the keys move together, one trade each
    per pass (a compensated sum is a recurrence: its next value needs the last). The keys
    whose contract matured on or before ``state.as_of`` are dropped first: a date's cost
    follows the keys still alive, not every contract the fund ever traded.

    Args:
        state: the state to go on from (:meth:`LedgerState.empty` for a whole ledger).
        t: :func:`~pms_luigi.core.mtm.ledger.sort_trades` output, every trade dated in
            (state.as_of, as_of].
        as_of: the date the new state stands at.
        inst: the prepared instruments the trades were checked against (their maturities
            are kept).
        given: the rows of ``t`` as the caller read them, in the order read (default:
            ``t``), appended to :attr:`LedgerState.trades`.
    """
    given = t if given is None else given
    trades = state.trades if not len(given) and list(state.trades) == ledger_columns(given) \
        else MappingProxyType({c: np.concatenate([state.trades[c], given[c].to_numpy()])
                               if c in state.trades else given[c].to_numpy().copy()
                               for c in ledger_columns(given)})
    columns, old_realized, old_costs = _unsettled(state)
    if not len(t):
        return LedgerState(as_of, state.last_trade, MappingProxyType(columns), old_realized,
                           old_costs, trades, state.instruments)
    f, row, rank = _expanded(columns, t)
    order = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[order], np.arange(int(rank.max()) + 2))
    dq, px, cost = (t[c].to_numpy(dtype=np.float64) for c in ("quantity", "price", "cost_brl"))
    realized = np.zeros(len(t))
    for k in range(len(bounds) - 1):
        sel = order[bounds[k]:bounds[k + 1]]
        realized[sel] = _step(f, row[sel], dq[sel], px[sel])
    ends = np.cumsum(f["n_trades"])  # each key's terms so far end here: the new ones follow
    terms_r, terms_c = np.insert(old_realized, ends[row], realized), \
        np.insert(old_costs, ends[row], cost)
    f["n_trades"] += np.bincount(row, minlength=len(f["key"]))
    starts = np.cumsum(f["n_trades"]) - f["n_trades"]
    f["realized_pnl"], f["cost_brl"] = (np.add.reduceat(terms_r, starts),
                                        np.add.reduceat(terms_c, starts))
    when = t["trade_date"].to_numpy().astype("datetime64[D]")
    f["last_trade_date"][row] = when  # rows are in date order within a key: the last wins
    ids = np.sort(pd.unique(np.concatenate([state.instruments["instrument_id"],
                                            f["instrument_id"]]))).astype(object)
    known = {"instrument_id": ids, "maturity": _maturities(ids, inst)}
    f["maturity"] = known["maturity"][np.searchsorted(ids, f["instrument_id"])]
    latest = when.max()
    last = (latest, max(t["trade_id"].to_numpy()[when == latest].tolist()))
    return LedgerState(as_of, last, MappingProxyType(f), terms_r, terms_c, trades,
                       MappingProxyType(known))


def _unsettled(state: LedgerState) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The state's columns and per-trade terms without the keys whose contract matured on
    or before its date: settled and marked for the last time by then, never traded again
    (a trade on or after maturity is refused), so the fold need not carry them."""
    c, realized, costs = dict(state.columns), state.realized, state.costs
    if state.as_of is None:
        return c, realized, costs
    keep = np.isnat(c["maturity"]) | (c["maturity"] > state.as_of)
    if keep.all():
        return c, realized, costs
    terms = np.repeat(keep, c["n_trades"])
    return {k: v[keep] for k, v in c.items()}, realized[terms], costs[terms]


def _expanded(columns: Mapping[str, np.ndarray], t: pd.DataFrame
              ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The state's columns over its keys and the new ones of ``t`` (sorted by key), as
    fresh arrays; the row of each trade and its place among its key's trades (0 first)."""
    iid, sid = t["instrument_id"].to_numpy(dtype=object), t["strategy_id"].to_numpy(dtype=object)
    first = np.r_[True, (iid[1:] != iid[:-1]) | (sid[1:] != sid[:-1])]
    run = np.cumsum(first) - 1
    keys, at_old, at_new = _merged(columns["key"], pairs(iid[first], sid[first]))
    row = at_new[run]
    n = len(keys)
    f = {"key": keys, "instrument_id": np.empty(n, object), "strategy_id": np.empty(n, object),
         "n_trades": np.zeros(n, np.int64), "maturity": np.full(n, np.datetime64("NaT", "D")),
         "last_trade_date": np.full(n, np.datetime64("NaT", "D"))}
    f |= {c: np.full(n, _START.get(c, 0.0)) for c in _FLOATS}
    f["instrument_id"][row], f["strategy_id"][row] = iid, sid
    for c, values in columns.items():
        if c != "key":
            f[c][at_old] = values
    return f, row, np.arange(len(t)) - np.flatnonzero(first)[run]


def _merged(old: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys, where each old key went, where each new key went) for two sorted arrays of
    distinct keys: the old ones found by hashing, the few others inserted in order (no sort
    of the old keys, which a whole ledger makes many)."""
    if not len(old):
        return new, np.zeros(0, np.int64), np.arange(len(new))
    found = pd.Index(old).get_indexer(new)
    missing = new[found < 0]
    slot = np.searchsorted(old, missing)  # in order: the missing keys are sorted
    shift = np.searchsorted(slot, np.arange(len(old)), side="right")
    at_old = np.arange(len(old)) + shift
    at_missing = slot + np.arange(len(missing))
    at_new = np.empty(len(new), np.int64)
    at_new[found >= 0] = at_old[found[found >= 0]]
    at_new[found < 0] = at_missing
    keys = np.empty(len(old) + len(missing), object)
    keys[at_old], keys[at_missing] = old, missing
    return keys, at_old, at_new


def _kahan(total: np.ndarray, err: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One compensated addition: (total, compensation) after adding ``x``."""
    y = x - err
    t = total + y
    return t, (t - total) - y


def _step(f: dict[str, np.ndarray], k: np.ndarray, dq: np.ndarray, px: np.ndarray
          ) -> np.ndarray:
    """Fold one trade into each of the keys ``k`` (distinct), updating ``f`` in place.

    The operations of :func:`~pms_luigi.core.mtm.ledger.scan`, in its order, on one row per
    key.

    Returns:
        Each trade's realized amount, closed·(price − average cost before), in price points.
    """
    q_before, avg_before = f["quantity"][k], f["avg_cost"][k]
    q_sum, q_err = _kahan(f["q_sum"][k], f["q_err"][k], dq)
    q_after = np.round(q_sum, QTY_DECIMALS)
    closed, opened, a, restart = moves(q_before, q_after, dq)
    factor = np.where(restart, 1.0, f["factor"][k]) * a  # a segment starts its product at 1
    basis, basis_err = _kahan(np.where(restart, 0.0, f["basis_sum"][k]),
                              np.where(restart, 0.0, f["basis_err"][k]), px * opened / factor)
    flat = q_after == 0
    cost_basis = np.where(flat, 0.0, factor * basis)
    with np.errstate(divide="ignore", invalid="ignore"):
        avg_after = np.where(flat, np.nan, cost_basis / np.where(flat, 1.0, q_after))
    for column, values in (("quantity", q_after), ("avg_cost", avg_after), ("factor", factor),
                           ("q_sum", q_sum), ("q_err", q_err), ("basis_sum", basis),
                           ("basis_err", basis_err)):
        f[column][k] = values
    return np.where(closed != 0, closed * (px - np.nan_to_num(avg_before)), 0.0)


def positions_as_of(trades: pd.DataFrame, on: date,
                    instruments: pd.DataFrame | None = None) -> pd.DataFrame:
    """Ledger state per (instrument_id, strategy_id) after every trade dated on or before ``on``.

    Adding blends the average (the usual fund-accounting convention); a partial close keeps
    the average and realizes the difference; a flip closes the whole old position at the
    trade price and opens the remainder at that price — so realized P&L never mixes long and
    short lots. Trades on the same date apply in trade_id order. Realized P&L is meaningful
    for cash instruments (bonds, equities, NDFs — whose realized amount is paid at maturity);
    futures are settled daily, their avg_cost is informational.

    Args:
        trades: the trade ledger (:data:`~pms_luigi.core.mtm.model.TRADE_COLUMNS`).
        on: the date to stop at.
        instruments: when given, realized P&L is in money (times contract_size) and positions
            in contracts with maturity_date <= ``on`` are dropped (settled at maturity).

    Returns:
        Columns: instrument_id, strategy_id, quantity (signed, rounded to the ledger's 6
        decimals), avg_cost (NaN when flat), realized_pnl (cumulative Σ closed·(exit − avg
        cost), price points × quantity, or money with ``instruments``), cost_brl (cumulative
        trade costs), n_trades, last_trade_date (datetime64[D]). Flat keys are kept
        (quantity 0) so the cumulative realized P&L stays visible.

    Raises:
        InvalidInput: a missing column, or (with ``instruments``) a trade on an unknown
            instrument.
    """
    on64 = np.datetime64(as_date(on, "on"), "D")
    t = typed_trades(trades)
    t = sort_trades(t.loc[t["trade_date"].to_numpy() <= on64])
    pos = fold(LedgerState.empty(), t, on64).positions()
    if instruments is None or pos.empty:
        return pos
    require(instruments, ["instrument_id", "contract_size", "maturity_date"], "instruments")
    ids_index = instruments["instrument_id"].astype(str).to_numpy()
    cs = pd.Series(num(instruments, "contract_size"), index=ids_index)
    mat = pd.Series(to_days(instruments["maturity_date"]), index=ids_index)
    ids = pos["instrument_id"].to_numpy()
    unknown = ~np.isin(ids, ids_index)
    if unknown.any():
        raise InvalidInput(f"trades reference unknown instrument {ids[unknown][0]}",
                           table="trades", row=ids[unknown][0], field="instrument_id")
    pos["realized_pnl"] = pos["realized_pnl"].to_numpy() * cs.reindex(ids).to_numpy()
    m = mat.reindex(ids).to_numpy()
    return pos.loc[np.isnat(m) | (m > on64)].reset_index(drop=True)
