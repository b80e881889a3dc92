"""Daily risk-factor changes from stored market data: the scenarios of the historical VaR.

Point in time: only rows dated on or before the business date are read. Curves are rebuilt
each day at constant maturity (the :data:`~pms_luigi.core.risk.factors.VERTICES`) from the
contracts' rates; USDBRL from one kind of fixing; IBOV from the front index future, same
contract on both days.

The work is split so that a caller computing date after date can keep what does not change
(:class:`~pms_luigi.core.risk.window.FactorHistory`): the rows (:class:`PriceRows`), joined
to their instruments (:class:`History`), give per-date levels (:class:`Levels`: a curve's
vertex rates depend on that date's knots only, an IBOV return on that date's and the
previous index-futures date's prices), and :func:`changes_from` turns the levels of a
window into the changes frame. Names without a leading underscore are shared with
:mod:`.window`; the package's API is what ``pms_luigi.core.risk`` re-exports.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np
import pandas as pd

from pms_luigi.core import calendar
from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.frames import as_date, require, to_days
from pms_luigi.core.risk.factors import (
    CURVE_SOURCE_TYPES,
    EQUITY_FACTOR,
    EQUITY_INDEX_TYPES,
    FX_FACTOR,
    RATE_FAMILIES,
    VERTICES,
    instrument_index,
    rate_factor,
)

_NAT: Final = np.datetime64("NaT", "D")
#: The instrument columns the prices are joined on.
INSTRUMENT_COLUMNS: Final = ("instrument_id", "instrument_type", "maturity_date")
_KEY_STRIDE: Final = 1_000_000  # > any du: composite (date, du) sort key for interpolation


@dataclass(frozen=True)
class PriceRows:
    """``market_prices`` rows as aligned numpy columns, in the input's row order.

    ``when`` keeps the ``price_date`` values as given, so a later input can be compared with
    these rows value for value without converting its dates again.
    """

    when: np.ndarray  # object: price_date as given
    day: np.ndarray  # datetime64[D]
    iid: np.ndarray  # object
    price: np.ndarray  # float64
    rate: np.ndarray  # float64, NaN when not published

    @classmethod
    def of(cls, history: pd.DataFrame) -> PriceRows:
        """Every row of ``history`` (price_date, instrument_id, price, rate)."""
        return cls(when=history["price_date"].to_numpy(dtype=object),
                   day=to_days(history["price_date"]),
                   iid=history["instrument_id"].to_numpy(dtype=object),
                   price=history["price"].to_numpy(dtype=float),
                   rate=pd.to_numeric(history["rate"], errors="coerce").to_numpy(dtype=float))

    def take(self, rows: np.ndarray | slice) -> PriceRows:
        """The rows selected by ``rows`` (positions, a mask or a slice)."""
        return PriceRows(self.when[rows], self.day[rows], self.iid[rows], self.price[rows],
                         self.rate[rows])

    def then(self, later: PriceRows) -> PriceRows:
        """These rows followed by ``later``'s."""
        return PriceRows(*(np.concatenate([a, b]) for a, b in
                           zip(self.columns(), later.columns(), strict=True)))

    def columns(self) -> tuple[np.ndarray, ...]:
        return (self.when, self.day, self.iid, self.price, self.rate)


@dataclass(frozen=True)
class History:
    """``market_prices`` rows dated ≤ ``on`` joined to their instrument (rows of unknown
    instruments dropped), as aligned numpy columns in the input's row order."""

    day: np.ndarray  # datetime64[D]
    iid: np.ndarray  # object
    itype: np.ndarray  # object
    mat: np.ndarray  # datetime64[D], NaT without maturity
    price: np.ndarray  # float64
    rate: np.ndarray  # float64, NaN when not published

    def take(self, rows: np.ndarray | slice) -> History:
        """The rows selected by ``rows`` (positions, a mask or a slice)."""
        return History(self.day[rows], self.iid[rows], self.itype[rows], self.mat[rows],
                       self.price[rows], self.rate[rows])

    def then(self, later: History) -> History:
        """These rows followed by ``later``'s."""
        return History(*(np.concatenate([getattr(self, f), getattr(later, f)])
                         for f in ("day", "iid", "itype", "mat", "price", "rate")))


@dataclass(frozen=True)
class Instruments:
    """The instrument master as prices are joined on it, its columns converted once.

    ``given`` keeps instrument_id, instrument_type and maturity_date as given, so a caller
    carrying a window can tell whether the next date's master is the same (:meth:`same`).
    """

    given: tuple[np.ndarray, np.ndarray, np.ndarray]
    mat: np.ndarray  # datetime64[D], NaT without maturity

    @classmethod
    def of(cls, instruments: pd.DataFrame) -> Instruments:
        given = tuple(instruments[c].to_numpy(dtype=object) for c in INSTRUMENT_COLUMNS)
        return cls((given[0], given[1], given[2]), to_days(instruments["maturity_date"]))

    def same(self, instruments: pd.DataFrame) -> bool:
        """``instruments`` holds the same rows, value for value and in the same order."""
        return len(instruments) == len(self.mat) and all(
            np.array_equal(instruments[c].to_numpy(dtype=object), held)
            for c, held in zip(INSTRUMENT_COLUMNS, self.given, strict=True))


def history_upto(rows: PriceRows, instruments: Instruments, on_d: np.datetime64) -> History:
    """Point-in-time ``rows`` (dated ≤ ``on``) joined to ``instruments``; a (price_date,
    instrument_id) pair twice is an error (which row would be the level?)."""
    keep = np.flatnonzero(rows.day <= on_d)
    ids, days = rows.iid[keep], rows.day[keep]
    codes = pd.factorize(ids)[0].astype(np.int64)
    pair = days.astype(np.int64) * (int(codes.max(initial=0)) + 1) + codes
    dup = np.ones(len(pair), dtype=bool)
    dup[np.unique(pair, return_index=True)[1]] = False
    if dup.any():
        k = keep[np.flatnonzero(dup)[0]]
        when, iid = rows.when[k], rows.iid[k]
        raise InvalidInput(f"duplicate market_prices row for {iid} on {when}",
                           table="market_prices", row=(when, iid), field="price_date")
    pos = instrument_index(instruments.given[0]).get_indexer(ids)
    ok = pos >= 0
    pos, keep = pos[ok], keep[ok]
    return History(day=days[ok], iid=ids[ok], itype=instruments.given[1][pos],
                   mat=instruments.mat[pos], price=rows.price[keep], rate=rows.rate[keep])


def _interpolate_levels(d: np.ndarray, du: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Vertex rates from knots (date, du > 0, rate): one row per distinct date of ``d``,
    ascending; columns :data:`VERTICES`.

    Flat-forward on 252 between knots (the ANBIMA/B3 convention for the DI curve): the
    log-discount y(du) = ln(1+r)·du/252 is linear in du, so r_v = exp(y_v·252/v) − 1; held
    flat outside the first and last knot. Knots sharing (date, du) are averaged. Each date
    depends on its own knots only; vectorized over all dates with a composite (date, du)
    sort key.
    """
    order = np.lexsort((du, d))
    kd, kdu, kr = d[order], du[order].astype(np.int64), r[order].astype(float)
    if ((kd[1:] == kd[:-1]) & (kdu[1:] == kdu[:-1])).any():  # shared knots: pandas' mean
        k = pd.DataFrame({"d": d, "du": du, "r": r}).groupby(["d", "du"], as_index=False)["r"]\
            .mean()
        kd, kdu, kr = k["d"].to_numpy(), k["du"].to_numpy(dtype=np.int64), k["r"].to_numpy(float)
    dates, d_idx = np.unique(kd, return_inverse=True)
    ky = np.log1p(kr) * kdu / 252.0
    keys = d_idx.astype(np.int64) * _KEY_STRIDE + kdu  # already sorted by (d, du)
    n, nv = len(keys), len(VERTICES)
    qd = np.repeat(np.arange(len(dates), dtype=np.int64), nv)
    qv = np.tile(np.asarray(VERTICES, dtype=np.int64), len(dates))
    pos = np.searchsorted(keys, qd * _KEY_STRIDE + qv, side="left")
    right, left = np.clip(pos, 0, n - 1), np.clip(pos - 1, 0, n - 1)
    right_ok = (pos < n) & (d_idx[right] == qd)
    left_ok = (pos > 0) & (d_idx[left] == qd)
    exact = right_ok & (kdu[right] == qv)
    both = right_ok & left_ok & ~exact
    w = np.where(both, (qv - kdu[left]) / np.where(both, kdu[right] - kdu[left], 1), 0.0)
    r_interp = np.expm1((ky[left] + w * (ky[right] - ky[left])) * 252.0 / qv)
    lvl = np.select([exact, both, right_ok, left_ok],
                    [kr[right], r_interp, kr[right], kr[left]], np.nan)
    return lvl.reshape(len(dates), nv)


def _curve_knots(h: History, family: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(date, du, rate) knots of one curve family, by date (rows of a date in input order).

    Each contract's ``rate`` at its du = calendar.du(price_date, maturity_date,
    as_of=price_date) > 0 (the count of that date); a DI1
    row without a rate uses r = (100000/PU)^(252/du) − 1 (B3's DI1 rate from the settlement
    PU). Rows with du ≤ 0 or a rate that is not finite and > −100% are dropped.
    """
    src = np.isin(h.itype, CURVE_SOURCE_TYPES[family]) & ~np.isnat(h.mat)
    d, rate, price = h.day[src], h.rate[src], h.price[src]
    du = np.asarray(calendar.du(d, h.mat[src], as_of=d), dtype=np.int64)
    if family == "DI":
        fill = np.isnan(rate) & (du > 0) & (price > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            derived = (100000.0 / price) ** (252.0 / np.where(du > 0, du, 1)) - 1.0
        rate = np.where(fill, derived, rate)
    ok = (du > 0) & np.isfinite(rate) & (rate > -1.0)
    order = np.flatnonzero(ok)[np.argsort(d[ok], kind="stable")]
    return d[order], du[order], rate[order]


def _curve_levels(h: History, family: str) -> tuple[np.ndarray, np.ndarray]:
    """(dates, levels): constant-maturity vertex rates of one curve family on every date with
    at least one knot (levels[i] = the :data:`VERTICES` rates of dates[i]), interpolated by
    :func:`_interpolate_levels`."""
    d, du, rate = _curve_knots(h, family)
    if not len(d):
        return np.array([], dtype="datetime64[D]"), np.empty((0, len(VERTICES)))
    return np.unique(d), _interpolate_levels(d, du, rate)


def equity_returns(h: History) -> tuple[np.ndarray, np.ndarray]:
    """(dates, returns): IBOV daily relative changes from IND/WIN settlements, free of rolls.

    On each date t the front contract (nearest maturity after t, IND before WIN, then by
    instrument_id) that also has a price on the previous index-futures date gives
    r_t = P_t/P_{t−1} − 1 of that same contract. Dates: every index-futures date (NaN where
    no contract qualifies, and on the first).
    """
    x = np.flatnonzero(np.isin(h.itype, EQUITY_INDEX_TYPES) & ~np.isnat(h.mat))
    if not len(x):
        return np.array([], dtype="datetime64[D]"), np.array([], dtype=float)
    codes = np.unique(h.iid[x], return_inverse=True)[1]  # instrument_id order
    order = np.lexsort((h.day[x], codes))  # by (instrument_id, date)
    x, codes = x[order], codes[order]
    d, mat, p = h.day[x], h.mat[x], h.price[x]
    cont = np.r_[False, codes[1:] == codes[:-1]]  # same contract as the row before
    prev_p = np.where(cont, np.r_[np.nan, p[:-1]], np.nan)
    prev_d = np.where(cont, np.r_[_NAT, d[:-1]], _NAT)
    all_d = np.unique(d)
    prev_global = np.r_[_NAT, all_d[:-1]][np.searchsorted(all_d, d)]
    ok = np.flatnonzero((mat > d) & ~np.isnan(prev_p) & (prev_d == prev_global))
    rank = pd.Index(EQUITY_INDEX_TYPES).get_indexer(h.itype[x[ok]])
    ok = ok[np.lexsort((rank, mat[ok], d[ok]))]  # stable: ties keep instrument_id order
    pick = ok[np.unique(d[ok], return_index=True)[1]]
    out = np.full(len(all_d), np.nan)
    out[np.searchsorted(all_d, d[pick])] = p[pick] / prev_p[pick] - 1.0
    return all_d, out


def _align(obs_change: np.ndarray, obs_days: np.ndarray, axis: np.ndarray,
           max_fill: int) -> np.ndarray:
    """Place factor changes observed on ``obs_days`` (rows of ``obs_change``, one column per
    factor sharing those dates) on the common axis.

    A change observed at t covers [previous own observation, t]. Axis dates without an own
    observation get 0 (no market move: e.g. Dec 24, an ANBIMA day without a B3 session) when
    at most ``max_fill`` rows follow the last observation; a change whose own gap spans more
    than ``max_fill`` axis rows, and the rows after, are NaN (missing data → scenario
    dropped).
    """
    out = np.full((len(axis), obs_change.shape[1]), np.nan)
    if not len(obs_days):
        return out
    pos = np.searchsorted(axis, obs_days)
    chg = obs_change.copy()
    gap = np.diff(pos, prepend=-10**9) - 1
    chg[gap > max_fill] = np.nan
    is_obs = np.zeros(len(axis), dtype=bool)
    is_obs[pos] = True
    last = np.maximum.accumulate(np.where(is_obs, np.arange(len(axis)), -1))
    since = np.arange(len(axis)) - last
    out[(last >= 0) & ~is_obs & (since <= max_fill)] = 0.0
    out[pos] = chg
    return out


def usd_levels(fx_history: pd.DataFrame, fx_kind: str,
               on_d: np.datetime64) -> tuple[np.ndarray, np.ndarray]:
    """(dates, rates) of the USDBRL ``fx_kind`` fixings dated ≤ ``on``, ascending; one per
    date (a date twice is an error)."""
    pick = (fx_history["pair"].to_numpy(dtype=object) == FX_FACTOR) \
        & (fx_history["kind"].to_numpy(dtype=object) == fx_kind)
    days = to_days(fx_history["fixing_date"].to_numpy()[pick])
    keep = days <= on_d
    order = np.argsort(days[keep], kind="stable")
    days, rates = days[keep][order], fx_history["rate"].to_numpy(dtype=float)[pick][keep][order]
    if (np.diff(days) == np.timedelta64(0, "D")).any():
        raise InvalidInput(f"duplicate fx_fixings {FX_FACTOR} {fx_kind} rows",
                           table="fx_fixings", field="fixing_date")
    return days, rates


@dataclass(frozen=True)
class Levels:
    """Per-date levels of the price-based factors: what their changes are computed from.

    ``curves``: per :data:`RATE_FAMILIES` family, (dates with a knot, vertex rates — one row
    per date). ``ibov``: (index-futures dates, the IBOV return of each against the previous
    index-futures date of the rows; NaN on the first). Each entry depends on its own date's
    rows only (an IBOV return also on the previous index-futures date's), which is what lets
    :class:`~pms_luigi.core.risk.window.FactorHistory` add a date without redoing the others.
    """

    curves: tuple[tuple[np.ndarray, np.ndarray], ...]
    ibov: tuple[np.ndarray, np.ndarray]

    @classmethod
    def of(cls, h: History, ibov: History | None = None) -> Levels:
        """The levels of the dates of ``h``; IBOV returns from ``ibov`` when given (``h``
        after the rows of the previous index-futures date)."""
        return cls(tuple(_curve_levels(h, fam) for fam in RATE_FAMILIES),
                   equity_returns(h if ibov is None else ibov))

    def since(self, first: np.datetime64) -> Levels:
        """The levels of the dates ≥ ``first``, as rows starting at ``first`` give them: the
        first IBOV date left has no previous index-futures date, so no return."""
        curves = tuple((days[days >= first], lv[days >= first]) for days, lv in self.curves)
        days, ret = self.ibov
        ret = ret[days >= first]
        if len(ret):
            ret = np.r_[np.nan, ret[1:]]
        return Levels(curves, (days[days >= first], ret))

    def then(self, later: Levels) -> Levels:
        """These dates' levels followed by ``later``'s (dates after all of these)."""
        curves = tuple((np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]]))
                       for a, b in zip(self.curves, later.curves, strict=True))
        return Levels(curves, (np.concatenate([self.ibov[0], later.ibov[0]]),
                               np.concatenate([self.ibov[1], later.ibov[1]])))


def changes_from(levels: Levels, usd_days: np.ndarray, usd: np.ndarray,
                 max_fill: int) -> pd.DataFrame:
    """The :func:`factor_changes` frame of the ``levels`` and USDBRL fixings of a window."""
    axis = np.unique(np.concatenate([days for days, _ in levels.curves]
                                    + [usd_days, levels.ibov[0]]))
    names: list[str] = []
    blocks: list[np.ndarray] = []
    for fam, (days, lv) in zip(RATE_FAMILIES, levels.curves, strict=True):
        if len(days):
            names += [rate_factor(fam, v) for v in VERTICES]
            blocks.append(_align(np.diff(lv, axis=0, prepend=np.nan) * 1e4, days, axis,
                                 max_fill))
    if len(usd):
        names.append(FX_FACTOR)
        blocks.append(_align((np.r_[np.nan, usd[1:] / usd[:-1]] - 1.0)[:, None], usd_days,
                             axis, max_fill))
    ibov_days, ibov = levels.ibov
    if len(ibov):
        names.append(EQUITY_FACTOR)
        blocks.append(_align(ibov[:, None], ibov_days, axis, max_fill))
    values = np.hstack(blocks)[1:] if blocks else np.empty((max(len(axis) - 1, 0), 0))
    cols = ~np.isnan(values).all(axis=0)  # a factor with no observed change has no history
    rows = ~np.isnan(values[:, cols]).all(axis=1) if cols.any() else np.ones(len(values), bool)
    return pd.DataFrame(values[rows][:, cols], index=_as_dates(axis[1:][rows]),
                        columns=pd.Index(np.array(names, dtype=object)[cols], dtype="str",
                                         name="factor"))


def check_columns(history: pd.DataFrame, instruments: pd.DataFrame,
                  fx_history: pd.DataFrame) -> None:
    """The columns :func:`factor_changes` reads, each frame named by its table."""
    require(history, ["price_date", "instrument_id", "price", "rate"], "market_prices")
    require(instruments, ["instrument_id", "instrument_type", "maturity_date"], "instruments")
    require(fx_history, ["fixing_date", "pair", "kind", "rate"], "fx_fixings")


def factor_changes(
    history: pd.DataFrame,
    instruments: pd.DataFrame,
    fx_history: pd.DataFrame,
    on: date,
    *,
    fx_kind: str = "CLOSE",
    max_fill: int = 1,
) -> pd.DataFrame:
    """Daily risk-factor changes from stored data dated on or before ``on`` (point in time).

    * ``DI_<v>``: change in bp (Δr × 10⁴) of the DI1 curve at constant du v, the curve
      rebuilt each day from the DI1 contracts' ``market_prices.rate`` by flat-forward-252
      interpolation (flat beyond the first/last contract). ``REAL_<v>`` likewise from NTN-B
      real yields, ``CUPOM_<v>`` from DDI rates (interpolated as quoted, linear-360 rates on
      the du axis: an approximation that only matters for second-order shape effects).
    * ``USDBRL``: relative change S_t/S_{t−1} − 1 of ``fx_fixings`` pair USDBRL, kind
      ``fx_kind`` (CLOSE by default, PTAX on request; kinds are never mixed in one series).
    * ``IBOV``: relative change of the front IND (or WIN) contract, same contract both days
      (no roll jumps).

    The axis is the union of all observation dates ≤ ``on``; see :func:`_align` for dates a
    factor did not trade (zero change up to ``max_fill`` rows, NaN beyond). The first axis
    date (no previous level) is dropped, and so are factors without any observed change.

    Args:
        history: ``market_prices`` rows (price_date, instrument_id, price, rate).
        instruments: the instrument master (instrument_id, instrument_type, maturity_date).
        fx_history: ``fx_fixings`` rows (fixing_date, pair, kind, rate).
        on: the business date; later rows are ignored.
        fx_kind: the USDBRL fixing kind.
        max_fill: axis rows a factor may miss before its change is missing data.

    Returns:
        Wide frame: index ``date`` (``datetime.date``, ascending), one column per factor
        present, in :func:`~pms_luigi.core.risk.factors.all_factors` order.

    Raises:
        InvalidInput: a missing column, a duplicate price or fixing row, an instrument
            listed twice.
    """
    check_columns(history, instruments, fx_history)
    on_d = np.datetime64(as_date(on, "on"), "D")
    h = history_upto(PriceRows.of(history), Instruments.of(instruments), on_d)
    usd_days, usd = usd_levels(fx_history, fx_kind, on_d)
    return changes_from(Levels.of(h), usd_days, usd, max_fill)


def _as_dates(days: np.ndarray) -> pd.Index:
    """A datetime64[D] array as an Index of ``datetime.date`` (the schema's Date type)."""
    return pd.Index(days.astype("datetime64[D]").astype(object), dtype=object, name="date")
