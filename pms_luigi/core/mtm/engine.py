"""The daily mark-to-market: ledger → prices → valuation → explain → book.

Notation: D = business date, P = previous business day, X = the mark (settlement PU,
points, R$, forward), q = signed quantity (long PU / long USD / long index > 0),
M = ``instruments.contract_size``.
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.frames import as_date, require
from pms_luigi.core.mtm import ledger
from pms_luigi.core.mtm.book import book_snapshot, marks_frame
from pms_luigi.core.mtm.explain import explain_pnl
from pms_luigi.core.mtm.io import MtmInputs, MtmResult
from pms_luigi.core.mtm.model import NAT, QTY_DECIMALS, TRADE_COLUMNS, pairs
from pms_luigi.core.mtm.prices import TodaysPrices, fixings, price_history, todays_prices
from pms_luigi.core.mtm.quality import quality
from pms_luigi.core.mtm.state import LedgerState, fold, usable
from pms_luigi.core.mtm.valuation import instrument_groups, prepare_instruments, value_positions
from pms_luigi.core.pricing import Pricer
from pms_luigi.core.pricing.base import Legs, prev_business_day

__all__ = ["mark_to_market"]


def mark_to_market(inp: MtmInputs) -> MtmResult:
    """Mark the book at D, explain each position's P&L and roll the NAV.

    Positions come from the trade ledger (:mod:`~pms_luigi.core.mtm.state`: carried in
    ``inp.ledger`` up to an earlier date when it is that ledger's, else folded from the
    first trade) and are checked against P's marks; each gets D's price
    (:mod:`~pms_luigi.core.mtm.prices`), is valued by its type's pricer
    (:mod:`~pms_luigi.core.mtm.valuation`), its P&L explained to the centavo
    (:mod:`~pms_luigi.core.mtm.explain`); the book and NAV follow
    (:mod:`~pms_luigi.core.mtm.book`), with a data-quality row per stale price.

    Args:
        inp: the frames and settings of one date.

    Returns:
        The marks, the book snapshot, the data-quality rows, the run's metadata and the
        ledger after D's trades (for D+1).

    Raises:
        MissingPrice: instruments without a usable price on D (all of them, in one error).
        MissingFxFixing / MissingCdi / MissingVna: a fixing the positions need is absent.
        InvalidInput: inconsistent ledger vs. previous marks, bad trades, prices or
            instruments, an instrument type without a pricer.
    """
    d, p = _dates(inp)
    d64, p64 = np.datetime64(d, "D"), None if p is None else np.datetime64(p, "D")
    nav_prev = float(inp.nav_prev)
    if not (np.isfinite(nav_prev) and nav_prev > 0):
        raise InvalidInput(f"nav_prev must be positive on {d}, got {inp.nav_prev!r}",
                           table="book_snapshots", field="nav_brl")
    inst = prepare_instruments(inp.instruments)
    at_p, day, at_d = _ledger(inp, inst, d64, p64)
    market = fixings(inp.fx, inp.cdi, inp.vna, str(inp.fx_kind))
    history = price_history(inp.prices, d64)

    w = ledger.universe(at_p.held(), day, inst, ledger.previous_marks(inp.prev_marks))
    groups = instrument_groups(w["itype"].to_numpy(dtype=object),
                               w["instrument_id"].to_numpy(dtype=object))
    ledger.check_against_marks(w, p)
    mat = w["mat"].to_numpy().astype("datetime64[D]") if len(w) else np.array([], "datetime64[D]")
    w["settling"] = np.zeros(len(w), dtype=bool) if p64 is None else (
        ~np.isnat(mat) & (mat > p64) & (mat <= d64))
    today = todays_prices(w, groups, history, market, d, p64, bool(inp.is_b3_session),
                          int(inp.max_stale_bd))

    legs = _legs(w, today, groups, at_d, day, d64, p64)
    values = value_positions(legs, groups, history, market)
    pnl, total_c = explain_pnl(values, w["day_cost"].to_numpy(dtype=np.float64), nav_prev)
    marks = marks_frame(d, w, legs, values, pnl, today.stale, today.age)
    live = ~w["settling"].to_numpy(dtype=bool)
    flow = float(inp.capital_flow_brl or 0.0)
    book = book_snapshot(d, marks, total_c, nav_prev, flow,
                         market.cdi_rate(prev_business_day(np.array([d64]))[0]),
                         bool(inp.is_b3_session), live)
    dq, metadata = quality(d, marks["instrument_id"].to_numpy(), today.stale, today.on,
                           today.age, int(inp.max_stale_bd), book["pnl_brl"])
    return MtmResult(marks=marks, book=book, dq_issues=dq, metadata=metadata, ledger=at_d)


def _ledger(inp: MtmInputs, inst: pd.DataFrame, d64: np.datetime64, p64: np.datetime64 | None
            ) -> tuple[LedgerState, pd.DataFrame, LedgerState]:
    """(ledger at P, D's sorted trades, ledger after them), the trades checked.

    From ``inp.ledger`` when :func:`~pms_luigi.core.mtm.state.usable`: only the trades read
    after the ones it folded are converted, sorted, checked and folded (the others were,
    when it was made); else from the first trade.
    """
    raw = inp.trades if len(inp.trades) else pd.DataFrame(columns=list(TRADE_COLUMNS))
    require(raw, TRADE_COLUMNS, "trades")
    start = inp.ledger if usable(inp.ledger, raw, inst, p64) else LedgerState.empty()
    rest = raw.iloc[start.n_trades:]
    typed = ledger.typed_trades(rest)
    before, upto = _by(typed, p64), typed["trade_date"].to_numpy() <= d64
    trades = ledger.sort_trades(typed.loc[upto])
    ledger.check_trades(trades, inst, d64, p64, bool(inp.is_b3_session))
    on_p = _by(trades, p64)
    at_p = fold(start, trades.loc[on_p].reset_index(drop=True), p64, inst,
                given=rest.loc[before])
    day = trades.loc[~on_p].reset_index(drop=True)
    return at_p, day, fold(at_p, day, d64, inst, given=rest.loc[upto & ~before])


def _by(trades: pd.DataFrame, p64: np.datetime64 | None) -> np.ndarray:
    """Trades dated on or before P (none on the fund's first day)."""
    if p64 is None:
        return np.zeros(len(trades), dtype=bool)
    return trades["trade_date"].to_numpy() <= p64


def _dates(inp: MtmInputs) -> tuple[date, date | None]:
    """(D, P), checked: P, when given, is before D."""
    d = as_date(inp.business_date, "business_date")
    p = None if inp.prev_date is None else as_date(inp.prev_date, "prev_date")
    if p is not None and p >= d:
        raise InvalidInput(f"prev_date {p} is not before business_date {d}", field="prev_date")
    return d, p


def _legs(w: pd.DataFrame, today: TodaysPrices, groups: list[tuple[Pricer, np.ndarray]],
          at_d: LedgerState, day: pd.DataFrame, d64: np.datetime64,
          p64: np.datetime64 | None) -> Legs:
    """The legs the pricers read, one row per position of the universe.

    Cash positions get D's average-cost ledger (held part, realized, surviving new lots);
    every position its ledger state after D's trades (average cost, cumulative realized P&L).
    """
    n = len(w)
    keys = pairs(w["instrument_id"].to_numpy(), w["strategy_id"].to_numpy())
    q_p = w["q_p"].to_numpy(dtype=np.float64)
    held = q_p != 0
    x_p = w["x_p"].to_numpy(dtype=np.float64)
    cash = np.zeros(n, dtype=bool)
    for pricer, rows in groups:
        cash[rows] = not pricer.terms.daily_settled
    held_q, realized, new_lots = ledger.day_ledger(cash, keys, q_p, x_p, today.price, day)
    final = at_d.columns
    f_row = pd.Index(final["key"]).get_indexer(keys)
    found = f_row >= 0
    avg_cost = np.where(found, final["avg_cost"][f_row], np.nan)
    realized_total = np.nan_to_num(np.where(found, final["realized_pnl"][f_row], np.nan))
    r_p = w["r_p"].to_numpy().astype("datetime64[D]") if n else np.array([], "datetime64[D]")
    return Legs({
        "instrument_id": w["instrument_id"].to_numpy(dtype=object),
        "currency": w["currency"].to_numpy(dtype=object),
        "maturity": w["mat"].to_numpy().astype("datetime64[D]") if n else r_p,
        "contract_size": w["cs"].to_numpy(dtype=np.float64),
        "date": np.full(n, d64),
        "prev_date": np.full(n, NAT if p64 is None else p64),
        "quantity": np.round(q_p + w["day_qty"].to_numpy(dtype=np.float64), QTY_DECIMALS),
        "prev_quantity": q_p,
        "held_quantity": held_q,
        "day_quantity": w["day_qty"].to_numpy(dtype=np.float64),
        "day_cash": w["day_cash"].to_numpy(dtype=np.float64),
        "price": today.price,
        "on": today.on,
        "prev_price": np.where(held, x_p, np.nan),
        "prev_on": np.where(held, r_p, NAT),
        "settling": w["settling"].to_numpy(dtype=bool),
        "realized": realized,
        "new_lots": new_lots,
        "avg_cost": avg_cost,
        "realized_total": realized_total,
    })
