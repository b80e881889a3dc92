"""Multi-period linking of daily contributions: Frongello (default) and Carino.

Daily contribution c_{i,t} = P&L_{i,t} / NAV_{t−1}; Σ_i c_{i,t} = r_t. Summing daily
contributions over a period does not give the period return Π(1+r_t) − 1 (compounding), so
each day is weighted by a multiplier m_t with Σ_t m_t r_t = Π(1+r_t) − 1:

* **Frongello** (J. Performance Measurement, 2002): m_t = Π_{s<t}(1 + r_s). Chosen because
  (a) it is exact and telescopes to Π(1+r_t) − 1 with no special case at r = 0 and no logs;
  (b) a day's multiplier depends only on the days before it, so adding a day never restates
  an earlier day's contribution (MTD of D−1 plus today's term gives MTD of D) — which is
  what lets attribution chain from one date to the next; (c) without capital flows the
  linked contribution equals the bucket's R$ P&L divided by the NAV at the period start, so
  the R$ and bps columns rank and sign buckets identically.
* **Carino**: m_t = k_t / K with k_t = ln(1+r_t)/r_t, K = ln(1+R)/R (k = 1 at r = 0, the
  limit). Available and tested on the same worked example, not used by the pipeline (K
  depends on the whole period, so it cannot chain).
"""
from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from pms_luigi.core.errors import InvalidInput

LINKING_METHODS: Final = ("frongello", "carino")


def linking_multipliers(returns: npt.ArrayLike,
                        method: str = "frongello") -> npt.NDArray[np.float64]:
    """Per-day multipliers m_t such that linked c_i = Σ_t m_t · c_{i,t} and Σ_t m_t r_t = R.

    * Frongello: m_t = Π_{s<t}(1 + r_s) (m_1 = 1). Σ_t r_t Π_{s<t}(1+r_s) telescopes to
      Π(1+r_t) − 1.
    * Carino: m_t = k_t / K with k_t = ln(1+r_t)/r_t, K = ln(1+R)/R, and k = 1 where the
      return is exactly 0 (the limit). Σ_t (k_t/K) r_t = Σ ln(1+r_t) / K = R.

    Raises:
        InvalidInput: returns not one-dimensional, not finite or ≤ −100%; unknown method.

    >>> linking_multipliers([0.01, -0.02, 0.03]).tolist()
    [1.0, 1.01, 0.9898]
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise InvalidInput("returns must be one-dimensional", field="returns")
    if np.any(~np.isfinite(r)) or np.any(r <= -1.0):
        raise InvalidInput("returns must be finite and > -100%", field="returns")
    if method == "frongello":
        growth = np.cumprod(1.0 + r)
        return np.concatenate(([1.0], growth[:-1])) if r.size else r.copy()
    if method == "carino":
        total = float(np.prod(1.0 + r) - 1.0)
        return _carino_k(r) / float(_carino_k(np.array([total]))[0])
    raise InvalidInput(f"unknown linking method {method!r}; expected one of {LINKING_METHODS}",
                       field="linking")


def _carino_k(r: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    safe = np.where(r == 0.0, 1.0, r)
    return np.where(r == 0.0, 1.0, np.log1p(safe) / safe)


def link(contributions: npt.ArrayLike, returns: npt.ArrayLike,
         method: str = "frongello") -> npt.NDArray[np.float64]:
    """Link daily contributions (T days × K buckets, as fractions) into period contributions.

    When each row of ``contributions`` sums to that day's ``returns``, the result sums to
    Π(1 + r_t) − 1 (exactly for both methods, up to float rounding).

    Raises:
        InvalidInput: as :func:`linking_multipliers`, or a day count that differs.

    Two days, buckets A and B (day 1: +1.0% and +0.5%; day 2: −0.4% and +0.6%):

    >>> c = [[0.010, 0.005], [-0.004, 0.006]]
    >>> [round(float(x) * 100, 4) for x in link(c, [0.015, 0.002])]
    [0.594, 1.109]
    """
    c = np.asarray(contributions, dtype=np.float64)
    m = linking_multipliers(returns, method)
    if c.shape[0] != m.shape[0]:
        raise InvalidInput("contributions and returns must have the same number of days",
                           field="contributions")
    return np.tensordot(m, c, axes=(0, 0))
