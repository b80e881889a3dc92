"""ANBIMA / Tesouro Nacional methodology shared by the federal bonds (LTN, NTN-F, NTN-B).

* du counts ANBIMA business days in [settlement, cash-flow date) with the calendar in force
  on the settlement date (the count published that day); the exponent n = du/252 is
  truncated to 14 decimals (:func:`~pms_luigi.core.pricing.rounding.year_fraction_252`).
* Coupon dates run back every 6 months from maturity and stay strictly after settlement
  (:func:`coupon_dates`). A flow falling on a holiday is paid the next business day
  (:func:`calendar.following`), which leaves du unchanged, since du counts up to the date.
* Price = Σ_k CF_k/(1 + y)^(n_k), each discounted flow rounded where the bond's rule says
  (NTN-F 9 decimals, NTN-B 10), then truncated (:func:`present_value`).
* A yield is solved from a price by Newton's method on the untruncated sum
  (:func:`solve_yield`).

:class:`BondPricer` holds what the three pricers share over frames: a bond's value depends on
(maturity, settlement date, yield, VNA) only, so each verb prices every distinct combination
once — a handful of bonds and dates — and never loops over positions.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from pms_luigi.core import calendar
from pms_luigi.core.pricing.base import Legs, MarketData, days, distinct_rows, num
from pms_luigi.core.pricing.cash import CashPricer
from pms_luigi.core.pricing.rounding import (
    BP,
    ArrayLike,
    FloatOrArray,
    round_flows,
    scalar_or_array,
    year_fraction_252,
)

__all__ = ["BondPricer", "CouponBondPricer", "cash_flows", "coupon_dates", "present_value",
           "pv01", "solve_yield"]


def _add_months(d: date, months: int) -> date:
    m = d.month - 1 + months
    return d.replace(year=d.year + m // 12, month=m % 12 + 1)


def coupon_dates(settlement: date, maturity: date, months: int = 6) -> list[date]:
    """Unadjusted coupon dates in (settlement, maturity], running back from maturity.

    Dates are anchored on maturity (1 Jan / 1 Jul for NTN-F; the 15th of Feb/Aug or May/Nov
    for NTN-B); each is paid on :func:`calendar.following` of itself.

    Examples:
        An NTN-F 2027 settled on 2024-05-15 has six coupon dates left:

        >>> [d.isoformat() for d in coupon_dates(date(2024, 5, 15), date(2027, 1, 1))]
        ['2024-07-01', '2025-01-01', '2025-07-01', '2026-01-01', '2026-07-01', '2027-01-01']
    """
    out: list[date] = []
    k = 0
    while True:
        d = _add_months(maturity, -months * k)
        if d <= settlement:
            break
        out.append(d)
        k += 1
    return out[::-1]


def cash_flows(settlement: date, maturity: date, coupon: float, final: float
               ) -> tuple[list[date], np.ndarray, np.ndarray]:
    """(payment dates rolled to business days, flows, du from settlement) after settlement.

    Every flow is ``coupon`` except the last, ``final`` (coupon plus principal).

    Raises:
        ValueError: settlement on or after maturity (the bond has no flow left).
    """
    if settlement >= maturity:
        raise ValueError(f"settlement {settlement} is on or after maturity {maturity}")
    dates = coupon_dates(settlement, maturity)
    pay = [calendar.following(d, as_of=settlement) for d in dates]
    cf = np.full(len(dates), coupon, dtype=np.float64)
    cf[-1] = final
    du = np.asarray(calendar.du(np.array(settlement, dtype="datetime64[D]"),
                                np.array(pay, dtype="datetime64[D]"), as_of=settlement),
                    dtype=np.int64)
    return pay, cf, du


def present_value(cf: np.ndarray, du: np.ndarray, rate: ArrayLike,
                  flow_decimals: int | None) -> np.ndarray:
    """Σ_k CF_k/(1 + y)^(n_k), n_k = trunc14(du_k/252), each term rounded when asked.

    Vectorized over ``rate`` (a trailing axis runs over the flows).
    """
    y = np.asarray(rate, dtype=np.float64)[..., None]
    n = np.asarray(year_fraction_252(du), dtype=np.float64)
    pv = cf / np.power(1.0 + y, n)
    if flow_decimals is not None:
        pv = round_flows(pv, flow_decimals)
    return pv.sum(axis=-1)


def pv01(cf: np.ndarray, du: np.ndarray, rate: ArrayLike) -> np.ndarray:
    """PV(y) − PV(y + 1 bp) on the untruncated sum: the DV01 magnitude of the flows."""
    y = np.asarray(rate, dtype=np.float64)
    return present_value(cf, du, y, None) - present_value(cf, du, y + BP, None)


def solve_yield(cf: np.ndarray, du: np.ndarray, target: ArrayLike) -> FloatOrArray:
    """Yield y with Σ CF/(1 + y)^n = target (untruncated): Newton from 10 % to 10⁻¹³."""
    tgt = np.asarray(target, dtype=np.float64)
    n = np.asarray(year_fraction_252(du), dtype=np.float64)
    y = np.full(tgt.shape, 0.10)
    for _ in range(100):
        disc = np.power(1.0 + y[..., None], -n)
        f = (cf * disc).sum(axis=-1) - tgt
        df = -(cf * n * disc / (1.0 + y[..., None])).sum(axis=-1)
        step = f / df
        y = y - step
        if np.all(np.abs(step) < 1e-13):
            break
    return scalar_or_array(y)


#: One bond valuation: (settlement, maturity, rate or price, VNA) -> value.
_BondFormula = Callable[[date, date, float, float], float]


@dataclass(frozen=True)
class BondPricer(CashPricer, ABC):
    """A federal bond over frames: PU, yield and DV01 once per distinct bond and date.

    Subclasses give the three formulas for one bond (:meth:`pu_at`, :meth:`yield_at`,
    :meth:`dv01_at`) and the VNA they need (:meth:`vna`).
    """

    @abstractmethod
    def pu_at(self, settlement: date, maturity: date, rate: float, vna: float) -> float:
        """PU of one bond at ``rate``."""

    @abstractmethod
    def yield_at(self, settlement: date, maturity: date, price: float, vna: float) -> float:
        """Yield implied by one bond's PU."""

    @abstractmethod
    def dv01_at(self, settlement: date, maturity: date, rate: float, vna: float) -> float:
        """DV01 magnitude of one bond, R$ per bp."""

    def vna(self, legs: Legs, market: MarketData) -> np.ndarray:
        """VNA on each row's ``on`` (none: NaN)."""
        return np.full(len(legs), np.nan)

    def rate(self, legs: Legs, market: MarketData) -> np.ndarray:
        """Yield implied by ``price`` on ``on``."""
        return _per_bond(legs, num(legs, "price"), self.vna(legs, market), self.yield_at)

    def price(self, legs: Legs, market: MarketData) -> np.ndarray:
        """ANBIMA PU at ``rate`` on ``on``."""
        return _per_bond(legs, num(legs, "rate"), self.vna(legs, market), self.pu_at)

    def dv01(self, legs: Legs, market: MarketData) -> np.ndarray:
        """DV01 per bond at ``rate`` on ``on`` (R$ per bp, magnitude)."""
        return _per_bond(legs, num(legs, "rate"), self.vna(legs, market), self.dv01_at)


@dataclass(frozen=True)
class CouponBondPricer(BondPricer):
    """A bond paying semiannual coupons (NTN-F, NTN-B): the coupon cash of the day is carry."""

    @abstractmethod
    def coupon(self, legs: Legs, market: MarketData) -> float:
        """Cash of one coupon per bond paid on D."""

    def coupons(self, legs: Legs, market: MarketData) -> np.ndarray:
        """Coupon cash per bond paid in (P, D] to the holders at P.

        The bond trades ex-coupon on the payment date, so the coupon is cash of the day for
        q_P. The maturity flow is the final settlement, not a coupon; a coupon date on a
        holiday is paid on the next business day. None on the fund's first day.
        """
        out = np.zeros(len(legs))
        prev, on_d = days(legs, "prev_date"), days(legs, "date")
        mat = days(legs, "maturity")
        held = num(legs, "prev_quantity") != 0
        if not held.any() or np.isnat(prev[0]):
            return out
        p_date, d_date = prev[0].item(), on_d[0].item()
        for mat64 in np.unique(mat[held]):
            maturity = pd.Timestamp(mat64).date()
            paid = [c for c in coupon_dates(p_date, maturity)
                    if c < maturity and p_date < calendar.following(c, as_of=d_date) <= d_date]
            if paid:
                out[held & (mat == mat64)] = self.coupon(legs, market) * len(paid)
        return out


def _per_bond(legs: Legs, values: np.ndarray, vna: np.ndarray,
              formula: _BondFormula) -> np.ndarray:
    """``formula`` of each row's (on, maturity, value, VNA), evaluated once per distinct one."""
    if len(legs) == 0:
        return np.zeros(0)
    on, mat = days(legs, "on"), days(legs, "maturity")
    codes, first = distinct_rows(mat, on, values, vna)
    vals = np.empty(len(first))
    uniq = zip(on[first], mat[first], values[first], vna[first], strict=True)
    for k, (s, m, x, v) in enumerate(uniq):
        vals[k] = formula(pd.Timestamp(s).date(), pd.Timestamp(m).date(), x, v)
    return vals[codes]
