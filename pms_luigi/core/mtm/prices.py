"""Market data of the mark: D's price per position, its staleness, and the fixings.

The mark for D is the ``market_prices`` row of D. On an ANBIMA day that is not a B3 session,
every ``exchange == 'B3'`` instrument keeps yesterday's mark (the last session's price, its
date and staleness): its price date does not move, so its correction factor is 1 and its
exchange P&L exactly zero. A contract maturing in (P, D] is marked at its final settlement
(:meth:`~pms_luigi.core.pricing.base.Pricer.settlement_price` where the contract fixes it).

Missing prices: with ``max_stale_bd == 0`` :class:`MissingPrice` names every instrument
without a price on D; otherwise the last price up to N business days old is used (age in B3
sessions for B3 instruments, ANBIMA days otherwise) and flagged stale; older than N →
MissingPrice. Never the entry price. A stale futures mark shows zero P&L, and the next fresh
price catches up every missed fixing (its correction factor runs between the price dates).

:class:`Fixings` serves PTAX, the fund's FX fixing, DI fixings and the NTN-B VNA by date and
raises the library's ``Missing*`` error naming the first missing date.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

import numpy as np
import pandas as pd

from pms_luigi.core import calendar
from pms_luigi.core.errors import (
    InvalidInput,
    MissingCdi,
    MissingFxFixing,
    MissingPrice,
    MissingVna,
)
from pms_luigi.core.frames import require, to_days
from pms_luigi.core.mtm.model import FX_PAIR, NAT, PTAX, day_numbers, num
from pms_luigi.core.pricing import Pricer
from pms_luigi.core.pricing.base import Legs

__all__ = ["Fixings", "PriceHistory", "TodaysPrices", "fixings", "mark_window_start",
           "price_history", "todays_prices"]


def _series(values: np.ndarray, dates: pd.Series) -> pd.Series:
    """Values by day number, the last row of a duplicated day winning."""
    s = pd.Series(values, index=day_numbers(to_days(dates)))
    return s[~s.index.duplicated(keep="last")]


@dataclass(frozen=True)
class Fixings:
    """PTAX, the fund's FX fixing, DI and VNA by day (implements ``pricing.MarketData``)."""

    fx_kind: str
    ptax_by_day: pd.Series
    fx_by_day: pd.Series
    cdi_by_day: pd.Series
    vna_by_day: pd.Series

    def _fixing(self, series: pd.Series, days: np.ndarray, kind: str) -> np.ndarray:
        days = np.asarray(days, dtype="datetime64[D]")
        out = series.reindex(day_numbers(days)).to_numpy(dtype=np.float64)
        if np.isnan(out).any():
            raise MissingFxFixing(FX_PAIR, kind, np.sort(days[np.isnan(out)])[0].item())
        return out

    def ptax(self, days: np.ndarray) -> np.ndarray:
        """PTAX USDBRL of each day (MissingFxFixing names the first missing day)."""
        return self._fixing(self.ptax_by_day, days, PTAX)

    def fx(self, days: np.ndarray) -> np.ndarray:
        """The fund's USDBRL fixing (``fx_kind``) of each day."""
        return self._fixing(self.fx_by_day, days, self.fx_kind)

    def di_fixings(self, start: np.datetime64, end: np.datetime64) -> np.ndarray:
        """DI fixings of every ANBIMA business day in [start, end) (MissingCdi)."""
        days = np.arange(start, end, dtype="datetime64[D]")
        days = days[np.is_busday(days, busdaycal=calendar.ANBIMA)]
        rates = self.cdi_by_day.reindex(day_numbers(days))
        if rates.isna().any():
            raise MissingCdi(days[rates.isna().to_numpy()][0].item())
        return rates.to_numpy()

    def cdi_rate(self, day: np.datetime64) -> float | None:
        """The DI fixing of ``day``, None when absent."""
        v = self.cdi_by_day.get(int(day_numbers(day)))
        return None if v is None else float(v)

    def vna(self, days: np.ndarray) -> np.ndarray:
        """NTN-B VNA of each day (MissingVna names the first missing day)."""
        days = np.asarray(days, dtype="datetime64[D]")
        out = self.vna_or_nan(days)
        if np.isnan(out).any():
            raise MissingVna("NTNB", np.sort(days[np.isnan(out)])[0].item())
        return out

    def vna_or_nan(self, days: np.ndarray) -> np.ndarray:
        """NTN-B VNA of each day, NaN where none is published."""
        return self.vna_by_day.reindex(day_numbers(days)).to_numpy(dtype=np.float64)


def fixings(fx: pd.DataFrame, cdi: pd.DataFrame, vna: pd.DataFrame, fx_kind: str) -> Fixings:
    """:class:`Fixings` from the fx_fixings, cdi_fixings and vna rows.

    Raises:
        InvalidInput: a non-empty table lacks a column the lookups read.
    """
    empty = pd.Series(dtype=float)
    by_kind = {PTAX: empty, fx_kind: empty}
    if len(fx):
        require(fx, ["fixing_date", "pair", "kind", "rate"], "fx_fixings")
        f = fx.loc[fx["pair"].astype(str) == FX_PAIR]
        kinds = f["kind"].astype(str)
        for kind in by_kind:
            g = f.loc[kinds == kind]
            by_kind[kind] = _series(num(g, "rate"), g["fixing_date"])
    cdi_s = vna_s = empty
    if len(cdi):
        require(cdi, ["fixing_date", "rate"], "cdi_fixings")
        cdi_s = _series(num(cdi, "rate"), cdi["fixing_date"])
    if len(vna):
        require(vna, ["ref_date", "index_name", "value"], "vna")
        v = vna.loc[vna["index_name"].astype(str) == "NTNB"]
        vna_s = _series(num(v, "value"), v["ref_date"])
    return Fixings(fx_kind, by_kind[PTAX], by_kind[fx_kind], cdi_s, vna_s)


@dataclass(frozen=True)
class PriceHistory:
    """``market_prices`` rows dated ≤ D as numpy columns sorted by (instrument, price date).

    Input order is kept among equal pairs (a stable sort: the rows' order decides which
    duplicate wins). ``ids`` are the distinct instrument_ids in sorted order, ``code`` each
    row's index into ``ids``; integer keys rather than a MultiIndex, since the window holds a
    year of rows. ``keys`` / ``rates`` hold the last row of each (instrument, day).
    """

    ids: np.ndarray
    code: np.ndarray
    pdate: np.ndarray
    price: np.ndarray
    keys: np.ndarray
    rates: np.ndarray

    def latest(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(price, price date) of each id's latest row (the last of its run); NaN/NaT if none."""
        price, pdate = np.full(len(ids), np.nan), np.full(len(ids), NAT)
        pos = pd.Index(self.ids).get_indexer(ids)
        found = pos >= 0
        if found.any():
            ends = np.flatnonzero(np.r_[self.code[1:] != self.code[:-1], True])  # per id
            rows = ends[pos[found]]
            price[found], pdate[found] = self.price[rows], self.pdate[rows]
        return price, pdate

    def rate_at(self, iid: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Published rate of each (instrument, date) pair; NaN when absent."""
        out = np.full(len(iid), np.nan)
        if not len(self.keys) or not len(iid):
            return out
        code = pd.Index(self.ids).get_indexer(np.asarray(iid, dtype=object))
        q = _key(code, days)
        at = np.minimum(np.searchsorted(self.keys, q), len(self.keys) - 1)
        hit = (code >= 0) & ~np.isnat(np.asarray(days, dtype="datetime64[D]")) \
            & (self.keys[at] == q)
        out[hit] = self.rates[at[hit]]
        return out


def _key(code: np.ndarray, days: np.ndarray) -> np.ndarray:
    """(instrument, day) as one int64 ordered like the rows (day numbers fit in 32 bits)."""
    return code.astype(np.int64) * 2**32 + (day_numbers(days) + 2**31)


def price_history(prices: pd.DataFrame | None, d64: np.datetime64) -> PriceHistory:
    """Validated ``market_prices`` rows dated ≤ D.

    Every row of the window is checked, used by this mark or not: price > 0 and a rate,
    when published, in (−0.5, 1) — rates are decimals.

    Raises:
        InvalidInput: a missing column, a non-positive price or a rate given in percent.
    """
    if prices is None or len(prices) == 0:
        empty = np.zeros(0)
        return PriceHistory(np.array([], dtype=object), np.zeros(0, dtype=np.int64),
                            np.array([], dtype="datetime64[D]"), empty,
                            np.zeros(0, dtype=np.int64), empty)
    require(prices, ["price_date", "instrument_id", "price"], "market_prices")
    pdate = to_days(prices["price_date"])
    keep = pdate <= d64
    iid = prices["instrument_id"].astype(str).to_numpy(dtype=object)[keep]
    pdate, price = pdate[keep], num(prices, "price")[keep]
    rate = (num(prices, "rate")[keep] if "rate" in prices.columns
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
    code, pdate, price, rate = code[order].astype(np.int64), pdate[order], price[order], \
        rate[order]
    keys = _key(code, pdate)
    last = np.r_[keys[1:] != keys[:-1], True] if len(keys) else np.zeros(0, dtype=bool)
    return PriceHistory(np.asarray(ids, dtype=object), code, pdate, price, keys[last],
                        rate[last])


def mark_window_start(d: date, prev_price_dates: np.ndarray, max_stale_bd: int) -> date:
    """The first price date D's marks can read: where ``MtmInputs.prices`` may start.

    A price is usable while at most ``max_stale_bd`` business days passed since it (B3
    sessions for a B3 instrument, ANBIMA days otherwise: :func:`todays_prices`). The
    (max_stale_bd + 1)-th business day before D, in the calendar that reaches further back,
    is the oldest usable date: a price dated before it has at least max_stale_bd + 1
    business days after it in either calendar. The previous marks' price dates are kept
    too (the published rate behind the carry split). A window from here marks D exactly as
    a year of prices does: the older rows are never read.

    Examples:
        Monday 2025-06-02 with no staleness allowed: the Friday before is the oldest usable
        price; a previous mark priced on 2025-05-20 widens the window to it.

        >>> mark_window_start(date(2025, 6, 2), np.array([], "datetime64[D]"), 0)
        datetime.date(2025, 5, 30)
        >>> mark_window_start(date(2025, 6, 2), np.array(["2025-05-20"], "datetime64[D]"), 0)
        datetime.date(2025, 5, 20)
    """
    d64, back = np.datetime64(d, "D"), -(int(max_stale_bd) + 1)
    start = min(np.busday_offset(d64, back, roll="forward", busdaycal=cal)
                for cal in (calendar.ANBIMA, calendar.B3))
    prev = np.asarray(prev_price_dates, dtype="datetime64[D]")
    prev = prev[~np.isnat(prev)]
    return (min(start, prev.min()) if len(prev) else start).item()


class TodaysPrices(NamedTuple):
    """D's mark per position: price, its date, and whether (and how long) it is stale."""

    price: np.ndarray
    on: np.ndarray
    stale: np.ndarray
    age: np.ndarray


def todays_prices(w: pd.DataFrame, groups: list[tuple[Pricer, np.ndarray]],
                  history: PriceHistory, market: Fixings, d: date, p64: np.datetime64 | None,
                  is_b3_session: bool, max_stale: int) -> TodaysPrices:
    """D's mark of every position of the universe ``w`` (see the module docstring).

    Args:
        w: the universe (:func:`~pms_luigi.core.mtm.ledger.universe`) with ``settling``.
        groups: (pricer, rows of ``w``) per instrument type.
        history: :func:`price_history`; market: :func:`fixings`.
        d: D; p64: P (None on the first day); is_b3_session: whether D is one.
        max_stale: business days a price may be old before it is missing.

    Raises:
        MissingPrice: every instrument without a usable price, in one error.
        MissingFxFixing / MissingVna: a final settlement's fixing is missing.
        InvalidInput: a held position's price date went back before P's mark.
    """
    n, d64 = len(w), np.datetime64(d, "D")
    x_p = w["x_p"].to_numpy(dtype=np.float64)
    r_p = w["r_p"].to_numpy().astype("datetime64[D]") if n else np.array([], "datetime64[D]")
    held = w["q_p"].to_numpy(dtype=np.float64) != 0
    derived = np.zeros(n, dtype=bool)
    for pricer, rows in groups:
        derived[rows] = pricer.terms.final_from_terms
    derived &= w["settling"].to_numpy(dtype=bool)
    carried = ~derived & (not is_b3_session) & (w["exchange"].to_numpy(dtype=object) == "B3") \
        & held
    out = TodaysPrices(np.full(n, np.nan), np.full(n, NAT), np.zeros(n, dtype=bool),
                       np.zeros(n, dtype=np.int64))
    out.price[carried], out.on[carried] = x_p[carried], r_p[carried]
    out.stale[carried] = w["prev_stale"].to_numpy()[carried].astype(bool)
    out.age[carried] = w["prev_age"].to_numpy()[carried].astype(np.int64)
    resolve = ~derived & ~carried
    if resolve.any():
        _latest_usable(out, resolve, w, history, d, max_stale)
    if derived.any():
        out.on[derived] = d64
        _final_settlements(out.price, derived, w, groups, market, d64)
    back = held & (out.on < r_p)
    if n and back.any():
        k = int(np.flatnonzero(back)[0])
        iid = w["instrument_id"].to_numpy(dtype=object)
        raise InvalidInput(f"{iid[k]}: the price for {d} ({out.on[k]}) is older than the "
                           f"previous mark's ({r_p[k]})", table="market_prices", row=iid[k],
                           field="price_date")
    return out


def _latest_usable(out: TodaysPrices, resolve: np.ndarray, w: pd.DataFrame,
                   history: PriceHistory, d: date, max_stale: int) -> None:
    """Fill ``resolve`` rows of ``out`` with each instrument's latest price up to
    ``max_stale`` business days old (sessions for B3 instruments), flagging its age."""
    d64 = np.datetime64(d, "D")
    iid = w["instrument_id"].to_numpy(dtype=object)
    need_ids, first = np.unique(iid[resolve], return_index=True)
    lp, ld = history.latest(need_ids)
    is_b3 = w["exchange"].to_numpy(dtype=object)[resolve][first] == "B3"
    age = np.full(len(need_ids), np.iinfo(np.int64).max)
    ok = ~np.isnat(ld)
    if ok.any():
        nxt, end = ld[ok] + 1, np.full(ok.sum(), d64 + 1)
        age[ok] = np.where(is_b3[ok], np.busday_count(nxt, end, busdaycal=calendar.B3),
                           np.busday_count(nxt, end, busdaycal=calendar.ANBIMA))
    unusable = age > max_stale
    if unusable.any():
        field = "price" if max_stale == 0 else f"price within {max_stale} business days"
        raise MissingPrice([str(x) for x in need_ids[unusable]], d, field=field)
    j = pd.Series(np.arange(len(need_ids)), index=need_ids).reindex(iid[resolve]) \
        .to_numpy(dtype=np.int64)
    out.price[resolve], out.on[resolve] = lp[j], ld[j]
    out.age[resolve] = age[j]
    out.stale[resolve] = age[j] > 0


def _final_settlements(price: np.ndarray, derived: np.ndarray, w: pd.DataFrame,
                       groups: list[tuple[Pricer, np.ndarray]], market: Fixings,
                       d64: np.datetime64) -> None:
    """Write each settling contract's final price fixed by its terms into ``price``."""
    mat = w["mat"].to_numpy().astype("datetime64[D]")
    for pricer, rows in groups:
        rows = rows[derived[rows]]
        if len(rows):
            legs = Legs({"maturity": mat[rows], "date": np.full(len(rows), d64)})
            price[rows] = pricer.settlement_price(legs, market)
