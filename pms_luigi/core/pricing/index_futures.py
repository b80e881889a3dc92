"""IND and WIN — B3 Ibovespa futures (full and mini): equity delta.

Contract (B3): quoted in Ibovespa points, R$1.00 per point for IND and R$0.20 for WIN;
expiry on the Wednesday nearest the 15th of even months. Plain daily settlement
(PA_t − PA_{t−1})·M·N with no correction factor, all of it market P&L; the final settlement
is the expiry's settlement price, read from ``market_prices`` like any other day's. The equity
delta of a position is q × index × M.

Examples:
    B3's own example, one WIN from 104 000 to 104 200, earns R$40.00; 5 IND from 130 000 to
    131 250 earn R$6 250:

    >>> from pms_luigi.core.pricing.futures import daily_settlement
    >>> daily_settlement(104_200.0, 104_000.0, 1, WIN.terms.spec.point_value)
    40.0
    >>> daily_settlement(131_250.0, 130_000.0, 5, IND.terms.spec.point_value)
    6250.0
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

import numpy as np

from pms_luigi.core.pricing.base import ContractSpec, Legs, Terms
from pms_luigi.core.pricing.futures import FuturesPricer

__all__ = ["IND", "IND_SPEC", "WIN", "WIN_SPEC", "IndexFuturePricer"]

IND_SPEC: Final = ContractSpec("IND", 1.0, "BRL", "Ibovespa points")
WIN_SPEC: Final = ContractSpec("WIN", 0.2, "BRL", "Ibovespa points")


@dataclass(frozen=True)
class IndexFuturePricer(FuturesPricer):
    """IND / WIN over frames: plain ajuste, equity delta in BRL."""

    def equity_delta(self, legs: Legs, exposure: np.ndarray) -> np.ndarray:
        """BRL = q × index × M."""
        return exposure


_TERMS: Final = Terms(daily_settled=True, rate_quoted=False, final_from_terms=False,
                      needs_maturity=False)
IND: Final = IndexFuturePricer("IND", replace(_TERMS, spec=IND_SPEC))
WIN: Final = IndexFuturePricer("WIN", replace(_TERMS, spec=WIN_SPEC))
