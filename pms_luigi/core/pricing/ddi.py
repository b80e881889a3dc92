"""DDI (cupom cambial futures) and FRC (forward cupom): PU, cupom, DV01, correction factor.

Contract (B3): 100 000 points at maturity × US$0.50 per point (US$50 000); quoted as the
onshore dollar rate ("cupom") in % a.a., **linear on 360 calendar days**; maturity on the
first session of the month.

* PU = 100 000 / (1 + i·dc/360), dc = calendar days to maturity; i = (100 000/PU − 1)·360/dc.
* Daily settlement in BRL at the PTAX of the business day before t:
  AD = (PA_t − PA_{t−1}·FC_t)·0.5·PTAX_{t−1}·N, with
  FC_t = Π(1 + DI_d)^(1/252) / (PTAX_{t−1}/PTAX_{t−2}) — the DI accrued over the PTAX
  variation of the correction period.
* FRC: the forward cupom between two DDI maturities (B3 books an FRC as two opposite DDI
  positions, marked as plain DDI from then on).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from pms_luigi.core.pricing.base import (
    ContractSpec,
    Legs,
    MarketData,
    Terms,
    days,
    held,
    num,
    prev_business_day,
)
from pms_luigi.core.pricing.di1 import cdi_factor, di_factors
from pms_luigi.core.pricing.futures import FuturesPricer
from pms_luigi.core.pricing.rounding import BP, ArrayLike, FloatOrArray, scalar_or_array

__all__ = ["DDI_FACE", "PRICER", "SPEC", "DdiPricer", "ddi_correction_factor", "ddi_dv01",
           "ddi_pu", "ddi_rate", "frc_rate"]

#: DDI notional at maturity, in points (US$0.50 each).
DDI_FACE: Final = 100_000.0
SPEC: Final = ContractSpec("DDI", 0.5, "USD", "% a.a., linear 360 dc", face_points=DDI_FACE,
                           usd_per_contract=50_000.0,
                           settlement="daily ajuste in BRL at PTAX of t-1, with DI/FX correction")


def ddi_pu(rate: ArrayLike, dc: ArrayLike) -> FloatOrArray:
    """DDI PU = 100 000 / (1 + i·dc/360); dc = 0 gives the final 100 000.

    Examples:
        >>> round(ddi_pu(0.05, 180), 2), ddi_pu(0.05, 0)
        (97560.98, 100000.0)
    """
    i = np.asarray(rate, dtype=np.float64)
    d = np.asarray(dc, dtype=np.float64)
    return scalar_or_array(DDI_FACE / (1.0 + i * d / 360.0))


def ddi_rate(pu: ArrayLike, dc: ArrayLike) -> FloatOrArray:
    """Cupom implied by a DDI PU: i = (100 000/PU − 1)·360/dc; NaN where dc = 0.

    Examples:
        >>> round(ddi_rate(ddi_pu(0.05, 180), 180), 12)
        0.05
    """
    p = np.asarray(pu, dtype=np.float64)
    d = np.asarray(dc, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        i = np.where(d > 0, (DDI_FACE / p - 1.0) * 360.0 / np.where(d > 0, d, 1.0), np.nan)
    return scalar_or_array(i)


def ddi_dv01(rate: ArrayLike, dc: ArrayLike) -> FloatOrArray:
    """DV01 of one DDI in **points** per bp (magnitude): PU(i) − PU(i + 1 bp).

    A +1 bp reprice. Multiply by 0.5 for US$ and by the PTAX for BRL; a long-PU position
    loses −N·DV01 for +1 bp.

    Examples:
        5 % with 180 dc: 4.7588 points, US$2.38 per contract, R$12.85 at PTAX 5.40.

        >>> dv01 = ddi_dv01(0.05, 180)
        >>> round(dv01, 4), round(dv01 * 0.5, 2), round(dv01 * 0.5 * 5.40, 2)
        (4.7588, 2.38, 12.85)
    """
    i = np.asarray(rate, dtype=np.float64)
    d = np.asarray(dc, dtype=np.float64)
    return scalar_or_array(DDI_FACE / (1.0 + i * d / 360.0)
                           - DDI_FACE / (1.0 + (i + BP) * d / 360.0))


def ddi_correction_factor(di_rates: ArrayLike, ptax_prev: float, ptax_prev2: float) -> float:
    """DDI FC_t = Π(1 + DI_d)^(1/252) / (PTAX_{t−1} / PTAX_{t−2}).

    ``ptax_prev`` is the PTAX of the business day before t, ``ptax_prev2`` the one before the
    previous session (the two PTAX ends of the correction period).

    Examples:
        >>> fc = ddi_correction_factor([0.149], 5.50, 5.45)
        >>> round(fc / (1.149 ** (1 / 252) / (5.50 / 5.45)), 14)
        1.0
    """
    return cdi_factor(di_rates) / (float(ptax_prev) / float(ptax_prev2))


def frc_rate(cupom_short: float, dc_short: int, cupom_long: float, dc_long: int) -> float:
    """Forward cupom (FRC) between two DDI vertices, linear 360.

    FRC = [(1 + c_L·dc_L/360)/(1 + c_S·dc_S/360) − 1]·360/(dc_L − dc_S).

    Raises:
        ValueError: the long vertex is not after the short one.

    Examples:
        5.0 % at 30 dc and 5.5 % at 210 dc give a 5.5602 % forward cupom.

        >>> round(frc_rate(0.050, 30, 0.055, 210) * 100, 4)
        5.5602
    """
    if dc_long <= dc_short:
        raise ValueError("dc_long must be greater than dc_short")
    growth = (1.0 + cupom_long * dc_long / 360.0) / (1.0 + cupom_short * dc_short / 360.0)
    return (growth - 1.0) * 360.0 / (dc_long - dc_short)


def _dc(legs: Legs) -> np.ndarray:
    return (days(legs, "maturity") - days(legs, "on")).astype(np.int64)


@dataclass(frozen=True)
class DdiPricer(FuturesPricer):
    """DDI over frames: US$ points settled in BRL at PTAX, DI and FX correction."""

    def settlement_price(self, legs: Legs, market: MarketData) -> np.ndarray:
        """100 000 points at maturity."""
        return np.full(len(legs), DDI_FACE)

    def rate(self, legs: Legs, market: MarketData) -> np.ndarray:
        """:func:`ddi_rate` of ``price`` with dc from ``on`` to ``maturity``."""
        return np.asarray(ddi_rate(num(legs, "price"), _dc(legs)), dtype=np.float64)

    def price(self, legs: Legs, market: MarketData) -> np.ndarray:
        """:func:`ddi_pu` of ``rate`` with dc from ``on`` to ``maturity``."""
        return np.asarray(ddi_pu(num(legs, "rate"), _dc(legs)), dtype=np.float64)

    def fx_rate(self, legs: Legs, market: MarketData) -> np.ndarray:
        """PTAX of the business day before the price date: the ajuste's BRL rate."""
        return market.ptax(prev_business_day(days(legs, "on")))

    def conversion(self, legs: Legs) -> np.ndarray:
        """A point is US$: BRL at ``fx_rate``."""
        return num(legs, "fx_rate")

    def correction(self, legs: Legs, market: MarketData
                   ) -> tuple[np.ndarray, np.ndarray]:
        """(DI factor, DI factor / (PTAX_{t−1}/PTAX_{t−2})) of carried rows whose price date
        advanced; the PTAX ends are the business days before the two price dates."""
        fc_di = di_factors(legs, market)
        fc = fc_di.copy()
        m = held(legs) & (days(legs, "on") > days(legs, "prev_on"))
        if m.any():
            ptax_prev2 = market.ptax(prev_business_day(days(legs, "prev_on")[m]))
            fc[m] = fc_di[m] / (num(legs, "fx_rate")[m] / ptax_prev2)
        return fc_di, fc

    def dv01(self, legs: Legs, market: MarketData) -> np.ndarray:
        """:func:`ddi_dv01` in points × PTAX: BRL per bp per US$0.50 point value unit."""
        return np.asarray(ddi_dv01(num(legs, "rate"), _dc(legs)), dtype=np.float64) \
            * num(legs, "fx_rate")

    def fx_delta(self, legs: Legs, exposure: np.ndarray) -> np.ndarray:
        """The US$ value of the points held: q·X·0.5."""
        return exposure


PRICER: Final = DdiPricer("DDI", Terms(daily_settled=True, rate_quoted=True,
                                       final_from_terms=True, needs_maturity=True, spec=SPEC))
