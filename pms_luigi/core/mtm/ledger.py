"""Positions from the trade ledger and the previous marks: the book the MTM values.

Average-cost method per (instrument_id, strategy_id), trades ordered by (trade_date,
trade_id). Adding to a position blends the average cost; reducing keeps it and realizes
(exit − avg)·closed; a flip realizes the whole old position and restarts the cost at the flip
trade's price; reaching zero leaves no cost. It is one linear recurrence on the cost basis C
(C ← a·C + b, a = q_after/q_before on reductions), solved for all positions at once with
cumulative products / sums over segments (:func:`scan`) — no per-trade Python loop.

The same scan explains a cash instrument's day (:func:`day_ledger`): seeded with q_P at P's
mark, D's trades realize against that mark and open lots whose survival is known. The
ledger over the whole history is folded, and carried from date to date, by
:mod:`~pms_luigi.core.mtm.state` with the same rules (:func:`moves`).
"""
from __future__ import annotations

from datetime import date
from typing import NamedTuple

import numpy as np
import pandas as pd

from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.frames import require, to_days
from pms_luigi.core.mtm.model import (
    KEY,
    NAT,
    PREV_MARK_COLUMNS,
    QTY_DECIMALS,
    QTY_TOL,
    TRADE_COLUMNS,
    num,
    pairs,
)

__all__ = ["LedgerScan", "Moves", "check_against_marks", "check_trades", "day_ledger",
           "moves", "previous_marks", "scan", "sort_trades", "typed_trades", "universe"]


class Moves(NamedTuple):
    """What each trade does to its position (see :func:`moves`)."""

    closed: np.ndarray
    opened: np.ndarray
    factor: np.ndarray
    restart: np.ndarray


def moves(q_before: np.ndarray, q_after: np.ndarray, dq: np.ndarray) -> Moves:
    """The average-cost rules of trades of ``dq`` taking positions from q_before to q_after.

    Returns:
        closed (signed like q_before; the whole old position on a flip), opened (signed
        like the new lot; the remainder on a flip), factor a of the cost-basis recurrence
        C ← a·C + b (q_after/q_before on a reduction that leaves a position, else 1) and
        restart: the trade opens from flat or flips, so the cost basis starts again at
        its price.
    """
    sb, sa, sd = np.sign(q_before), np.sign(q_after), np.sign(dq)
    increase = (sb == 0) | (sb == sd)
    flip = ~increase & (sa != 0) & (sa != sb)
    reduce_ = ~increase & ~flip
    closed = np.where(flip, q_before, np.where(reduce_, -dq, 0.0))
    opened = np.where(increase, dq, np.where(flip, q_after, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(reduce_ & (q_after != 0),
                          q_after / np.where(q_before != 0, q_before, 1.0), 1.0)
    return Moves(closed, opened, factor, (sb == 0) | flip)


class LedgerScan(NamedTuple):
    """The average-cost ledger, per trade row (see :func:`scan`)."""

    key: np.ndarray
    q_before: np.ndarray
    q_after: np.ndarray
    closed: np.ndarray
    opened: np.ndarray
    avg_after: np.ndarray
    realized: np.ndarray
    survival: np.ndarray


def scan(key: np.ndarray, dq: np.ndarray, px: np.ndarray) -> LedgerScan:
    """Average-cost ledger for rows sorted by (group key, chronological order).

    Args:
        key: group number of each row (non-decreasing).
        dq: signed quantity of each trade.
        px: its price.

    Returns:
        Per row: q_before / q_after, closed (signed like q_before), opened (signed like the
        new lot), avg_after (NaN when flat), realized = closed·(px − avg_before) in price
        units, and ``survival``, the fraction of the row's opened lot still in the group's
        final position (0 when a later flip or a return to zero wiped it).

    Notes:
        Cost basis C = avg·q obeys C_k = a_k·C_{k−1} + b_k with, per trade: increase a=1,
        b=px·dq; reduction a=q_after/q_before, b=0; a segment start (from zero, or a flip)
        a=1 (C_{k−1} is dropped), b=px·opened. Within a segment a > 0, so with
        A = cumprod(a): C_k = A_k·Σ_{j≤k} b_j/A_j; the opened lot of row j survives to the end
        of its segment as opened_j·A_last/A_j, which is how surviving new lots are priced.
        A group starts flat, so its first row starts a segment.
    """
    n = len(dq)
    if n == 0:
        z = np.zeros(0)
        return LedgerScan(np.zeros(0, dtype=np.int64), z, z, z, z, z, z, z)
    grp_start = np.ones(n, dtype=bool)
    grp_start[1:] = key[1:] != key[:-1]
    q_after = np.round(pd.Series(dq).groupby(key).cumsum().to_numpy(), QTY_DECIMALS)
    q_before = np.zeros(n)
    q_before[1:] = q_after[:-1]
    q_before[grp_start] = 0.0
    closed, opened, a, seg_start = moves(q_before, q_after, dq)
    seg = np.cumsum(seg_start)
    big_a = pd.Series(a).groupby(seg).cumprod().to_numpy()
    cost = big_a * pd.Series(px * opened / big_a).groupby(seg).cumsum().to_numpy()
    flat = q_after == 0
    cost[flat] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        avg_after = np.where(flat, np.nan, cost / np.where(flat, 1.0, q_after))
    avg_before = np.full(n, np.nan)
    avg_before[1:] = avg_after[:-1]
    avg_before[grp_start] = np.nan
    realized = np.where(closed != 0, closed * (px - np.nan_to_num(avg_before)), 0.0)
    last_rows = np.flatnonzero(np.r_[grp_start[1:], True])
    grp_last = last_rows[np.cumsum(grp_start) - 1]
    alive = (seg == seg[grp_last]) & ~flat[grp_last]
    survival = np.where(alive, big_a[grp_last] / big_a, 0.0)
    return LedgerScan(key, q_before, q_after, closed, opened, avg_after, realized, survival)


def typed_trades(trades: pd.DataFrame) -> pd.DataFrame:
    """Trades with typed columns, in the input's row order.

    Returns:
        Columns: trade_id, trade_date (datetime64[D]), instrument_id, strategy_id, quantity,
        price, cost_brl (0 when absent).

    Raises:
        InvalidInput: a column of :data:`~pms_luigi.core.mtm.model.TRADE_COLUMNS` is missing.
    """
    require(trades, TRADE_COLUMNS, "trades")
    return pd.DataFrame({
        "trade_id": trades["trade_id"].astype(str).to_numpy(),
        "trade_date": to_days(trades["trade_date"]),
        "instrument_id": trades["instrument_id"].astype(str).to_numpy(),
        "strategy_id": trades["strategy_id"].astype(str).to_numpy(),
        "quantity": num(trades, "quantity"),
        "price": num(trades, "price"),
        "cost_brl": (np.nan_to_num(num(trades, "cost_brl")) if "cost_brl" in trades.columns
                     else np.zeros(len(trades))),
    })


def sort_trades(t: pd.DataFrame) -> pd.DataFrame:
    """:func:`typed_trades` sorted by key then (trade_date, trade_id): the ledger's order.

    A total order, so every result is invariant to the order of the input rows.
    """
    ranks = [pd.factorize(t[c].to_numpy(), sort=True)[0] for c in ("trade_id", "strategy_id",
                                                                   "instrument_id")]
    order = np.lexsort((ranks[0], t["trade_date"].to_numpy().astype(np.int64), *ranks[1:]))
    return t.take(order).reset_index(drop=True)


def check_trades(t: pd.DataFrame, inst: pd.DataFrame, d64: np.datetime64,
                 p64: np.datetime64 | None, is_b3_session: bool) -> None:
    """Refuse trades the MTM cannot value (every rule names the count and the first trade).

    Args:
        t: the sorted trades to check (:func:`sort_trades`), dated <= D: the first failing
            one in the ledger's order is named.
        inst: the prepared instruments (instrument_id, mat, exchange).
        d64: D; p64: P (None on the fund's first day); is_b3_session: whether D is one.

    Raises:
        InvalidInput: an unknown instrument, a trade before the first day, a zero quantity,
            a non-positive price, a trade on or after maturity, or a B3 trade on a day
            without a session.
    """
    def fail(mask: np.ndarray, field: str, why: str) -> None:
        if mask.any():
            row = t.loc[mask].iloc[0]
            raise InvalidInput(
                f"trades: {int(mask.sum())} trade(s) {why}; first: {row['trade_id']} "
                f"{row['instrument_id']} on {pd.Timestamp(row['trade_date']).date()}",
                table="trades", row=row["trade_id"], field=field)

    at = pd.Index(inst["instrument_id"].to_numpy()).get_indexer(t["instrument_id"].to_numpy())
    fail(at < 0, "instrument_id", "reference an unknown instrument")
    when = t["trade_date"].to_numpy()
    if p64 is None:
        fail(when < d64, "trade_date", "predate the fund's first business date")
    q, p = t["quantity"].to_numpy(), t["price"].to_numpy()
    fail(~np.isfinite(q) | (q == 0), "quantity", "have a zero or missing quantity")
    fail(~np.isfinite(p) | (p <= 0), "price", "have a non-positive or missing price")
    mat = inst["mat"].to_numpy().astype("datetime64[D]")[at]  # every trade's is known here
    fail(~np.isnat(mat) & (when >= mat), "trade_date",
         "are dated on or after the contract's maturity")
    if not is_b3_session:
        exch = inst["exchange"].to_numpy()[at]
        fail((when == d64) & (exch == "B3"), "trade_date",
             "on a B3 instrument are dated on a day without a B3 session")


def previous_marks(prev: pd.DataFrame | None) -> pd.DataFrame:
    """P's marks the MTM reads, one row per key (the last duplicate wins).

    Returns:
        Columns: instrument_id, strategy_id, x_p (price), r_p (price date, datetime64[D]),
        prev_qty, prev_stale, prev_age (staleness_bd).
    """
    cols = ["x_p", "r_p", "prev_qty", "prev_stale", "prev_age"]
    if prev is None or len(prev) == 0:
        return pd.DataFrame({"instrument_id": pd.Series(dtype=object),
                             "strategy_id": pd.Series(dtype=object)}
                            | {c: pd.Series(dtype=float) for c in cols})
    require(prev, PREV_MARK_COLUMNS, "position_marks")
    out = pd.DataFrame({
        "instrument_id": prev["instrument_id"].astype(str).to_numpy(),
        "strategy_id": prev["strategy_id"].astype(str).to_numpy(),
        "x_p": num(prev, "price"),
        "r_p": to_days(prev["price_date"]),
        "prev_qty": num(prev, "quantity"),
        "prev_stale": (prev["is_stale"].fillna(False).astype(bool).to_numpy()
                       if "is_stale" in prev.columns else np.zeros(len(prev), dtype=bool)),
        "prev_age": (pd.to_numeric(prev["staleness_bd"]).fillna(0).to_numpy(dtype=np.int64)
                     if "staleness_bd" in prev.columns else np.zeros(len(prev), dtype=np.int64)),
    })
    return out.drop_duplicates(list(KEY), keep="last")


def _at(n: int, rows: np.ndarray, values: np.ndarray, fill: object) -> np.ndarray:
    """An n-array holding ``values`` at ``rows`` and ``fill`` elsewhere."""
    out = np.full(n, fill, dtype=np.result_type(values, np.asarray(fill)))
    out[rows] = values
    return out


def universe(start: pd.DataFrame, day: pd.DataFrame, inst: pd.DataFrame,
             prev: pd.DataFrame) -> pd.DataFrame:
    """One row per position of the day, sorted by (instrument_id, strategy_id).

    Args:
        start: positions held at P (instrument_id, strategy_id, quantity: non-zero, not
            matured; :meth:`~pms_luigi.core.mtm.state.LedgerState.held`).
        day: D's sorted trades (:func:`sort_trades`).
        inst: the prepared instruments (one row per instrument_id).
        prev: :func:`previous_marks`.

    Returns:
        instrument_id, strategy_id, q_p, the day's traded quantity / cash (Σ q·p) / costs
        (0 when none), the instrument's terms and yesterday's mark (x_p / prev_qty NaN and
        r_p NaT when absent).
    """
    agg = pd.DataFrame({
        "instrument_id": day["instrument_id"].to_numpy(),
        "strategy_id": day["strategy_id"].to_numpy(),
        "day_qty": day["quantity"].to_numpy(),
        "day_cash": day["quantity"].to_numpy() * day["price"].to_numpy(),
        "day_cost": day["cost_brl"].to_numpy(),
    }).groupby(list(KEY), as_index=False, sort=True).sum()
    s_iid, s_sid = start["instrument_id"].to_numpy(), start["strategy_id"].to_numpy()
    a_iid, a_sid = agg["instrument_id"].to_numpy(), agg["strategy_id"].to_numpy()
    s_key, a_key = pairs(s_iid, s_sid), pairs(a_iid, a_sid)
    keys = np.unique(np.concatenate([s_key, a_key]))
    n, at_s, at_a = len(keys), np.searchsorted(keys, s_key), np.searchsorted(keys, a_key)
    iid, sid = np.empty(n, dtype=object), np.empty(n, dtype=object)
    iid[at_s], sid[at_s], iid[at_a], sid[at_a] = s_iid, s_sid, a_iid, a_sid
    w = {"instrument_id": iid, "strategy_id": sid,
         "q_p": _at(n, at_s, start["quantity"].to_numpy(dtype=np.float64), 0.0)}
    for c in ("day_qty", "day_cash", "day_cost"):
        w[c] = _at(n, at_a, agg[c].to_numpy(dtype=np.float64), 0.0)
    at_i = pd.Index(inst["instrument_id"].to_numpy()).get_indexer(iid)
    w |= {c: inst[c].to_numpy()[at_i] for c in inst.columns if c != "instrument_id"}
    at_p = pd.Index(pairs(prev["instrument_id"].to_numpy(),
                          prev["strategy_id"].to_numpy())).get_indexer(keys)
    found, at_p = at_p >= 0, np.maximum(at_p, 0)
    for c, fill in (("x_p", np.nan), ("r_p", NAT), ("prev_qty", np.nan), ("prev_stale", False),
                    ("prev_age", 0)):
        col = prev[c].to_numpy()
        w[c] = np.where(found, col[at_p], fill) if len(col) else np.full(n, fill)
    return pd.DataFrame(w)


def check_against_marks(w: pd.DataFrame, p: date | None) -> None:
    """The ledger at P must agree with P's marks: every held position has a mark, with the
    ledger's quantity (a trade booked or changed after P's run breaks this).

    Raises:
        InvalidInput: a held position without a mark, or a quantity mismatch; names the
            position and says which run to redo.
    """
    iid, sid = w["instrument_id"].to_numpy(), w["strategy_id"].to_numpy()
    q_p = w["q_p"].to_numpy(dtype=np.float64)
    held = q_p != 0
    no_mark = held & ~np.isfinite(w["x_p"].to_numpy(dtype=np.float64))
    if no_mark.any():
        k = int(np.flatnonzero(no_mark)[0])
        raise InvalidInput(
            f"position_marks on {p} has no mark for {iid[k]}/{sid[k]}, which "
            f"the ledger holds ({q_p[k]:g}); rerun MarkToMarket({p})",
            table="position_marks", row=(iid[k], sid[k]), field="price")
    prev_qty = w["prev_qty"].to_numpy(dtype=np.float64)
    mismatch = held & (np.abs(np.nan_to_num(prev_qty) - q_p) > QTY_TOL)
    if mismatch.any():
        k = int(np.flatnonzero(mismatch)[0])
        raise InvalidInput(
            f"ledger quantity of {iid[k]}/{sid[k]} at {p} is {q_p[k]:g} but "
            f"position_marks on {p} says {prev_qty[k]:g} (a trade was booked or changed after "
            f"that run); rerun MarkToMarket from {p}", table="position_marks",
            row=(iid[k], sid[k]), field="quantity")


def day_ledger(cash: np.ndarray, keys: np.ndarray, q_p: np.ndarray, x_p: np.ndarray,
               x_d: np.ndarray, day: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """D's average-cost ledger of the cash positions, seeded with q_P at P's mark.

    Args:
        cash: rows of the universe that are cash instruments.
        keys: :func:`~pms_luigi.core.mtm.model.pairs` of the universe rows.
        q_p: quantity held at P; x_p: P's mark; x_d: D's mark.
        day: D's sorted trades (:func:`sort_trades`).

    Returns:
        Per universe row, in price points (0 for futures): the part of q_P still held after
        D's trades, the realized Σ closed·(p − day basis), and the surviving new lots'
        Σ lot·(X_D − p).
    """
    n = len(keys)
    held_q = np.zeros(n)
    rows = np.flatnonzero(cash)
    seed = rows[q_p[rows] != 0]
    d_row = pd.Index(keys).get_indexer(pairs(day["instrument_id"].to_numpy(),
                                             day["strategy_id"].to_numpy()))
    d_cash = cash[d_row]
    d_row = d_row[d_cash]
    lk = np.concatenate([seed, d_row]).astype(np.int64)
    if not len(lk):
        return held_q, np.zeros(n), np.zeros(n)
    order = np.lexsort((np.r_[np.full(len(seed), -1), np.arange(len(d_row))], lk))
    lk = lk[order]
    qty = np.r_[q_p[seed], day["quantity"].to_numpy()[d_cash]][order]
    price = np.r_[x_p[seed], day["price"].to_numpy()[d_cash]][order]
    is_seed = np.r_[np.ones(len(seed), bool), np.zeros(len(d_row), bool)][order]
    s = scan(lk, qty, price)
    held_q[lk[is_seed]] = s.survival[is_seed] * qty[is_seed]
    realized = np.bincount(lk, weights=np.where(is_seed, 0.0, s.realized), minlength=n)
    lots = np.where(is_seed, 0.0, s.opened * s.survival * (x_d[lk] - price))
    return held_q, realized, np.bincount(lk, weights=lots, minlength=n)
