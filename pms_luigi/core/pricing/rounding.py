"""The rounding and truncation rules of the published pricing methodologies.

ANBIMA and the Tesouro Nacional price federal bonds with fixed decimal rules, and a price
that ignores them misses the published figure in the last places:

* the exponent n = du/252 is **truncated to 14 decimals** (:func:`year_fraction_252`);
* NTN-F discounted flows are **rounded to 9 decimals**, NTN-B flows **to 10**
  (:func:`round_flows`);
* the NTN-B cotação is **truncated to 4 decimals**, every PU **to 6**, Tesouro Direto's retail
  price **to 2** (:func:`truncate`).

B3 futures formulas (DI1, DDI) are applied in full precision: B3 publishes the settlement PU
with 2 decimals and the caller rounds it where a published PU is wanted.

"Truncate" truncates toward zero after a relative guard of 10⁻¹⁴ (about 45 ulp): a value
whose decimal expansion is exact — 879.43, held in binary as 879.42999999999995 — is not
pushed down one unit by representation error.

Functions taking ``rate`` / ``du`` / ``pu`` broadcast over numpy arrays and return a ``float``
when every argument is a scalar (:func:`scalar_or_array`).
"""
from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = ["BP", "ArrayLike", "FloatOrArray", "round_flows", "scalar_or_array", "truncate",
           "whole_days", "year_fraction_252"]

ArrayLike = npt.ArrayLike
FloatOrArray = Any  # float for scalar inputs, np.ndarray otherwise

#: One basis point as a decimal rate.
BP: Final = 1e-4
#: Relative guard added before a truncation (see the module docstring).
_GUARD: Final = 1e-14
#: Decimals of the truncated exponent du/252.
_EXP_DECIMALS: Final = 14
#: Above this many business days du·10¹⁴ would overflow int64 in :func:`year_fraction_252`.
_MAX_DU: Final = 90_000


def scalar_or_array(x: np.ndarray) -> FloatOrArray:
    """A 0-d result as a Python float, anything else as the array itself."""
    return float(x) if np.ndim(x) == 0 else x


def truncate(x: ArrayLike, decimals: int) -> FloatOrArray:
    """Truncate toward zero to ``decimals`` places (ANBIMA "T" rule), with a 10⁻¹⁴ guard.

    ANBIMA PUs are ``truncate(pv, 6)``; Tesouro Direto retail prices ``truncate(pu, 2)``.

    Examples:
        >>> truncate(879.434493, 2), truncate(879.43, 2), truncate(-1.239, 2)
        (879.43, 879.43, -1.23)
        >>> truncate(4271.8648059999, 6)
        4271.864805
    """
    f = 10.0 ** decimals
    y = np.asarray(x, dtype=np.float64) * f
    y = np.trunc(y + np.sign(y) * np.abs(y) * _GUARD)
    return scalar_or_array(y / f)


def round_flows(x: np.ndarray, decimals: int) -> np.ndarray:
    """Round each discounted cash flow to ``decimals`` places (ANBIMA "R" rule).

    numpy's rounding (half to even on exact ties, which a discounted flow never is).
    """
    return np.round(x, decimals)


def whole_days(du: ArrayLike) -> np.ndarray:
    """``du`` as int64, refusing fractions, negatives and counts that are no maturity.

    Raises:
        ValueError: ``du`` has a fractional, negative or absurdly large value.
    """
    d = np.asarray(du)
    if d.dtype.kind == "f" and np.any(d != np.round(d)):
        raise ValueError(f"du must be whole business days, got {du!r}")
    d = d.astype(np.int64)
    if np.any(d > _MAX_DU):
        raise ValueError(f"du above 90 000 business days is not a maturity: {du!r}")
    if np.any(d < 0):
        raise ValueError(f"du must be >= 0, got {du!r}")
    return d


def year_fraction_252(du: ArrayLike) -> FloatOrArray:
    """n = du/252 truncated to 14 decimals (ANBIMA), computed exactly in integers.

    floor(du·10¹⁴ / 252) fits int64 for du below 92 233 business days, then one float
    division: the truncation itself never suffers binary rounding.

    Examples:
        The Tesouro Nacional LTN example: du 134 → n = 0.53174603174603.

        >>> year_fraction_252(134)
        0.53174603174603
    """
    d = whole_days(du)
    scaled = (d * 10**_EXP_DECIMALS) // 252
    return scalar_or_array(scaled / 10.0**_EXP_DECIMALS)
