"""Daily risk-factor changes from stored market data: the scenarios of the historical VaR.

Point in time: only rows dated on or before the business date are read. Curves are rebuilt
each day at constant maturity (the :data:`~pms_luigi.core.risk.factors.VERTICES`) from the
contracts' rates; USDBRL from one kind of fixing; IBOV from the front index future, same
contract on both days. :class:`LevelCache` lets a caller that computes many dates (a
backfill) interpolate each date's curve once instead of once per date that reads it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
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
    instrument_rows,
    rate_factor,
)

_NAT: Final = np.datetime64("NaT", "D")
_KEY_STRIDE: Final = 1_000_000  # > any du: composite (date, du) sort key for interpolation


@dataclass
class LevelCache:
    """Curve levels already interpolated, keyed by one date's knots.

    The key is the exact bytes of a date's du and rate arrays in row order. A date's levels
    are a pure function of its knots, so a corrected rate or price, or a contract added or
    removed, is a different key and can never return a stale level: results are identical
    with or without a cache. In a backfill the first date fills the whole window and every
    later date interpolates one new day per curve family instead of the whole window.

    The caller owns it: create one per run (``LevelCache()``) and pass it to every
    :func:`factor_changes` / ``risk_snapshot`` call of that run. Not thread-safe.

    Attributes:
        max_entries: entries kept, oldest dropped first; the default holds three families
            over a ten-year window of business days.
    """

    max_entries: int = 8192
    _levels: dict[bytes, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    def __len__(self) -> int:
        return len(self._levels)

    def get(self, key: bytes) -> np.ndarray | None:
        """The levels stored under ``key``, or None."""
        return self._levels.get(key)

    def put(self, key: bytes, levels: np.ndarray) -> None:
        """Store ``levels`` under ``key``, dropping the oldest entries beyond the bound."""
        self._levels[key] = levels
        for old in list(self._levels)[:max(0, len(self._levels) - self.max_entries)]:
            del self._levels[old]

    def clear(self) -> None:
        """Forget every entry."""
        self._levels.clear()


@dataclass(frozen=True)
class _History:
    """``market_prices`` rows dated ≤ ``on`` joined to their instrument (rows of unknown
    instruments dropped), as aligned numpy columns in the input's row order."""

    day: np.ndarray  # datetime64[D]
    iid: np.ndarray  # object
    itype: np.ndarray  # object
    mat: np.ndarray  # datetime64[D], NaT without maturity
    price: np.ndarray  # float64
    rate: np.ndarray  # float64, NaN when not published


def _history_upto(history: pd.DataFrame, instruments: pd.DataFrame,
                  on_d: np.datetime64) -> _History:
    """Point-in-time rows of ``history`` joined to ``instruments``; a (price_date,
    instrument_id) pair twice is an error (which row would be the level?)."""
    days = to_days(history["price_date"])
    rows = np.flatnonzero(days <= on_d)
    ids = history["instrument_id"].to_numpy(dtype=object)[rows]
    days = days[rows]
    codes = pd.factorize(ids)[0].astype(np.int64)
    pair = days.astype(np.int64) * (int(codes.max(initial=0)) + 1) + codes
    dup = np.ones(len(pair), dtype=bool)
    dup[np.unique(pair, return_index=True)[1]] = False
    if dup.any():
        k = rows[np.flatnonzero(dup)[0]]
        x = history.iloc[k]
        raise InvalidInput(f"duplicate market_prices row for {x['instrument_id']} on "
                           f"{x['price_date']}", table="market_prices",
                           row=(x["price_date"], x["instrument_id"]), field="price_date")
    pos = instrument_rows(instruments, ids)
    ok = pos >= 0
    pos, rows = pos[ok], rows[ok]
    return _History(
        day=days[ok], iid=ids[ok],
        itype=instruments["instrument_type"].to_numpy(dtype=object)[pos],
        mat=to_days(instruments["maturity_date"])[pos],
        price=history["price"].to_numpy(dtype=float)[rows],
        rate=pd.to_numeric(history["rate"], errors="coerce").to_numpy(dtype=float)[rows])


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


def _curve_knots(h: _History, family: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(date, du, rate) knots of one curve family, by date (rows of a date in input order).

    Each contract's ``rate`` at its du = calendar.du(price_date, maturity_date) > 0; a DI1
    row without a rate uses r = (100000/PU)^(252/du) − 1 (B3's DI1 rate from the settlement
    PU). Rows with du ≤ 0 or a rate that is not finite and > −100% are dropped.
    """
    src = np.isin(h.itype, CURVE_SOURCE_TYPES[family]) & ~np.isnat(h.mat)
    d, rate, price = h.day[src], h.rate[src], h.price[src]
    du = np.asarray(calendar.du(d, h.mat[src]), dtype=np.int64)
    if family == "DI":
        fill = np.isnan(rate) & (du > 0) & (price > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            derived = (100000.0 / price) ** (252.0 / np.where(du > 0, du, 1)) - 1.0
        rate = np.where(fill, derived, rate)
    ok = (du > 0) & np.isfinite(rate) & (rate > -1.0)
    order = np.flatnonzero(ok)[np.argsort(d[ok], kind="stable")]
    return d[order], du[order], rate[order]


def _curve_levels(h: _History, family: str,
                  cache: LevelCache | None) -> tuple[np.ndarray, np.ndarray]:
    """(dates, levels): constant-maturity vertex rates of one curve family on every date with
    at least one knot (levels[i] = the :data:`VERTICES` rates of dates[i]), interpolated by
    :func:`_interpolate_levels` — with a ``cache``, only for dates whose knots it lacks."""
    d, du, rate = _curve_knots(h, family)
    dates, first = np.unique(d, return_index=True)
    if not len(dates):
        return dates, np.empty((0, len(VERTICES)))
    if cache is None:
        return dates, _interpolate_levels(d, du, rate)
    bounds = np.r_[first, len(d)]
    keys = [du[a:b].tobytes() + rate[a:b].tobytes() for a, b in pairwise(bounds)]
    levels = [cache.get(key) for key in keys]
    todo = [i for i, lv in enumerate(levels) if lv is None]
    if todo:
        rows = np.isin(d, dates[todo])
        for i, lv in zip(todo, _interpolate_levels(d[rows], du[rows], rate[rows]), strict=True):
            levels[i] = lv
            cache.put(keys[i], lv)
    return dates, np.vstack(levels)


def _equity_returns(h: _History) -> tuple[np.ndarray, np.ndarray]:
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


def _usd_levels(fx_history: pd.DataFrame, fx_kind: str,
                on_d: np.datetime64) -> tuple[np.ndarray, np.ndarray]:
    """(dates, rates) of the USDBRL ``fx_kind`` fixings dated ≤ ``on``, ascending; one per
    date (a date twice is an error)."""
    fx = fx_history
    if len(fx):
        fx = fx[(fx["pair"] == FX_FACTOR) & (fx["kind"] == fx_kind)]
    days = to_days(fx["fixing_date"]) if len(fx) else np.array([], dtype="datetime64[D]")
    keep = days <= on_d
    order = np.argsort(days[keep], kind="stable")
    days, rates = days[keep][order], fx["rate"].to_numpy(dtype=float)[keep][order]
    if (np.diff(days) == np.timedelta64(0, "D")).any():
        raise InvalidInput(f"duplicate fx_fixings {FX_FACTOR} {fx_kind} rows",
                           table="fx_fixings", field="fixing_date")
    return days, rates


def factor_changes(
    history: pd.DataFrame,
    instruments: pd.DataFrame,
    fx_history: pd.DataFrame,
    on: date,
    *,
    fx_kind: str = "CLOSE",
    max_fill: int = 1,
    level_cache: LevelCache | None = None,
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
        level_cache: the caller's :class:`LevelCache`, to interpolate each date's curves once
            per run; None computes every date (same result).

    Returns:
        Wide frame: index ``date`` (``datetime.date``, ascending), one column per factor
        present, in :func:`~pms_luigi.core.risk.factors.all_factors` order.

    Raises:
        InvalidInput: a missing column, a duplicate price or fixing row, an instrument
            listed twice.
    """
    require(history, ["price_date", "instrument_id", "price", "rate"], "market_prices")
    require(instruments, ["instrument_id", "instrument_type", "maturity_date"], "instruments")
    require(fx_history, ["fixing_date", "pair", "kind", "rate"], "fx_fixings")
    on_d = np.datetime64(as_date(on, "on"), "D")
    h = _history_upto(history, instruments, on_d)
    usd_days, usd = _usd_levels(fx_history, fx_kind, on_d)
    curves = {fam: _curve_levels(h, fam, level_cache) for fam in RATE_FAMILIES}
    ibov_days, ibov = _equity_returns(h)
    axis = np.unique(np.concatenate([days for days, _ in curves.values()]
                                    + [usd_days, ibov_days]))
    names: list[str] = []
    blocks: list[np.ndarray] = []
    for fam, (days, levels) in curves.items():
        if len(days):
            names += [rate_factor(fam, v) for v in VERTICES]
            blocks.append(_align(np.diff(levels, axis=0, prepend=np.nan) * 1e4, days, axis,
                                 max_fill))
    if len(usd):
        names.append(FX_FACTOR)
        blocks.append(_align((np.r_[np.nan, usd[1:] / usd[:-1]] - 1.0)[:, None], usd_days,
                             axis, max_fill))
    if len(ibov):
        names.append(EQUITY_FACTOR)
        blocks.append(_align(ibov[:, None], ibov_days, axis, max_fill))
    values = np.hstack(blocks)[1:] if blocks else np.empty((max(len(axis) - 1, 0), 0))
    cols = ~np.isnan(values).all(axis=0)  # a factor with no observed change has no history
    rows = ~np.isnan(values[:, cols]).all(axis=1) if cols.any() else np.ones(len(values), bool)
    return pd.DataFrame(values[rows][:, cols], index=_as_dates(axis[1:][rows]),
                        columns=pd.Index(np.array(names, dtype=object)[cols], dtype="str",
                                         name="factor"))


def _as_dates(days: np.ndarray) -> pd.Index:
    """A datetime64[D] array as an Index of ``datetime.date`` (the schema's Date type)."""
    return pd.Index(days.astype("datetime64[D]").astype(object), dtype=object, name="date")
