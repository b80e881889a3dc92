"""Positions from the trade ledger and the daily mark-to-market of the book, with P&L explain.

Pure module (stdlib, numpy, pandas, :mod:`pms_luigi.core.calendar`, :mod:`pms_luigi.core.pricing`): no
I/O, no clock. Input frames carry the DB column names of ``store/schema.py``; outputs are the
``position_marks`` / ``book_snapshots`` / ``data_quality_issues`` columns minus ``run_id``.
Notation below: D = business date, P = previous business day, X = the mark (settlement PU,
points, R$, forward), q = signed quantity (long PU / long USD / long index > 0), M =
``instruments.contract_size``, R = the date of the price a mark uses (``price_date``).

**Positions** (:func:`positions_as_of`): average-cost method per (instrument_id, strategy_id),
trades ordered by (trade_date, trade_id). Adding to a position blends the average cost;
reducing keeps it and realizes (exit − avg)·closed; a flip realizes the whole old position and
restarts the cost at the flip trade's price; reaching zero leaves no cost. It is one linear
recurrence on the cost basis C (C ← a·C + b, a = q_after/q_before on reductions), solved for
all groups at once with cumulative products/sums over segments — no per-trade Python loop.

**Daily P&L** (:func:`mark_to_market`), per position, in BRL:

* Exchange futures (DI1, DDI, DOL, WDO, IND, WIN) follow B3's daily settlement exactly:
  carried q_P gets (X_D − X_P·FC)·M·q_P, every trade on D gets (X_D − PO)·M·q_t
  (``pnl_new_trades_brl``); nothing is "realized" (settled daily). DI1: FC = Π(1+DI_d)^(1/252)
  over every DI fixing d in [R_P, R_D) — the fixings since the session of the previous mark,
  so the session after Dec 24/31 compounds two; split carry = PU(r_P, du(R_D)) − X_P·FC,
  market = X_D − PU(r_P, du(R_D)). DDI: FC additionally divides by PTAX_{R_D−1}/PTAX_{R_P−1},
  settled in BRL at PTAX of the business day before R_D; carry uses the DI part of FC, the
  PTAX part goes to ``pnl_fx_brl``, market = X_D − PU(i_P, dc(R_D)). DOL/WDO/IND/WIN: plain
  ajuste, all in ``pnl_market_brl`` (a forward-points/spot split needs a spot taken at the
  settlement window; PTAX is 13:00, so it is not attempted).
* Cash instruments (LTN, NTN-F, NTN-B, EQUITY, NDF and anything else): P&L = q_D·X_D −
  q_P·X_P − Σ q_t·p_t (+ coupons paid on D to q_P). Explained with the average-cost ledger
  of the day, seeded with q_P at X_P: the quantity closed on D realizes (p − day basis) into
  ``pnl_realized_brl``; the part of q_P still held gets carry/market; the surviving new lots
  get X_D − p_t (``pnl_new_trades_brl``). Bonds: carry = h·(PU(y_P at R_D) − X_P) + coupons,
  market = h·(X_D − PU(y_P at R_D)), ANBIMA pricing of :mod:`pms_luigi.core.pricing` (NTN-B with
  the VNA of R_D). NDF: value = q·(F − avg forward) + realized-but-unsettled, undiscounted
  (DF = 1: the MTM of a 3-month NDF at 15 % is overstated by ~3.5 % of its own MTM, not of
  notional; the forward in ``market_prices`` is taken as given). USD-denominated cash items
  (``currency == 'USD'``, other types) are translated at the day's fixing (``fx_kind``); the
  translation of yesterday's value, V_P·(FX_D − FX_P), is ``pnl_fx_brl``.
* Costs: ``pnl_costs_brl`` = −Σ ``trades.cost_brl`` of D (cost_brl > 0 is a cost paid).
* ``pnl_residual_brl`` = total − Σ parts. All P&L columns are returned in whole centavos
  (round half-even) and the residual is computed in integer centavos, so Σ parts == total
  holds exactly after the writer's own rounding (which becomes a no-op), and the book P&L is
  the exact sum of the positions. ``pnl_bps`` = pnl / NAV_P × 10⁴; NAV_D = NAV_P + P&L_D +
  capital flows (uninvested cash yield and fees are not modelled here).

**Prices**. The mark for D is the ``market_prices`` row of D. On an ANBIMA day that is not a
B3 session, every ``exchange == 'B3'`` instrument keeps yesterday's mark (the last session's
price, its date and staleness): R_D = R_P, hence FC = 1 and exchange P&L is exactly zero, and
trades on B3 instruments that day are refused. Missing prices: with ``max_stale_bd == 0``
:class:`MissingPrice` names every instrument without a price on D; otherwise the last price
up to N business days old is used (age counted in B3 sessions for B3 instruments, ANBIMA
days otherwise), flagged ``is_stale`` with ``staleness_bd`` and a WARNING data-quality row per
instrument; older than N → MissingPrice. Never the entry price. Because FC runs from R_P to
R_D, a stale futures mark shows zero P&L and the next fresh price catches up every missed
fixing. Rates: the published ``rate`` at the mark's price date when present, else the rate
implied by the price (exact inverse of the pricing function).

**Expiry**. A contract whose maturity falls in (P, D] appears on D for the last time, marked
at its final settlement: DI1/DDI 100 000 points; LTN 1 000; NTN-F 1 048.80885; NTN-B VNA ×
102.956301 % (VNA of the maturity date, else of D); DOL/WDO 1 000 × PTAX and NDF PTAX of the
business day before maturity; IND/WIN/equities from ``market_prices`` of D. Its P&L is the
final settlement against the previous mark, its risk columns and market value are zero (the
cash has been paid) and it is not counted in ``n_positions``; from the next day it is gone.
A maturity on a holiday (LTN/NTN-F on Jan 1) settles on the next business day.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import numpy as np
import pandas as pd

from pms_luigi.core import calendar, pricing
from pms_luigi.core.errors import InvalidInput, MissingCdi, MissingFxFixing, MissingPrice, MissingVna

__all__ = [
    "BOOK_COLUMNS",
    "DQ_COLUMNS",
    "MARK_COLUMNS",
    "POSITION_COLUMNS",
    "STEP",
    "MtmInputs",
    "MtmResult",
    "mark_to_market",
    "positions_as_of",
    "to_days",
]

STEP: Final = "pms.MarkToMarket"
FX_PAIR: Final = "USDBRL"
PTAX: Final = "PTAX"
#: Quantity scale of the ledger (NUMERIC(24, 6)): cumulative sums are rounded to it.
QTY_DECIMALS: Final = 6
_QTY_TOL: Final = 0.5 * 10.0**-QTY_DECIMALS

FUTURES_TYPES: Final = frozenset({"DI1", "DDI", "DOL", "WDO", "IND", "WIN"})
BOND_TYPES: Final = frozenset({"LTN", "NTNF", "NTNB"})
RATE_TYPES: Final = frozenset({"DI1", "DDI", "LTN", "NTNF", "NTNB"})
#: Types whose final settlement is fixed by the contract (not read from market_prices).
_DERIVED_FINAL: Final = frozenset({"DI1", "DDI", "LTN", "NTNF", "NTNB", "DOL", "WDO", "NDF"})
_KNOWN_TYPES: Final = FUTURES_TYPES | BOND_TYPES | {"NDF", "EQUITY"}

MARK_COLUMNS: Final = [
    "business_date", "instrument_id", "strategy_id", "asset_class", "quantity", "avg_cost",
    "price", "price_date", "is_stale", "staleness_bd", "fx_rate", "market_value_brl",
    "notional_brl", "pnl_brl", "pnl_carry_brl", "pnl_market_brl", "pnl_fx_brl",
    "pnl_new_trades_brl", "pnl_realized_brl", "pnl_costs_brl", "pnl_residual_brl", "pnl_bps",
    "dv01_brl", "fx_delta_usd", "equity_delta_brl",
]
PNL_PARTS: Final = ["pnl_carry_brl", "pnl_market_brl", "pnl_fx_brl", "pnl_new_trades_brl",
                    "pnl_realized_brl", "pnl_costs_brl"]
BOOK_COLUMNS: Final = [
    "business_date", "nav_brl", "nav_prev_brl", "pnl_brl", "pnl_bps", "capital_flow_brl",
    "cdi_rate", "gross_notional_brl", "net_notional_brl", "leverage", "dv01_brl",
    "fx_delta_usd", "equity_delta_brl", "n_positions", "is_b3_session",
]
DQ_COLUMNS: Final = ["business_date", "step", "instrument_id", "field", "severity", "message"]
POSITION_COLUMNS: Final = ["instrument_id", "strategy_id", "quantity", "avg_cost",
                           "realized_pnl", "cost_brl", "n_trades", "last_trade_date"]
_TRADE_COLUMNS: Final = ["trade_id", "trade_date", "instrument_id", "strategy_id", "quantity",
                         "price"]
_KEY: Final = ["instrument_id", "strategy_id"]
_NAT: Final = np.datetime64("NaT", "D")
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()


# ====================================================================== small utilities


def _as_date(value: Any, what: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (np.datetime64, pd.Timestamp, str)):
        return pd.Timestamp(value).date()
    raise InvalidInput(f"{what} must be a date, got {value!r}", field=what)


def to_days(values: Any) -> np.ndarray:
    """Dates (date objects, naive Timestamps, datetime64, ISO strings, None) as datetime64[D].

    Why not just ``pd.to_datetime``: it costs ~0.1–1 ms per call even for a handful of values
    and the MTM step converts dozens of date columns per date. The DB drivers hand over
    ``datetime.date`` objects, which go through ``date.toordinal`` (the date part, as the
    parser's floor to the day); anything else takes the parser as before.
    """
    arr = values.to_numpy() if isinstance(values, (pd.Series, pd.Index)) else np.asarray(values)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[D]")
    if len(arr) == 0:
        return np.array([], dtype="datetime64[D]")
    if arr.dtype == object and pd.api.types.infer_dtype(arr, skipna=True) == "date":
        ok = pd.notna(arr)
        out = np.full(len(arr), _NAT)
        out[ok] = np.fromiter(map(date.toordinal, arr[ok]), np.int64, int(ok.sum())) \
            - _EPOCH_ORDINAL
        return out
    return pd.to_datetime(pd.Series(arr, dtype=object)).to_numpy().astype("datetime64[D]")


def _pydates(arr: np.ndarray) -> list[date | None]:
    """datetime64 values as ``datetime.date`` objects (NaT → None)."""
    return arr.astype("datetime64[D]").tolist()


def _num(frame: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(frame[col], errors="raise").to_numpy(dtype=np.float64)


def _require(frame: pd.DataFrame, cols: list[str], table: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InvalidInput(f"{table}: missing column(s) {missing}", table=table,
                           field=missing[0])


def _cents(x: np.ndarray) -> np.ndarray:
    """Whole centavos, round half-even (numpy's rounding), as int64."""
    return np.round(np.asarray(x, dtype=np.float64) * 100.0).astype(np.int64)


def _prev_bd(days: np.ndarray) -> np.ndarray:
    """The ANBIMA business day strictly before each date (vectorized)."""
    return np.busday_offset(days.astype("datetime64[D]"), -1, roll="forward",
                            busdaycal=calendar.ANBIMA)


def _dn(days: Any) -> np.ndarray:
    """Dates as int64 day numbers: a dtype-proof lookup key (no datetime-unit mismatches)."""
    return np.asarray(days).astype("datetime64[D]").astype(np.int64)


def _isin(values: np.ndarray, options: frozenset[str] | set[str]) -> np.ndarray:
    return np.isin(values, list(options))


# ====================================================================== the average-cost scan


def _scan(key: np.ndarray, dq: np.ndarray, px: np.ndarray) -> dict[str, np.ndarray]:
    """Average-cost ledger for rows sorted by (group key, chronological order).

    Returns per row: q_before/q_after, closed (signed like q_before), opened (signed like the
    new lot), avg_before/avg_after, realized = closed·(px − avg_before) in price units,
    ``survival`` = the fraction of the row's opened lot still in the group's final position
    (0 when a later flip or a return to zero wiped it), and ``grp_last`` (index of each
    group's last row).

    Cost basis C = avg·q obeys C_k = a_k·C_{k−1} + b_k with, per trade:
    increase a=1, b=px·dq; reduction a=q_after/q_before, b=0; a segment start (from zero, or
    a flip) a=1 (C_{k−1} is dropped), b=px·opened. Within a segment a > 0, so with
    A = cumprod(a): C_k = A_k·Σ_{j≤k} b_j/A_j; the opened lot of row j survives to the end of
    its segment as opened_j·A_last/A_j, which is how surviving new lots are priced.
    """
    n = len(dq)
    if n == 0:
        z = np.zeros(0)
        return {k: z for k in ("q_before", "q_after", "closed", "opened", "avg_before",
                               "avg_after", "realized", "survival")} | {
            "grp_last": np.zeros(0, dtype=np.int64)}
    grp_start = np.ones(n, dtype=bool)
    grp_start[1:] = key[1:] != key[:-1]
    q_after = np.round(pd.Series(dq).groupby(key).cumsum().to_numpy(), QTY_DECIMALS)
    q_before = np.zeros(n)
    q_before[1:] = q_after[:-1]
    q_before[grp_start] = 0.0
    sb, sa, sd = np.sign(q_before), np.sign(q_after), np.sign(dq)
    increase = (sb == 0) | (sb == sd)
    flip = ~increase & (sa != 0) & (sa != sb)
    reduce_ = ~increase & ~flip
    closed = np.where(flip, q_before, np.where(reduce_, -dq, 0.0))
    opened = np.where(increase, dq, np.where(flip, q_after, 0.0))
    seg_start = grp_start | (sb == 0) | flip
    seg = np.cumsum(seg_start)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(reduce_ & (q_after != 0), q_after / np.where(q_before != 0, q_before, 1.0),
                     1.0)
    a[seg_start] = 1.0
    b = px * opened
    big_a = pd.Series(a).groupby(seg).cumprod().to_numpy()
    cost = big_a * pd.Series(b / big_a).groupby(seg).cumsum().to_numpy()
    flat = q_after == 0
    cost[flat] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        avg_after = np.where(flat, np.nan, cost / np.where(flat, 1.0, q_after))
    avg_before = np.full(n, np.nan)
    avg_before[1:] = avg_after[:-1]
    avg_before[grp_start] = np.nan
    realized = np.where(closed != 0, closed * (px - np.nan_to_num(avg_before)), 0.0)
    grp_id = np.cumsum(grp_start) - 1
    last_rows = np.flatnonzero(np.r_[grp_start[1:], True])
    grp_last = last_rows[grp_id]
    alive = (seg == seg[grp_last]) & ~flat[grp_last]
    survival = np.where(alive, big_a[grp_last] / big_a, 0.0)
    return {"q_before": q_before, "q_after": q_after, "closed": closed, "opened": opened,
            "avg_before": avg_before, "avg_after": avg_after, "realized": realized,
            "survival": survival, "grp_last": grp_last}


def _norm_trades(trades: pd.DataFrame) -> pd.DataFrame:
    """Trades with typed columns, sorted by key then (trade_date, trade_id): a total order,
    so every result is invariant to the order of the input rows."""
    _require(trades, _TRADE_COLUMNS, "trades")
    t = pd.DataFrame({
        "trade_id": trades["trade_id"].astype(str).to_numpy(),
        "trade_date": to_days(trades["trade_date"]),
        "instrument_id": trades["instrument_id"].astype(str).to_numpy(),
        "strategy_id": trades["strategy_id"].astype(str).to_numpy(),
        "quantity": _num(trades, "quantity"),
        "price": _num(trades, "price"),
        "cost_brl": (np.nan_to_num(_num(trades, "cost_brl")) if "cost_brl" in trades.columns
                     else np.zeros(len(trades))),
    })
    ranks = [pd.factorize(t[c].to_numpy(), sort=True)[0] for c in ("trade_id", "strategy_id",
                                                                   "instrument_id")]
    order = np.lexsort((ranks[0], t["trade_date"].to_numpy().astype(np.int64), *ranks[1:]))
    return t.take(order).reset_index(drop=True)


def _group_key(frame: pd.DataFrame) -> np.ndarray:
    """Integer id of (instrument_id, strategy_id) for a frame already sorted by them."""
    if frame.empty:
        return np.zeros(0, dtype=np.int64)
    iid = frame["instrument_id"].to_numpy()
    sid = frame["strategy_id"].to_numpy()
    start = np.ones(len(frame), dtype=bool)
    start[1:] = (iid[1:] != iid[:-1]) | (sid[1:] != sid[:-1])
    return np.cumsum(start) - 1


def _scanned(t: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(group key, :func:`_scan`) of normalized, sorted trades."""
    key = _group_key(t)
    return key, _scan(key, t["quantity"].to_numpy(), t["price"].to_numpy())


def _quantities_upto(t: pd.DataFrame, key: np.ndarray, s: dict[str, np.ndarray],
                     upto: np.datetime64) -> pd.DataFrame:
    """instrument_id, strategy_id, quantity after each key's last trade dated ≤ ``upto``
    (keys without one are absent). The ledger quantity is a running sum in trade order, so
    the full ledger's row gives exactly what a ledger cut at ``upto`` would."""
    le = t["trade_date"].to_numpy() <= upto
    last = le & ~np.r_[(key[1:] == key[:-1]) & le[1:], False]
    return pd.DataFrame({"instrument_id": t["instrument_id"].to_numpy()[last],
                         "strategy_id": t["strategy_id"].to_numpy()[last],
                         "quantity": s["q_after"][last]})


def _positions(t: pd.DataFrame,
               scanned: tuple[np.ndarray, dict[str, np.ndarray]] | None = None) -> pd.DataFrame:
    """Final ledger state per key of normalized, sorted trades (see :func:`positions_as_of`);
    ``scanned``: their :func:`_scanned`, when already computed."""
    if t.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c in _KEY + ["last_trade_date"]
                                          else float) for c in POSITION_COLUMNS})
    key, s = scanned or _scanned(t)
    last = np.flatnonzero(np.r_[key[1:] != key[:-1], True])
    realized = pd.Series(s["realized"]).groupby(key).sum().to_numpy()
    cost = pd.Series(t["cost_brl"].to_numpy()).groupby(key).sum().to_numpy()
    count = np.bincount(key)
    return pd.DataFrame({
        "instrument_id": t["instrument_id"].to_numpy()[last],
        "strategy_id": t["strategy_id"].to_numpy()[last],
        "quantity": s["q_after"][last],
        "avg_cost": s["avg_after"][last],
        "realized_pnl": realized,
        "cost_brl": cost,
        "n_trades": count.astype(np.int64),
        "last_trade_date": t["trade_date"].to_numpy()[last],
    })


def positions_as_of(trades: pd.DataFrame, on: date,
                    instruments: pd.DataFrame | None = None) -> pd.DataFrame:
    """Ledger state per (instrument_id, strategy_id) after every trade dated on or before ``on``.

    Columns: instrument_id, strategy_id, quantity (signed, rounded to the ledger's 6 decimals),
    avg_cost (average-cost method, NaN when flat), realized_pnl (cumulative Σ closed·(exit −
    avg cost), in price points × quantity — times contract_size when ``instruments`` is given,
    i.e. money in the instrument's currency), cost_brl (cumulative trade costs), n_trades,
    last_trade_date (datetime64[D]). Flat keys are kept (quantity 0) so the cumulative realized
    P&L stays visible; filter ``quantity != 0`` for the open book.

    Rules (why): adding blends the average (the usual fund-accounting convention); a partial
    close keeps the average and realizes the difference; a flip closes the whole old position
    at the trade price and opens the remainder at that price — so realized P&L never mixes
    long and short lots. Trades on the same date apply in trade_id order. Realized P&L is
    meaningful for cash instruments (bonds, equities, NDFs — whose realized amount is paid at
    maturity); futures are settled daily, their avg_cost is informational.

    With ``instruments``, positions in contracts with maturity_date <= ``on`` are dropped:
    they were settled on their maturity (see :func:`mark_to_market`).
    """
    on64 = np.datetime64(_as_date(on, "on"), "D")
    t = _norm_trades(trades)
    t = t.loc[t["trade_date"] <= on64].reset_index(drop=True)
    pos = _positions(t)
    if instruments is not None and not pos.empty:
        _require(instruments, ["instrument_id", "contract_size", "maturity_date"], "instruments")
        inst = instruments.assign(instrument_id=instruments["instrument_id"].astype(str))
        cs = pd.Series(_num(inst, "contract_size"), index=inst["instrument_id"].to_numpy())
        mat = pd.Series(to_days(inst["maturity_date"]), index=inst["instrument_id"].to_numpy())
        ids = pos["instrument_id"].to_numpy()
        unknown = ~np.isin(ids, cs.index.to_numpy())
        if unknown.any():
            raise InvalidInput(f"trades reference unknown instrument {ids[unknown][0]}",
                               table="trades", row=ids[unknown][0], field="instrument_id")
        pos["realized_pnl"] = pos["realized_pnl"].to_numpy() * cs.reindex(ids).to_numpy()
        m = mat.reindex(ids).to_numpy()
        keep = np.isnat(m) | (m > on64)
        pos = pos.loc[keep].reset_index(drop=True)
    return pos


# ====================================================================== inputs and outputs


@dataclass
class MtmInputs:
    """Everything :func:`mark_to_market` reads for one business date (frames = DB columns).

    * ``trades``: every trade with trade_date <= business_date (the whole ledger: positions
      are rebuilt from it).
    * ``prev_marks``: position_marks of prev_date (empty on the fund's first day); their
      price/price_date are the reference of today's P&L.
    * ``prices``: market_prices rows up to business_date covering (a) D's marks and the
      staleness window and (b) the rows at the previous marks' price dates (for the published
      rate behind the carry split; without them the rate implied by the price is used).
    * ``fx``: fx_fixings (pair USDBRL) for the dates used: D (NDF notional, USD items), P (USD
      items), the business day before D and before the previous mark's price date (PTAX,
      DDI), the business day before a maturing DOL/WDO/NDF maturity (PTAX).
    * ``cdi``: cdi_fixings of every business day in [previous mark's price date, D).
    * ``vna``: vna rows (index_name NTNB) for D and the NTN-B marks' price dates.
    * ``fx_kind``: fixing used to translate USD items and NDF notionals ('PTAX' or 'CLOSE');
      DDI always settles at PTAX (contract rule).
    """

    business_date: date
    prev_date: date | None
    instruments: pd.DataFrame
    trades: pd.DataFrame
    prev_marks: pd.DataFrame
    prices: pd.DataFrame
    fx: pd.DataFrame
    cdi: pd.DataFrame
    vna: pd.DataFrame
    nav_prev: float
    capital_flow_brl: float
    is_b3_session: bool
    max_stale_bd: int
    fx_kind: str = PTAX


@dataclass
class MtmResult:
    """marks: :data:`MARK_COLUMNS`; book: :data:`BOOK_COLUMNS`; dq_issues: :data:`DQ_COLUMNS`;
    metadata: positions_marked, total_pnl_brl, stale_prices (count), stale_instruments."""

    marks: pd.DataFrame
    book: dict[str, Any]
    dq_issues: pd.DataFrame
    metadata: dict[str, Any]


# ====================================================================== market data lookups


def _series(values: np.ndarray, days: pd.Series) -> pd.Series:
    s = pd.Series(values, index=_dn(to_days(days)))
    return s[~s.index.duplicated(keep="last")]


class _Market:
    """FX, CDI and VNA lookups that raise the library's errors naming the missing date."""

    def __init__(self, fx: pd.DataFrame, cdi: pd.DataFrame, vna: pd.DataFrame) -> None:
        self._fx: dict[str, pd.Series] = {}
        if len(fx):
            _require(fx, ["fixing_date", "pair", "kind", "rate"], "fx_fixings")
            f = fx.loc[fx["pair"].astype(str) == FX_PAIR]
            for kind, g in f.groupby(f["kind"].astype(str)):
                self._fx[str(kind)] = _series(_num(g, "rate"), g["fixing_date"])
        self._cdi = pd.Series(dtype=float)
        if len(cdi):
            _require(cdi, ["fixing_date", "rate"], "cdi_fixings")
            self._cdi = _series(_num(cdi, "rate"), cdi["fixing_date"])
        self._vna = pd.Series(dtype=float)
        if len(vna):
            _require(vna, ["ref_date", "index_name", "value"], "vna")
            v = vna.loc[vna["index_name"].astype(str) == "NTNB"]
            self._vna = _series(_num(v, "value"), v["ref_date"])

    def fx(self, days: np.ndarray, kind: str) -> np.ndarray:
        days = np.asarray(days, dtype="datetime64[D]")
        out = self._fx.get(kind, pd.Series(dtype=float)).reindex(_dn(days)).to_numpy(
            dtype=np.float64)
        if np.isnan(out).any():
            raise MissingFxFixing(FX_PAIR, kind, np.sort(days[np.isnan(out)])[0].item())
        return out

    def fx_or_nan(self, days: np.ndarray, kind: str) -> np.ndarray:
        return self._fx.get(kind, pd.Series(dtype=float)).reindex(_dn(days)).to_numpy(
            dtype=np.float64)

    def cdi_rate(self, day: np.datetime64) -> float | None:
        v = self._cdi.get(int(_dn(day)))
        return None if v is None else float(v)

    def fc_di(self, start: np.datetime64, end: np.datetime64) -> float:
        """Π (1 + DI_d)^(1/252) over ANBIMA business days d in [start, end)."""
        days = np.arange(start, end, dtype="datetime64[D]")
        days = days[np.is_busday(days, busdaycal=calendar.ANBIMA)]
        rates = self._cdi.reindex(_dn(days))
        if rates.isna().any():
            raise MissingCdi(days[rates.isna().to_numpy()][0].item())
        return pricing.cdi_factor(rates.to_numpy())

    def vna(self, days: np.ndarray) -> np.ndarray:
        days = np.asarray(days, dtype="datetime64[D]")
        out = self._vna.reindex(_dn(days)).to_numpy(dtype=np.float64)
        if np.isnan(out).any():
            raise MissingVna("NTNB", np.sort(days[np.isnan(out)])[0].item())
        return out

    def vna_or_nan(self, days: np.ndarray) -> np.ndarray:
        return self._vna.reindex(_dn(days)).to_numpy(dtype=np.float64)


# ====================================================================== input preparation


def _prep_instruments(instruments: pd.DataFrame) -> pd.DataFrame:
    """The instrument terms the MTM reads, checked: a B3 contract's contract_size is its point
    value (a wrong multiplier scales every P&L), rate instruments and NDFs have a maturity."""
    _require(instruments, ["instrument_id", "asset_class", "instrument_type", "currency",
                           "exchange", "maturity_date", "contract_size"], "instruments")
    iid = instruments["instrument_id"].astype(str).to_numpy()
    itype = instruments["instrument_type"].astype(str).to_numpy()
    mat, cs = to_days(instruments["maturity_date"]), _num(instruments, "contract_size")
    for typ, spec in pricing.CONTRACT_SPECS.items():
        bad = (itype == typ) & ~np.isclose(cs, spec.point_value)
        if bad.any():
            k = int(bad.argmax())
            raise InvalidInput(
                f"instruments: {iid[k]} ({typ}) has contract_size {cs[k]}, "
                f"B3 point value is {spec.point_value}", table="instruments",
                row=iid[k], field="contract_size")
    need_mat = _isin(itype, RATE_TYPES | {"NDF"}) & np.isnat(mat)
    if need_mat.any():
        k = int(need_mat.argmax())
        raise InvalidInput(f"instruments: {iid[k]} needs a maturity_date", table="instruments",
                           row=iid[k], field="maturity_date")
    return pd.DataFrame({
        "instrument_id": iid,
        "asset_class": instruments["asset_class"].astype(str).to_numpy(),
        "itype": itype,
        "currency": instruments["currency"].astype(str).to_numpy(),
        "exchange": instruments["exchange"].astype(str).to_numpy(),
        "mat": mat,
        "cs": cs,
    })


def _check_trades(t: pd.DataFrame, inst: pd.DataFrame, d64: np.datetime64,
                  p64: np.datetime64 | None, is_b3_session: bool) -> None:
    def fail(mask: np.ndarray, field: str, why: str) -> None:
        if mask.any():
            row = t.loc[mask].iloc[0]
            raise InvalidInput(
                f"trades: {int(mask.sum())} trade(s) {why}; first: {row['trade_id']} "
                f"{row['instrument_id']} on {pd.Timestamp(row['trade_date']).date()}",
                table="trades", row=row["trade_id"], field=field)

    at = pd.Index(inst["instrument_id"].to_numpy()).get_indexer(t["instrument_id"].to_numpy())
    known = at >= 0
    fail(~known, "instrument_id", "reference an unknown instrument")
    if p64 is None:
        fail(t["trade_date"].to_numpy() < d64, "trade_date",
             "predate the fund's first business date")
    q, p = t["quantity"].to_numpy(), t["price"].to_numpy()
    fail(~np.isfinite(q) | (q == 0), "quantity", "have a zero or missing quantity")
    fail(~np.isfinite(p) | (p <= 0), "price", "have a non-positive or missing price")
    mat = inst["mat"].to_numpy().astype("datetime64[D]")[at]  # every trade's is known here
    fail(~np.isnat(mat) & (t["trade_date"].to_numpy() >= mat), "trade_date",
         "are dated on or after the contract's maturity")
    if not is_b3_session:
        exch = inst["exchange"].to_numpy()[at]
        fail((t["trade_date"].to_numpy() == d64) & (exch == "B3"), "trade_date",
             "on a B3 instrument are dated on a day without a B3 session")


def _prep_prev_marks(prev: pd.DataFrame) -> pd.DataFrame:
    cols = ["x_p", "r_p", "prev_qty", "prev_stale", "prev_age"]
    if prev is None or len(prev) == 0:
        return pd.DataFrame({"instrument_id": pd.Series(dtype=object),
                             "strategy_id": pd.Series(dtype=object)}
                            | {c: pd.Series(dtype=float) for c in cols})
    _require(prev, ["instrument_id", "strategy_id", "quantity", "price", "price_date"],
             "position_marks")
    out = pd.DataFrame({
        "instrument_id": prev["instrument_id"].astype(str).to_numpy(),
        "strategy_id": prev["strategy_id"].astype(str).to_numpy(),
        "x_p": _num(prev, "price"),
        "r_p": to_days(prev["price_date"]),
        "prev_qty": _num(prev, "quantity"),
        "prev_stale": (prev["is_stale"].fillna(False).astype(bool).to_numpy()
                       if "is_stale" in prev.columns else np.zeros(len(prev), dtype=bool)),
        "prev_age": (pd.to_numeric(prev["staleness_bd"]).fillna(0).to_numpy(dtype=np.int64)
                     if "staleness_bd" in prev.columns else np.zeros(len(prev), dtype=np.int64)),
    })
    return out.drop_duplicates(_KEY, keep="last")


@dataclass(frozen=True)
class _Prices:
    """``market_prices`` rows dated ≤ D as numpy columns sorted by (instrument_id, price date),
    input order among equal pairs (a stable sort, as the rows' order decides which duplicate
    wins). ``ids``: the distinct instrument_ids in sorted order; ``code``: each row's index
    into ``ids``. Integer keys instead of a MultiIndex: the window holds ~260 days of rows."""

    ids: np.ndarray
    code: np.ndarray
    pdate: np.ndarray
    price: np.ndarray
    rate: np.ndarray

    def _key(self, code: np.ndarray, days: np.ndarray) -> np.ndarray:
        """(instrument, day) as one int64 ordered like the rows (days fit in 32 bits)."""
        return code.astype(np.int64) * 2**32 + (_dn(days) + 2**31)

    def latest(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(price, price date) of each id's latest row (the last of its run); NaN/NaT if none."""
        price, pdate = np.full(len(ids), np.nan), np.full(len(ids), _NAT)
        pos = pd.Index(self.ids).get_indexer(ids)
        found = pos >= 0
        if found.any():
            ends = np.flatnonzero(np.r_[self.code[1:] != self.code[:-1], True])  # per id
            rows = ends[pos[found]]
            price[found], pdate[found] = self.price[rows], self.pdate[rows]
        return price, pdate

    def rate_at(self, iid: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Published rate of each (instrument, date) pair (the last duplicate); NaN when absent."""
        out = np.full(len(iid), np.nan)
        if not len(self.code) or not len(iid):
            return out
        key = self._key(self.code, self.pdate)
        last = np.r_[key[1:] != key[:-1], True]
        key, rate = key[last], self.rate[last]
        code = pd.Index(self.ids).get_indexer(np.asarray(iid, dtype=object))
        q = self._key(code, days)
        at = np.minimum(np.searchsorted(key, q), len(key) - 1)
        hit = (code >= 0) & ~np.isnat(np.asarray(days, dtype="datetime64[D]")) & (key[at] == q)
        out[hit] = rate[at[hit]]
        return out


def _prep_prices(prices: pd.DataFrame | None, d64: np.datetime64) -> _Prices:
    """Validated ``market_prices`` rows dated ≤ D (every row of the window is checked, used by
    this mark or not): price > 0 and a rate, when published, in (−0.5, 1) — rates are decimals."""
    if prices is None or len(prices) == 0:
        return _Prices(np.array([], dtype=object), np.zeros(0, dtype=np.int64),
                       np.array([], dtype="datetime64[D]"), np.zeros(0), np.zeros(0))
    _require(prices, ["price_date", "instrument_id", "price"], "market_prices")
    pdate = to_days(prices["price_date"])
    keep = pdate <= d64
    iid = prices["instrument_id"].astype(str).to_numpy(dtype=object)[keep]
    pdate, price = pdate[keep], _num(prices, "price")[keep]
    rate = (_num(prices, "rate")[keep] if "rate" in prices.columns
            else np.full(len(iid), np.nan))
    bad = ~(price > 0)
    if bad.any():
        k = int(bad.argmax())
        raise InvalidInput(f"market_prices: {iid[k]} on {pdate[k].item()} has price "
                           f"{price[k]}", table="market_prices", row=iid[k], field="price")
    bad = np.isfinite(rate) & ((rate >= 1.0) | (rate <= -0.5))
    if bad.any():
        k = int(bad.argmax())
        raise InvalidInput(f"market_prices: {iid[k]} on {pdate[k].item()} has rate {rate[k]} "
                           f"(rates are decimals: 0.1105 = 11.05%)", table="market_prices",
                           row=iid[k], field="rate")
    code, ids = pd.factorize(iid, sort=True)  # hashing; only the distinct ids are sorted
    order = np.lexsort((pdate.astype(np.int64), code))
    return _Prices(np.asarray(ids, dtype=object), code[order].astype(np.int64), pdate[order],
                   price[order], rate[order])


# ====================================================================== bond helpers


def _distinct_rows(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, first) for the distinct rows of aligned columns: ``codes[i]`` numbers row i's
    combination, ``first[k]`` is a row holding combination k. Each column is factorized on
    its own (hash tables, NaN/NaT as one value), then the integer code rows are uniqued —
    no tuple per row."""
    n = len(columns[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    codes = np.column_stack([pd.factorize(pd.Series(c), use_na_sentinel=False)[0]
                             for c in columns])
    _, first, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), first


def _bond_values(itype: np.ndarray, mat: np.ndarray, settle: np.ndarray, rate: np.ndarray,
                 vna: np.ndarray, what: str) -> np.ndarray:
    """Per row: ANBIMA PU ('pu') or DV01 magnitude per bond ('dv01') of LTN/NTN-F/NTN-B at
    ``settle`` and ``rate``. Loops over the distinct (type, maturity, date, rate, vna)
    combinations — a handful of bonds — never over positions."""
    out = np.full(len(itype), np.nan)
    if len(itype) == 0:
        return out
    codes, first = _distinct_rows(itype, mat, settle, rate, vna)
    uniq = zip(itype[first], mat[first], settle[first], rate[first], vna[first], strict=True)
    vals = np.empty(len(first))
    for k, (t, m, s, r, v) in enumerate(uniq):
        md, sd = pd.Timestamp(m).date(), pd.Timestamp(s).date()
        if t == "LTN":
            du = calendar.du(sd, md)
            vals[k] = pricing.ltn_pu(r, du) if what == "pu" else pricing.ltn_dv01(r, du)
        elif t == "NTNF":
            vals[k] = (pricing.ntnf_pu(sd, md, r) if what == "pu"
                       else pricing.ntnf_dv01(sd, md, r))
        else:
            vals[k] = (pricing.ntnb_pu(v, pricing.ntnb_quote(sd, md, r)) if what == "pu"
                       else pricing.ntnb_dv01(sd, md, r, v))
    out[:] = vals[codes]
    return out


def _bond_yields(itype: np.ndarray, mat: np.ndarray, settle: np.ndarray, price: np.ndarray,
                 vna: np.ndarray) -> np.ndarray:
    """Yield implied by each bond price (LTN closed form; NTN-F / NTN-B Newton)."""
    out = np.full(len(itype), np.nan)
    if len(itype) == 0:
        return out
    codes, first = _distinct_rows(itype, mat, settle, price, vna)
    uniq = zip(itype[first], mat[first], settle[first], price[first], vna[first], strict=True)
    vals = np.empty(len(first))
    for k, (t, m, s, p, v) in enumerate(uniq):
        md, sd = pd.Timestamp(m).date(), pd.Timestamp(s).date()
        if t == "LTN":
            vals[k] = pricing.ltn_rate(p, calendar.du(sd, md))
        elif t == "NTNF":
            vals[k] = pricing.ntnf_rate(sd, md, p)
        else:
            vals[k] = pricing.ntnb_rate(sd, md, p / v * 100.0)
    out[:] = vals[codes]
    return out


def _coupons(w: pd.DataFrame, p64: np.datetime64, d64: np.datetime64, mkt: _Market
             ) -> np.ndarray:
    """Coupon cash per bond paid in (P, D] to the holders at P (ex-coupon PU on the payment
    date). NTN-F R$48.80885; NTN-B VNA_D × 2.956301 %. The maturity flow is the final
    settlement, not a coupon. Paid on calendar.following(coupon date)."""
    out = np.zeros(len(w))
    itype = w["itype"].to_numpy()
    held = _isin(itype, {"NTNF", "NTNB"}) & (w["q_p"].to_numpy() != 0)
    if not held.any():
        return out
    p_date, d_date = p64.item(), d64.item()
    for mat64 in np.unique(w.loc[held, "mat"].to_numpy()):
        mat = pd.Timestamp(mat64).date()
        paid = [c for c in pricing.coupon_dates(p_date, mat)
                if c < mat and p_date < calendar.following(c) <= d_date]
        if not paid:
            continue
        rows = held & (w["mat"].to_numpy() == mat64)
        for t in np.unique(itype[rows]):
            r = rows & (itype == t)
            if t == "NTNF":
                out[r] = pricing.NTNF_COUPON * len(paid)
            else:
                out[r] = mkt.vna(np.array([d64]))[0] * pricing.NTNB_COUPON_PCT / 100.0 * len(paid)
    return out


def _pairs(iid: np.ndarray, sid: np.ndarray) -> np.ndarray:
    """(instrument_id, strategy_id) as one "iid\\0sid" text per row: a single hashable key whose
    text order is the tuple order (\\0 sorts before any character)."""
    return np.asarray(iid, dtype=object) + "\0" + np.asarray(sid, dtype=object)


def _at(n: int, rows: np.ndarray, values: np.ndarray, fill: Any) -> np.ndarray:
    """An n-array holding ``values`` at ``rows`` and ``fill`` elsewhere."""
    out = np.full(n, fill, dtype=np.result_type(values, np.asarray(fill)))
    out[rows] = values
    return out


def _universe(start: pd.DataFrame, day: pd.DataFrame, inst: pd.DataFrame,
              prev: pd.DataFrame) -> pd.DataFrame:
    """One row per position of the day, sorted by (instrument_id, strategy_id): held at P
    (``start``: instrument_id, strategy_id, quantity) or traded on D (``day``), with q_p, the
    day's traded quantity / cash (Σ q·p) / costs (0 when none), the instrument's terms and
    yesterday's mark (``prev`` one row per key; x_p/prev_qty NaN and r_p NaT when absent)."""
    agg = pd.DataFrame({
        "instrument_id": day["instrument_id"].to_numpy(),
        "strategy_id": day["strategy_id"].to_numpy(),
        "day_qty": day["quantity"].to_numpy(),
        "day_cash": day["quantity"].to_numpy() * day["price"].to_numpy(),
        "day_cost": day["cost_brl"].to_numpy(),
    }).groupby(_KEY, as_index=False, sort=True).sum()
    s_iid, s_sid = start["instrument_id"].to_numpy(), start["strategy_id"].to_numpy()
    a_iid, a_sid = agg["instrument_id"].to_numpy(), agg["strategy_id"].to_numpy()
    s_key, a_key = _pairs(s_iid, s_sid), _pairs(a_iid, a_sid)
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
    at_p = pd.Index(_pairs(prev["instrument_id"].to_numpy(),
                           prev["strategy_id"].to_numpy())).get_indexer(keys)
    found, at_p = at_p >= 0, np.maximum(at_p, 0)
    for c, fill in (("x_p", np.nan), ("r_p", _NAT), ("prev_qty", np.nan), ("prev_stale", False),
                    ("prev_age", 0)):
        col = prev[c].to_numpy()
        w[c] = np.where(found, col[at_p], fill) if len(col) else np.full(n, fill)
    return pd.DataFrame(w)


# ====================================================================== the MTM


def mark_to_market(inp: MtmInputs) -> MtmResult:
    """Mark the book at D, explain each position's P&L and roll the NAV (see module doc).

    Raises:
        MissingPrice: instruments without a usable price on D (all of them, in one error).
        MissingFxFixing / MissingCdi / MissingVna: a fixing the positions need is absent.
        InvalidInput: inconsistent ledger vs. previous marks, bad trades or prices.
    """
    d = _as_date(inp.business_date, "business_date")
    p = None if inp.prev_date is None else _as_date(inp.prev_date, "prev_date")
    if p is not None and p >= d:
        raise InvalidInput(f"prev_date {p} is not before business_date {d}", field="prev_date")
    d64 = np.datetime64(d, "D")
    p64 = None if p is None else np.datetime64(p, "D")
    nav_prev = float(inp.nav_prev)
    if not (np.isfinite(nav_prev) and nav_prev > 0):
        raise InvalidInput(f"nav_prev must be positive on {d}, got {inp.nav_prev!r}",
                           table="book_snapshots", field="nav_brl")
    flow = float(inp.capital_flow_brl or 0.0)
    max_stale = int(inp.max_stale_bd)
    fx_kind = str(inp.fx_kind)

    inst = _prep_instruments(inp.instruments)
    trades = _norm_trades(inp.trades) if len(inp.trades) else _norm_trades(
        pd.DataFrame(columns=_TRADE_COLUMNS))
    trades = trades.loc[trades["trade_date"].to_numpy() <= d64].reset_index(drop=True) \
        if len(trades) else trades
    _check_trades(trades, inst, d64, p64, bool(inp.is_b3_session))
    mkt = _Market(inp.fx, inp.cdi, inp.vna)
    prices = _prep_prices(inp.prices, d64)

    # ------------------------------------------------------------ the universe of positions
    scanned = _scanned(trades)
    start = _quantities_upto(trades, *scanned, _NAT if p64 is None else p64)
    day = trades if p64 is None else trades.loc[trades["trade_date"].to_numpy() > p64] \
        .reset_index(drop=True)
    mat_by_id = inst.set_index("instrument_id")["mat"]
    if len(start):
        smat = mat_by_id.reindex(start["instrument_id"].to_numpy()).to_numpy()
        live = (start["quantity"].to_numpy() != 0) & (np.isnat(smat) | (smat > p64))
        start = start.loc[live]
    w = _universe(start, day, inst, _prep_prev_marks(inp.prev_marks))
    keys = _pairs(w["instrument_id"].to_numpy(), w["strategy_id"].to_numpy())
    n = len(w)

    iid = w["instrument_id"].to_numpy(dtype=object)
    itype = w["itype"].to_numpy(dtype=object)
    exch = w["exchange"].to_numpy(dtype=object)
    cur = w["currency"].to_numpy(dtype=object)
    mat = w["mat"].to_numpy().astype("datetime64[D]") if n else np.array([], "datetime64[D]")
    cs = w["cs"].to_numpy(dtype=np.float64)
    q_p = w["q_p"].to_numpy(dtype=np.float64)
    q_d = np.round(q_p + w["day_qty"].to_numpy(dtype=np.float64), QTY_DECIMALS)
    day_cash = w["day_cash"].to_numpy(dtype=np.float64)
    day_cost = w["day_cost"].to_numpy(dtype=np.float64)
    held = q_p != 0

    # ------------------------------------------------------------ previous marks
    x_p = w["x_p"].to_numpy(dtype=np.float64)
    r_p = w["r_p"].to_numpy().astype("datetime64[D]") if n else np.array([], "datetime64[D]")
    no_mark = held & ~np.isfinite(x_p)
    if no_mark.any():
        k = int(np.flatnonzero(no_mark)[0])
        raise InvalidInput(
            f"position_marks on {p} has no mark for {iid[k]}/{w['strategy_id'].iloc[k]}, which "
            f"the ledger holds ({q_p[k]:g}); rerun MarkToMarket({p})",
            table="position_marks", row=(iid[k], w["strategy_id"].iloc[k]), field="price")
    prev_qty = w["prev_qty"].to_numpy(dtype=np.float64)
    mismatch = held & (np.abs(np.nan_to_num(prev_qty) - q_p) > _QTY_TOL)
    if mismatch.any():
        k = int(np.flatnonzero(mismatch)[0])
        raise InvalidInput(
            f"ledger quantity of {iid[k]}/{w['strategy_id'].iloc[k]} at {p} is {q_p[k]:g} but "
            f"position_marks on {p} says {prev_qty[k]:g} (a trade was booked or changed after "
            f"that run); rerun MarkToMarket from {p}", table="position_marks",
            row=(iid[k], w["strategy_id"].iloc[k]), field="quantity")
    x_p0 = np.where(held, x_p, 0.0)

    # ------------------------------------------------------------ today's prices
    settling = np.zeros(n, dtype=bool) if p64 is None else (~np.isnat(mat) & (mat > p64)
                                                             & (mat <= d64))
    derived = settling & _isin(itype, _DERIVED_FINAL)
    carry_nb = ~derived & (not inp.is_b3_session) & (exch == "B3") & held
    resolve = ~derived & ~carry_nb
    x_d = np.full(n, np.nan)
    r_d = np.full(n, _NAT)
    stale = np.zeros(n, dtype=bool)
    age = np.zeros(n, dtype=np.int64)

    x_d[carry_nb], r_d[carry_nb] = x_p[carry_nb], r_p[carry_nb]
    stale[carry_nb] = w["prev_stale"].to_numpy()[carry_nb].astype(bool)
    age[carry_nb] = w["prev_age"].to_numpy()[carry_nb].astype(np.int64)

    if resolve.any():
        need_ids = np.unique(iid[resolve])
        lp, ld = prices.latest(need_ids)
        is_b3 = (inst.set_index("instrument_id")["exchange"].reindex(need_ids).to_numpy() == "B3")
        la = np.full(len(need_ids), np.iinfo(np.int64).max)
        ok = ~np.isnat(ld)
        if ok.any():
            nxt, end = ld[ok] + 1, np.full(ok.sum(), d64 + 1)
            la[ok] = np.where(is_b3[ok],
                              np.busday_count(nxt, end, busdaycal=calendar.B3),
                              np.busday_count(nxt, end, busdaycal=calendar.ANBIMA))
        unusable = la > max_stale
        if unusable.any():
            field = "price" if max_stale == 0 else f"price within {max_stale} business days"
            raise MissingPrice([str(x) for x in need_ids[unusable]], d, field=field)
        pos_of = pd.Series(np.arange(len(need_ids)), index=need_ids).reindex(iid[resolve])
        j = pos_of.to_numpy(dtype=np.int64)
        x_d[resolve], r_d[resolve] = lp[j], ld[j]
        age[resolve] = la[j]
        stale[resolve] = la[j] > 0

    if derived.any():
        r_d[derived] = d64
        fin = np.full(n, np.nan)
        fin[derived & _isin(itype, {"DI1", "DDI"})] = pricing.DI1_FACE
        fin[derived & (itype == "LTN")] = pricing.LTN_FACE
        fin[derived & (itype == "NTNF")] = pricing.NTNF_FACE + pricing.NTNF_COUPON
        m = derived & (itype == "NTNB")
        if m.any():
            v_mat = mkt.vna_or_nan(mat[m])
            v = np.where(np.isfinite(v_mat), v_mat, mkt.vna(np.full(m.sum(), d64)))
            fin[m] = pricing.truncate(v * (100.0 + pricing.NTNB_COUPON_PCT) / 100.0, 6)
        m = derived & _isin(itype, {"DOL", "WDO", "NDF"})
        if m.any():
            ptax = mkt.fx(_prev_bd(mat[m]), PTAX)
            fin[m] = np.where(itype[m] == "NDF", ptax, ptax * 1000.0)
        x_d[derived] = fin[derived]

    if n and (held & (r_d < r_p)).any():
        k = int(np.flatnonzero(held & (r_d < r_p))[0])
        raise InvalidInput(f"{iid[k]}: the price for {d} ({r_d[k]}) is older than the previous "
                           f"mark's ({r_p[k]})", table="market_prices", row=iid[k],
                           field="price_date")

    # ------------------------------------------------------------ rates (published or implied)
    rate_types = _isin(itype, RATE_TYPES)
    rate_d = np.full(n, np.nan)
    rate_pp = np.full(n, np.nan)
    mask = rate_types & ~settling
    rate_d[mask] = prices.rate_at(iid[mask], r_d[mask])
    mask_p = rate_types & held & ~settling
    rate_pp[mask_p] = prices.rate_at(iid[mask_p], r_p[mask_p])

    def implied(rows: np.ndarray, price: np.ndarray, when: np.ndarray) -> np.ndarray:
        out = np.full(n, np.nan)
        for t in ("DI1", "DDI", "LTN", "NTNF", "NTNB"):
            m = rows & (itype == t)
            if not m.any():
                continue
            if t == "DI1":
                out[m] = pricing.di1_rate(price[m], calendar.du(when[m], mat[m]))
            elif t == "DDI":
                out[m] = pricing.ddi_rate(price[m], (mat[m] - when[m]).astype(np.int64))
            else:
                vna = (mkt.vna(when[m]) if t == "NTNB" else np.full(m.sum(), np.nan))
                out[m] = _bond_yields(itype[m], mat[m], when[m], price[m], vna)
        return out

    miss = mask & ~np.isfinite(rate_d)
    if miss.any():
        rate_d = np.where(miss, implied(miss, x_d, r_d), rate_d)
    miss = mask_p & ~np.isfinite(rate_pp)
    if miss.any():
        rate_pp = np.where(miss, implied(miss, x_p, r_p), rate_pp)

    # PU at R_D with yesterday's rate: the carry/market pivot.
    moved = held & ~settling & (r_d > r_p)
    pu_c = np.where(held, x_p, np.nan)
    pu_c[settling] = x_d[settling]
    m = moved & (itype == "DI1")
    if m.any():
        pu_c[m] = pricing.di1_pu(rate_pp[m], calendar.du(r_d[m], mat[m]))
    m = moved & (itype == "DDI")
    if m.any():
        pu_c[m] = pricing.ddi_pu(rate_pp[m], (mat[m] - r_d[m]).astype(np.int64))
    m = moved & _isin(itype, BOND_TYPES)
    if m.any():
        vna = np.where(itype[m] == "NTNB", mkt.vna_or_nan(r_d[m]), np.nan)
        if np.isnan(vna[itype[m] == "NTNB"]).any():
            mkt.vna(r_d[m][itype[m] == "NTNB"])
        pu_c[m] = _bond_values(itype[m], mat[m], r_d[m], rate_pp[m], vna, "pu")

    # ------------------------------------------------------------ FX and correction factors
    # FC runs over every fixing between the two price dates, including the final settlement.
    advanced = held & (r_d > r_p)
    fc_di = np.ones(n)
    m = advanced & _isin(itype, {"DI1", "DDI"})
    if m.any():
        codes, first = _distinct_rows(r_p[m], r_d[m])
        vals = np.array([mkt.fc_di(np.datetime64(a, "D"), np.datetime64(b, "D"))
                         for a, b in zip(r_p[m][first], r_d[m][first], strict=True)])
        fc_di[m] = vals[codes]
    fc = fc_di.copy()
    conv = np.ones(n)
    is_ddi = itype == "DDI"
    if is_ddi.any():
        conv[is_ddi] = mkt.fx(_prev_bd(r_d[is_ddi]), PTAX)
        m = advanced & is_ddi
        if m.any():
            ptax_prev2 = mkt.fx(_prev_bd(r_p[m]), PTAX)
            fc[m] = fc_di[m] / (conv[m] / ptax_prev2)
    usd_cash = (cur == "USD") & ~_isin(itype, FUTURES_TYPES | BOND_TYPES | {"NDF"})
    fx_d = np.ones(n)
    fx_p = np.ones(n)
    if usd_cash.any():
        fx_d[usd_cash] = mkt.fx(np.full(usd_cash.sum(), d64), fx_kind)
        m = usd_cash & held
        if m.any():
            fx_p[m] = mkt.fx(np.full(m.sum(), p64), fx_kind)
    is_ndf = itype == "NDF"
    spot = np.full(n, np.nan)
    m = is_ndf & ~settling
    if m.any():
        spot[m] = mkt.fx(np.full(m.sum(), d64), fx_kind)
    m = is_ndf & settling
    if m.any():
        spot[m] = x_d[m]

    # ------------------------------------------------------------ P&L: futures (B3 ajuste)
    fut = _isin(itype, FUTURES_TYPES)
    carry = np.zeros(n)
    market = np.zeros(n)
    fxp = np.zeros(n)
    new = np.zeros(n)
    realized = np.zeros(n)
    costs = -day_cost
    total = np.zeros(n)

    carried = (x_d - x_p0 * fc) * cs * conv * q_p
    m = fut & (itype == "DI1") & held
    carry[m] = (pu_c[m] - x_p0[m] * fc_di[m]) * cs[m] * q_p[m]
    market[m] = (x_d[m] - pu_c[m]) * cs[m] * q_p[m]
    m = fut & is_ddi & held
    carry[m] = (pu_c[m] - x_p0[m] * fc_di[m]) * cs[m] * conv[m] * q_p[m]
    fxp[m] = x_p0[m] * (fc_di[m] - fc[m]) * cs[m] * conv[m] * q_p[m]
    market[m] = (x_d[m] - pu_c[m]) * cs[m] * conv[m] * q_p[m]
    m = fut & ~_isin(itype, {"DI1", "DDI"}) & held
    market[m] = (x_d[m] - x_p0[m]) * cs[m] * q_p[m]
    new[fut] = ((x_d * w["day_qty"].to_numpy() - day_cash) * cs * conv)[fut]
    total[fut] = np.where(held, carried, 0.0)[fut] + new[fut] + costs[fut]

    # ------------------------------------------------------------ P&L: cash instruments
    cash = ~fut
    coupons = np.zeros(n) if p64 is None else _coupons(w, p64, d64, mkt)
    h = np.zeros(n)
    if cash.any():
        rows = np.flatnonzero(cash)
        seed = rows[held[rows]]
        # the day's ledger per position: q_P at X_P first, then D's trades in ledger order
        # (``day`` is sorted by key, trade_date, trade_id)
        d_row = pd.Index(keys).get_indexer(_pairs(day["instrument_id"].to_numpy(),
                                                  day["strategy_id"].to_numpy()))
        d_cash = cash[d_row]
        d_row = d_row[d_cash]
        lk = np.concatenate([seed, d_row]).astype(np.int64)
        order = np.lexsort((np.r_[np.full(len(seed), -1), np.arange(len(d_row))], lk))
        ledger = pd.DataFrame({
            "_row": lk[order],
            "quantity": np.r_[q_p[seed], day["quantity"].to_numpy()[d_cash]][order],
            "price": np.r_[x_p[seed], day["price"].to_numpy()[d_cash]][order],
            "_seed": np.r_[np.ones(len(seed), bool), np.zeros(len(d_row), bool)][order]})
        if len(ledger):
            lk = ledger["_row"].to_numpy(dtype=np.int64)
            s = _scan(lk, ledger["quantity"].to_numpy(dtype=np.float64),
                      ledger["price"].to_numpy(dtype=np.float64))
            is_seed = ledger["_seed"].to_numpy(dtype=bool)
            lpx = ledger["price"].to_numpy(dtype=np.float64)
            h_rows = s["survival"][is_seed] * ledger["quantity"].to_numpy()[is_seed]
            h[lk[is_seed]] = h_rows
            real = np.bincount(lk, weights=np.where(is_seed, 0.0, s["realized"]), minlength=n)
            lots = np.where(is_seed, 0.0, s["opened"] * s["survival"] * (x_d[lk] - lpx))
            newl = np.bincount(lk, weights=lots, minlength=n)
            realized[cash] = (real * cs)[cash]
            new[cash] = (newl * cs)[cash]
        bond = cash & _isin(itype, BOND_TYPES)
        held_px = h * (x_d - x_p0) * cs
        m = bond & moved
        carry[m] = (h * (pu_c - x_p0) * cs)[m]
        market[m] = (h * (x_d - pu_c) * cs)[m]
        m = bond & settling
        carry[m] = held_px[m]
        m = cash & ~(bond & (moved | settling))
        market[m] = np.where(h != 0, held_px, 0.0)[m]
        carry[cash] += (q_p * coupons)[cash]
        # USD cash items: local parts at FX_D, translation of yesterday's value at ΔFX.
        for arr in (carry, market, new, realized):
            arr[usd_cash] *= fx_d[usd_cash]
        fxp[usd_cash] = (q_p * x_p0 * cs * (fx_d - fx_p))[usd_cash]
        local = (q_d * x_d - q_p * x_p0 - day_cash) * cs + q_p * coupons
        total[cash] = (local * fx_d + q_p * x_p0 * cs * (fx_d - fx_p) + costs)[cash]

    # ------------------------------------------------------------ centavos and the residual
    parts_c = [_cents(x) for x in (carry, market, fxp, new, realized, costs)]
    total_c = _cents(total)
    resid_c = total_c - np.sum(parts_c, axis=0) if n else np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------ risk and exposures
    live = ~settling
    bond = _isin(itype, BOND_TYPES)
    dv01_unit = np.zeros(n)
    m = live & (q_d != 0) & (itype == "DI1")
    if m.any():
        dv01_unit[m] = pricing.di1_dv01(rate_d[m], calendar.du(r_d[m], mat[m]))
    m = live & (q_d != 0) & is_ddi
    if m.any():
        dv01_unit[m] = pricing.ddi_dv01(rate_d[m], (mat[m] - r_d[m]).astype(np.int64)) * conv[m]
    m = live & (q_d != 0) & bond
    if m.any():
        vna = np.full(m.sum(), np.nan)
        nb = itype[m] == "NTNB"
        if nb.any():
            vna[nb] = mkt.vna(r_d[m][nb])
        dv01_unit[m] = _bond_values(itype[m], mat[m], r_d[m], rate_d[m], vna, "dv01")
    dv01 = np.where(live, -q_d * cs * dv01_unit, 0.0)

    exposure = q_d * x_d * cs  # price-point exposure in the instrument's currency
    signed = np.where(fut, exposure * conv, exposure * fx_d)
    signed = np.where(is_ndf, q_d * cs * np.nan_to_num(spot), signed)
    signed = np.where(live, signed, 0.0)
    fx_delta = np.zeros(n)
    m = _isin(itype, {"DOL", "WDO"})
    fx_delta[m] = (q_d * cs * 1000.0)[m]
    fx_delta[is_ndf] = (q_d * cs)[is_ndf]
    fx_delta[is_ddi] = exposure[is_ddi]
    fx_delta[usd_cash] = exposure[usd_cash]
    fx_delta = np.where(live, fx_delta, 0.0)
    eq_delta = np.zeros(n)
    m = _isin(itype, {"IND", "WIN"}) | ((itype == "EQUITY") & ~usd_cash)
    eq_delta[m] = (exposure * fx_d)[m]
    eq_delta = np.where(live, eq_delta, 0.0)

    final = _positions(trades, scanned)
    f_row = pd.Index(_pairs(final["instrument_id"].to_numpy(),
                            final["strategy_id"].to_numpy())).get_indexer(keys)
    avg_cost = np.where(f_row >= 0, final["avg_cost"].to_numpy(dtype=np.float64)[f_row], np.nan)
    realized_cum = np.nan_to_num(np.where(
        f_row >= 0, final["realized_pnl"].to_numpy(dtype=np.float64)[f_row], np.nan))
    mv = np.where(fut, 0.0, exposure * fx_d)
    ndf_mv = (np.where(q_d != 0, q_d * (x_d - np.nan_to_num(avg_cost)), 0.0) + realized_cum) * cs
    mv = np.where(is_ndf, ndf_mv, mv)
    mv = np.where(live, mv, 0.0)
    fx_rate = np.full(n, np.nan)
    fx_rate[is_ddi] = conv[is_ddi]
    fx_rate[is_ndf] = spot[is_ndf]
    fx_rate[usd_cash] = fx_d[usd_cash]

    # (+ 0.0 turns the −0.0 of "−q × 0" into 0.0)
    dv01, fx_delta, eq_delta, mv = dv01 + 0.0, fx_delta + 0.0, eq_delta + 0.0, mv + 0.0
    pnl = total_c / 100.0
    marks = pd.DataFrame({
        "business_date": [d] * n,
        "instrument_id": iid.astype(str) if n else np.array([], dtype=object),
        "strategy_id": w["strategy_id"].astype(str).to_numpy() if n else np.array([], object),
        "asset_class": w["asset_class"].to_numpy(dtype=object),
        "quantity": q_d,
        "avg_cost": avg_cost,
        "price": x_d,
        "price_date": _pydates(r_d),
        "is_stale": stale,
        "staleness_bd": age.astype(np.int64),
        "fx_rate": fx_rate,
        "market_value_brl": mv,
        "notional_brl": np.abs(signed),
        "pnl_brl": pnl,
        **{name: c / 100.0 for name, c in zip(PNL_PARTS, parts_c)},
        "pnl_residual_brl": resid_c / 100.0,
        "pnl_bps": pnl / nav_prev * 1e4,
        "dv01_brl": dv01,
        "fx_delta_usd": fx_delta,
        "equity_delta_brl": eq_delta,
    }, columns=MARK_COLUMNS)

    # ------------------------------------------------------------ book
    pnl_c = int(total_c.sum())
    nav_c = int(_cents(nav_prev)) + pnl_c + int(_cents(flow))
    nav = nav_c / 100.0
    gross = float(np.abs(signed).sum())
    cdi_prev = mkt.cdi_rate(_prev_bd(np.array([d64]))[0])
    book = {
        "business_date": d,
        "nav_brl": nav,
        "nav_prev_brl": nav_prev,
        "pnl_brl": pnl_c / 100.0,
        "pnl_bps": pnl_c / 100.0 / nav_prev * 1e4,
        "capital_flow_brl": flow,
        "cdi_rate": cdi_prev,
        "gross_notional_brl": gross,
        "net_notional_brl": float(signed.sum()),
        "leverage": gross / nav if nav > 0 else float("nan"),
        "dv01_brl": float(dv01.sum()),
        "fx_delta_usd": float(fx_delta.sum()),
        "equity_delta_brl": float(eq_delta.sum()),
        "n_positions": int(((q_d != 0) & live).sum()),
        "is_b3_session": bool(inp.is_b3_session),
    }

    # ------------------------------------------------------------ data quality
    st = np.flatnonzero(stale)  # one row per stale instrument, the first in mark order
    st = np.sort(st[np.unique(iid[st], return_index=True)[1]])
    st_ids = marks["instrument_id"].to_numpy()[st]
    dq = pd.DataFrame({
        "business_date": [d] * len(st),
        "step": [STEP] * len(st),
        "instrument_id": st_ids,
        "field": ["price"] * len(st),
        "severity": ["WARNING"] * len(st),
        "message": [
            f"{i}: no price on {d.isoformat()}; marked with the {on.isoformat()} price "
            f"({bd} business day(s) old, policy max_stale_bd={max_stale})"
            for i, on, bd in zip(st_ids, _pydates(r_d[st]), age[st], strict=True)],
    }, columns=DQ_COLUMNS)
    stale_ids = sorted(st_ids.astype(str).tolist())
    metadata = {
        "positions_marked": int(n),
        "total_pnl_brl": pnl_c / 100.0,
        "stale_prices": len(stale_ids),
        "stale_instruments": stale_ids,
    }
    return MtmResult(marks=marks, book=book, dq_issues=dq, metadata=metadata)
