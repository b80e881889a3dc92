"""DI1 — B3 One-day Interbank Deposit futures: PU, rate, DV01, DI correction factor.

Contract (B3): 100 000 points at maturity, R$1 per point; quoted as a rate in % a.a.,
exponential on 252 business days; maturity on the first business day of the month.

* PU = 100 000 / (1 + r)^(du/252), du = ANBIMA business days in [date, maturity). Not
  rounded here: B3 publishes the settlement PU with 2 decimals, round at the caller.
* r = (100 000 / PU)^(252/du) − 1.
* DV01 per contract (R$ per bp, magnitude) = (du/252)·PU/(1 + r)·10⁻⁴, the analytic modified
  duration. Buying rate ("tomado") is short PU; a long-PU position loses −N·DV01 for +1 bp.
* Daily settlement of a carried position: (PA_t − PA_{t−1}·FC_t)·N with the DI correction
  factor FC_t = Π(1 + DI_d)^(1/252) over every DI fixing since the previous session — one
  fixing normally, two after Dec 24 / Dec 31, when B3 is closed but the DI accrues.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from pms_luigi.core import calendar
from pms_luigi.core.pricing.base import (
    ContractSpec,
    Legs,
    MarketData,
    Terms,
    days,
    distinct_rows,
    held,
    num,
)
from pms_luigi.core.pricing.futures import FuturesPricer
from pms_luigi.core.pricing.rounding import BP, ArrayLike, FloatOrArray, scalar_or_array, whole_days

__all__ = ["DI1_FACE", "PRICER", "SPEC", "Di1Pricer", "cdi_factor", "di1_dv01", "di1_pu",
           "di1_rate", "di_factors"]

#: DI1 notional at maturity, in points.
DI1_FACE: Final = 100_000.0
SPEC: Final = ContractSpec("DI1", 1.0, "BRL", "% a.a., exponential 252 du", face_points=DI1_FACE,
                           settlement="daily ajuste with DI correction factor, paid on t+1")


def di1_pu(rate: ArrayLike, du: ArrayLike) -> FloatOrArray:
    """DI1 PU = 100 000 / (1 + r)^(du/252), unrounded; du = 0 gives the final 100 000.

    Examples:
        11 % with 1424 du (DI1F30 in the public ``dib3-utils`` example) and 13 % with 252 du:

        >>> round(di1_pu(0.11, 1424), 2), round(di1_pu(0.13, 252), 2)
        (55448.42, 88495.58)
        >>> di1_pu(0.15, 0)
        100000.0
    """
    r = np.asarray(rate, dtype=np.float64)
    d = whole_days(du)
    return scalar_or_array(DI1_FACE / np.power(1.0 + r, d / 252.0))


def di1_rate(pu: ArrayLike, du: ArrayLike) -> FloatOrArray:
    """Rate implied by a DI1 PU: r = (100 000/PU)^(252/du) − 1; NaN where du = 0.

    Examples:
        >>> round(di1_rate(55_448.42, 1424), 6)
        0.11
    """
    p = np.asarray(pu, dtype=np.float64)
    d = whole_days(du).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(d > 0, np.power(DI1_FACE / p, 252.0 / np.where(d > 0, d, 1.0)) - 1.0,
                     np.nan)
    return scalar_or_array(r)


def di1_dv01(rate: ArrayLike, du: ArrayLike) -> FloatOrArray:
    """DV01 of one DI1 contract, R$ per bp, **magnitude**: (du/252)·PU/(1 + r)·10⁻⁴.

    Examples:
        >>> round(di1_dv01(0.13, 252), 4), round(di1_dv01(0.11, 1424), 4)
        (7.8315, 28.2277)
    """
    r = np.asarray(rate, dtype=np.float64)
    d = whole_days(du)
    pu = DI1_FACE / np.power(1.0 + r, d / 252.0)
    return scalar_or_array((d / 252.0) * pu / (1.0 + r) * BP)


def cdi_factor(daily_rates: ArrayLike, *, daily_decimals: int | None = None) -> float:
    """DI correction factor FC = Π_d (1 + DI_d)^(1/252) over the given fixings.

    Pass **every** DI fixing dated in [previous session, t): normally one (DI_{t−1}), two
    after Dec 24 / Dec 31. Rates are annual decimals as published (B3 "Taxa DI", 2 decimals
    in %). The B3 ajuste (PA_{t−1}·FC_t) uses the factor in full precision: float64 keeps it
    within 10⁻¹⁶ relative, far below R$0.0001 on a 100 000 PU. ``daily_decimals=8`` gives
    the CETIP convention of DI-indexed securities (each daily factor rounded to 8 places
    before compounding). An empty sequence gives 1.0.

    Examples:
        CETIP's daily factor of a 13.65 % DI, and two fixings compounding:

        >>> cdi_factor([0.1365], daily_decimals=8)
        1.00050788
        >>> cdi_factor([]), round(cdi_factor([0.149, 0.149]) / cdi_factor([0.149]) ** 2, 12)
        (1.0, 1.0)
    """
    r = np.asarray(daily_rates, dtype=np.float64).ravel()
    daily = np.power(1.0 + r, 1.0 / 252.0)
    if daily_decimals is not None:
        daily = np.round(daily, daily_decimals)
    return float(np.prod(daily))


def di_factors(legs: Legs, market: MarketData) -> np.ndarray:
    """FC over the DI fixings in [prev_on, on) of each held row whose price date advanced;
    1 elsewhere.

    Every fixing between the two price dates, the final settlement included: a stale mark
    catches up every missed fixing with the next fresh price, and a day without a new price
    (no B3 session) has FC = 1. Computed once per distinct (prev_on, on) pair.
    """
    on, prev_on = days(legs, "on"), days(legs, "prev_on")
    out = np.ones(len(legs))
    m = held(legs) & (on > prev_on)
    if m.any():
        codes, first = distinct_rows(prev_on[m], on[m])
        vals = np.array([cdi_factor(market.di_fixings(np.datetime64(a, "D"),
                                                      np.datetime64(b, "D")))
                         for a, b in zip(prev_on[m][first], on[m][first], strict=True)])
        out[m] = vals[codes]
    return out


def _du(legs: Legs) -> np.ndarray:
    """du from each row's price date to maturity, counted with the calendar of that date."""
    on = days(legs, "on")
    return calendar.du(on, days(legs, "maturity"), as_of=on)


@dataclass(frozen=True)
class Di1Pricer(FuturesPricer):
    """DI1 over frames: B3 ajuste with the DI factor, carry at the previous rate."""

    def settlement_price(self, legs: Legs, market: MarketData) -> np.ndarray:
        """100 000 points at maturity."""
        return np.full(len(legs), DI1_FACE)

    def rate(self, legs: Legs, market: MarketData) -> np.ndarray:
        """:func:`di1_rate` of ``price`` with du from ``on`` to ``maturity``."""
        return np.asarray(di1_rate(num(legs, "price"), _du(legs)), dtype=np.float64)

    def price(self, legs: Legs, market: MarketData) -> np.ndarray:
        """:func:`di1_pu` of ``rate`` with du from ``on`` to ``maturity``."""
        return np.asarray(di1_pu(num(legs, "rate"), _du(legs)), dtype=np.float64)

    def correction(self, legs: Legs, market: MarketData
                   ) -> tuple[np.ndarray, np.ndarray]:
        """FC = the DI factor (:func:`di_factors`), all of it DI."""
        fc = di_factors(legs, market)
        return fc, fc

    def dv01(self, legs: Legs, market: MarketData) -> np.ndarray:
        """:func:`di1_dv01` at ``rate`` and du from ``on``."""
        return np.asarray(di1_dv01(num(legs, "rate"), _du(legs)), dtype=np.float64)


PRICER: Final = Di1Pricer("DI1", Terms(daily_settled=True, rate_quoted=True,
                                       final_from_terms=True, needs_maturity=True, spec=SPEC))
