"""DOL and WDO — B3 US dollar futures (full and mini): final settlement and FX delta.

Contract (B3): quoted in R$ per US$1 000; DOL is US$50 000 (R$50 per point), WDO US$10 000
(R$10 per point); maturity on the first business day of the month. Plain daily settlement
(PA_t − PA_{t−1})·M·N with no correction factor (:func:`~pms_luigi.core.pricing.futures
.daily_settlement`), all of it market P&L: a split into forward points and spot would need
a spot taken in the settlement window, and PTAX is fixed at 13:00. The contract settles in
cash at maturity at 1 000 × the PTAX of the last trading day (the business day before
maturity). The FX delta of one contract is its US$ size.

Examples:
    Long 10 DOL from 5 400.0 to 5 432.5 earn R$16 250.00; a 1 % move at 5 400 is 54 points,
    R$2 700 per DOL; one WDO from 5 529.50 to 5 539.36 earns R$98.60:

    >>> from pms_luigi.core.pricing.futures import daily_settlement
    >>> daily_settlement(5_432.5, 5_400.0, 10, DOL.terms.spec.point_value)
    16250.0
    >>> daily_settlement(5_454.0, 5_400.0, 1, 50.0)
    2700.0
    >>> round(daily_settlement(5_539.36, 5_529.50, 1, WDO.terms.spec.point_value), 2)
    98.6
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

import numpy as np

from pms_luigi.core.pricing.base import (
    ContractSpec,
    Legs,
    MarketData,
    Terms,
    days,
    num,
    prev_business_day,
)
from pms_luigi.core.pricing.futures import FuturesPricer

__all__ = ["DOL", "DOL_SPEC", "WDO", "WDO_SPEC", "FxFuturePricer"]

#: Points per US$ of the quote (R$ per US$1 000).
_USD_PER_POINT: Final = 1000.0

DOL_SPEC: Final = ContractSpec("DOL", 50.0, "BRL", "R$ per US$1,000", usd_per_contract=50_000.0)
WDO_SPEC: Final = ContractSpec("WDO", 10.0, "BRL", "R$ per US$1,000", usd_per_contract=10_000.0)


@dataclass(frozen=True)
class FxFuturePricer(FuturesPricer):
    """DOL / WDO over frames: plain ajuste, final at PTAX, FX delta in US$."""

    def settlement_price(self, legs: Legs, market: MarketData) -> np.ndarray:
        """1 000 × the PTAX of the business day before maturity."""
        return market.ptax(prev_business_day(days(legs, "maturity"))) * _USD_PER_POINT

    def fx_delta(self, legs: Legs, exposure: np.ndarray) -> np.ndarray:
        """US$ = q × M × 1 000 (M R$ per point, a point being R$ per US$1 000)."""
        return num(legs, "quantity") * num(legs, "contract_size") * _USD_PER_POINT


_TERMS: Final = Terms(daily_settled=True, rate_quoted=False, final_from_terms=True,
                      needs_maturity=False)
DOL: Final = FxFuturePricer("DOL", replace(_TERMS, spec=DOL_SPEC))
WDO: Final = FxFuturePricer("WDO", replace(_TERMS, spec=WDO_SPEC))
