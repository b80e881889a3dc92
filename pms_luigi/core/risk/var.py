"""Value at risk and expected shortfall: historical simulation (primary), delta-normal (check).

* **Historical**: today's exposures × the last ``window`` daily factor changes. With N
  scenarios and k = ⌈N·(1−α)⌉ computed in Decimal arithmetic (in floats
  20·(1−0.95) = 1.0000000000000009 and ``ceil`` gives 2), VaR_α = −(k-th worst P&L) and
  ES_α = −mean(k worst P&Ls). No interpolation between order statistics.
* **Parametric** (cross-check): delta-normal, σ_P = √(sᵀΣs), VaR_α = z_α·σ_P (1-day, mean
  ignored), ES_α = σ_P·φ(z_α)/(1−α), Euler component VaR_i = z_α·s_i(Σs)_i/σ_P (sums to
  VaR), marginal VaR_i = z_α·(Σs)_i/σ_P. z_α from ``statistics.NormalDist`` (exact, not a
  table).

Scenario P&L is first order (Σ sensitivity × shock): no convexity, no basis between a
bond's yield and the curve vertex.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from statistics import NormalDist
from typing import Final

import numpy as np
import pandas as pd

from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.risk.factors import factor_vector

_NORMAL: Final = NormalDist()


def tail_count(n: int, alpha: float) -> int:
    """k = ⌈n·(1−α)⌉ in exact decimal arithmetic: the number of tail scenarios.

    ``alpha`` goes through its shortest repr (0.95 → Decimal('0.95')), so the product is
    exact (floats would give 2 below). k is at least 1 and at most n.

    Raises:
        InvalidInput: n < 1, or alpha outside (0, 1).

    >>> tail_count(20, 0.95), tail_count(250, 0.99), tail_count(3, 0.5)
    (1, 3, 2)
    """
    if not (isinstance(n, int | np.integer) and n >= 1):
        raise InvalidInput(f"need at least one scenario for VaR, got n={n!r}", field="pnl")
    a = Decimal(repr(float(alpha)))
    if not (Decimal(0) < a < Decimal(1)):
        raise InvalidInput(f"confidence alpha must be in (0, 1), got {alpha!r}", field="alpha")
    k = int((Decimal(int(n)) * (Decimal(1) - a)).to_integral_value(rounding=ROUND_CEILING))
    return min(max(k, 1), int(n))


def scenario_pnl(exposures: pd.DataFrame, changes: pd.DataFrame,
                 vector: pd.Series | None = None) -> pd.Series:
    """First-order P&L of today's book under each historical day's factor changes.

    P&L_t = Σ_f s_f · Δ_{f,t}, with s_f the net sensitivity per factor (BRL per bp for
    ``abs_bp``, BRL per +100% for ``rel``) and Δ in bp / as a fraction, as
    ``factor_changes`` produces them. Days where a factor the book is exposed to has no
    change (NaN) are dropped: the series length is the usable scenario count.

    Args:
        exposures: ``factor_exposures`` rows.
        changes: ``factor_changes`` frame (dates × factors).
        vector: the exposures' ``factor_vector``, when the caller already has it.

    Returns:
        Index: the changes' dates; name ``pnl_brl``.

    Raises:
        InvalidInput: a factor the book needs is absent from ``changes`` (never a silent 0).
    """
    s = factor_vector(exposures) if vector is None else vector
    missing = [f for f in s.index if f not in changes.columns]
    if missing:
        raise InvalidInput(f"no history for risk factor(s) {missing}", table="factor_changes",
                           field="factor", row=missing[0])
    x = changes[list(s.index)]
    x = x[x.notna().all(axis=1)]
    pnl = x.to_numpy(dtype=float) @ s.to_numpy(dtype=float) if len(s) else np.zeros(len(x))
    return pd.Series(pnl, index=x.index, name="pnl_brl")


def historical_var_es(pnl: pd.Series | np.ndarray | list[float],
                      alpha: float) -> tuple[float, float]:
    """Historical-simulation VaR and ES at confidence ``alpha`` (positive = loss).

    Sort the N scenario P&Ls ascending; k = ⌈N·(1−α)⌉ (:func:`tail_count`);
    VaR = −(k-th worst), ES = −mean(k worst). Order statistic, no interpolation
    (numpy.quantile's linear rule would give VaR95 82 and VaR90 62 on the 20 scenarios
    below). If even the k-th worst scenario is a gain, VaR is negative: reported as is.

    Raises:
        InvalidInput: a NaN/inf P&L, no scenario, alpha outside (0, 1).

    >>> pnl = [-120, -80, -60, -50, -40, -30, -20, -10, 0, 5, 10, 15, 20, 25, 30, 40, 50,
    ...        60, 70, 100]
    >>> historical_var_es(pnl, 0.95), historical_var_es(pnl, 0.90)
    ((120.0, 120.0), (80.0, 100.0))
    """
    v = check_finite_pnl(np.asarray(pnl, dtype=float).ravel())
    return var_es_of_sorted(np.sort(v, kind="stable"), alpha)


def check_finite_pnl(pnl: np.ndarray) -> np.ndarray:
    """``pnl`` itself when every scenario P&L is finite.

    Raises:
        InvalidInput: a NaN or infinite P&L (a scenario the book cannot be valued in).
    """
    if not np.isfinite(pnl).all():
        raise InvalidInput("scenario P&L contains NaN/inf", field="pnl")
    return pnl


def var_es_of_sorted(ascending: np.ndarray, alpha: float) -> tuple[float, float]:
    """:func:`historical_var_es` of finite P&Ls already sorted ascending: a caller wanting
    several confidences (and the worst scenarios) sorts once.

    >>> var_es_of_sorted(np.array([-3.0, -1.0, 2.0]), 0.5)
    (1.0, 2.0)
    """
    k = tail_count(len(ascending), alpha)
    worst = ascending[:k]
    return float(-worst[-1]), float(-worst.mean())


@dataclass(frozen=True)
class ParametricVaR:
    """Delta-normal VaR result (1-day, mean ignored). All money in BRL.

    ``component`` (by factor) and ``component_by_exposure`` (aligned to the exposures rows)
    are Euler allocations that sum to ``var_brl``. ``marginal`` is ∂VaR/∂s_f = z·(Σs)_f/σ_P,
    BRL of VaR per BRL of sensitivity (per bp or per +100%): ΔVaR ≈ Σ_f marginal_f·Δs_f for
    a small trade.
    """

    alpha: float
    z: float
    sigma_brl: float
    var_brl: float
    es_brl: float
    component: pd.Series
    marginal: pd.Series
    component_by_exposure: pd.Series | None = None


def normal_z(alpha: float) -> float:
    """z_α = Φ⁻¹(α) from the standard library's NormalDist.

    >>> [round(normal_z(a), 6) for a in (0.95, 0.975, 0.99)]
    [1.644854, 1.959964, 2.326348]
    """
    tail_count(1, alpha)  # validates alpha
    return _NORMAL.inv_cdf(float(alpha))


def parametric_var_from_cov(sens: pd.Series, cov: pd.DataFrame, alpha: float) -> ParametricVaR:
    """Delta-normal VaR of sensitivity vector ``sens`` under factor covariance ``cov``.

    σ_P = √(sᵀΣs); VaR = z_α·σ_P; ES = σ_P·φ(z_α)/(1−α); component_i = z_α·s_i(Σs)_i/σ_P;
    marginal_i = z_α·(Σs)_i/σ_P. σ_P = 0 gives zero components.

    Raises:
        InvalidInput: ``cov`` lacks a factor of ``sens``.

    >>> cov = pd.DataFrame([[100.0]], index=["DI_252"], columns=["DI_252"])
    >>> round(parametric_var_from_cov(pd.Series({"DI_252": -1000.0}), cov, 0.99).var_brl, 2)
    23263.48
    """
    z = normal_z(alpha)
    idx = list(sens.index)
    aligned = cov.index.equals(sens.index) and cov.columns.equals(sens.index)
    c = cov if aligned else cov.reindex(index=idx, columns=idx)
    if c.isna().to_numpy().any():
        raise InvalidInput(f"covariance missing for factor(s) of {idx}", field="factor")
    dn = DeltaNormal.of(sens.to_numpy(dtype=float), c.to_numpy(dtype=float))
    return ParametricVaR(alpha=float(alpha), z=z, sigma_brl=dn.sigma, var_brl=dn.var(alpha),
                         es_brl=dn.es(alpha),
                         component=pd.Series(dn.component(alpha), index=idx,
                                             name="component_var_brl"),
                         marginal=pd.Series(dn.marginal(alpha), index=idx, name="marginal_var"))


@dataclass(frozen=True)
class DeltaNormal:
    """σ_P = √(sᵀΣs) and Σs of one sensitivity vector, computed once: the figures of every
    confidence (VaR, ES, Euler components, marginals) follow from them without another
    matrix product (see :func:`parametric_var_from_cov`, which uses it).

    >>> dn = DeltaNormal.of(np.array([-1000.0]), np.array([[100.0]]))
    >>> round(dn.var(0.99), 2), dn.sigma
    (23263.48, 10000.0)
    """

    s: np.ndarray
    sig_s: np.ndarray
    sigma: float

    @classmethod
    def of(cls, s: np.ndarray, cov: np.ndarray) -> DeltaNormal:
        """From sensitivities ``s`` and a covariance aligned to them (both arrays)."""
        sig_s = cov @ s
        return cls(s, sig_s, math.sqrt(max(float(s @ sig_s), 0.0)))

    def var(self, alpha: float) -> float:
        """VaR_α = z_α·σ_P."""
        return normal_z(alpha) * self.sigma

    def es(self, alpha: float) -> float:
        """ES_α = σ_P·φ(z_α)/(1−α)."""
        return self.sigma * _NORMAL.pdf(normal_z(alpha)) / (1.0 - float(alpha))

    def component(self, alpha: float) -> np.ndarray:
        """Euler component VaR z_α·s_i(Σs)_i/σ_P by factor (zeros when σ_P = 0)."""
        if not self.sigma > 0:
            return np.zeros_like(self.s)
        return normal_z(alpha) * self.s * self.sig_s / self.sigma

    def marginal(self, alpha: float) -> np.ndarray:
        """Marginal VaR z_α·(Σs)_i/σ_P by factor (zeros when σ_P = 0)."""
        if not self.sigma > 0:
            return np.zeros_like(self.s)
        return normal_z(alpha) * self.sig_s / self.sigma


def factor_covariance(changes: pd.DataFrame, *, method: str = "sample",
                      lam: float = 0.94) -> pd.DataFrame:
    """Factor covariance of daily changes (bp for rates, fractions for FX/equity).

    ``sample``: unbiased (ddof=1, demeaned), over the same window as the historical VaR.
    ``ewma``: RiskMetrics, zero mean, weights ∝ λ^age normalised to 1 (λ = 0.94).

    Raises:
        InvalidInput: fewer than 2 rows, or an unknown method. Rows must be complete.
    """
    x = changes.to_numpy(dtype=float)
    if len(x) < 2:
        raise InvalidInput("need at least 2 scenarios for a covariance", field="changes")
    if method == "sample":
        cov = sample_covariance(x)
    elif method == "ewma":
        w = lam ** np.arange(len(x) - 1, -1, -1, dtype=float)
        w /= w.sum()
        cov = (x * w[:, None]).T @ x
    else:
        raise InvalidInput(f"unknown covariance method {method!r}", field="method")
    return pd.DataFrame(cov, index=changes.columns, columns=changes.columns)


def sample_covariance(x: np.ndarray) -> np.ndarray:
    """Unbiased (ddof=1) covariance of the columns of ``x`` (scenarios × factors), always
    square — the ``sample`` method of :func:`factor_covariance` without a frame around it.
    Returned Fortran-ordered, like the ``to_numpy()`` of that frame: a matrix product with it
    then runs the same BLAS kernel, so the same floats."""
    return np.asfortranarray(np.cov(x, rowvar=False, ddof=1).reshape(x.shape[1], x.shape[1]))


def parametric_var(exposures: pd.DataFrame, changes: pd.DataFrame, alpha: float, *,
                   method: str = "sample", lam: float = 0.94) -> ParametricVaR:
    """Delta-normal VaR of the book over the complete scenario rows :func:`scenario_pnl` uses.

    Σ from :func:`factor_covariance`; see :func:`parametric_var_from_cov`.
    ``component_by_exposure`` splits each factor's component across the exposure rows in
    proportion to their sensitivity (z·s_j·(Σs)_f/σ_P), so grouping it by strategy_id gives
    an additive "VaR by strategy" table.

    Raises:
        InvalidInput: a factor the book needs is absent from ``changes``.
    """
    s = factor_vector(exposures)
    missing = [f for f in s.index if f not in changes.columns]
    if missing:
        raise InvalidInput(f"no history for risk factor(s) {missing}", table="factor_changes",
                           field="factor", row=missing[0])
    if s.empty:
        zero = pd.Series(dtype=float)
        return ParametricVaR(float(alpha), normal_z(alpha), 0.0, 0.0, 0.0, zero, zero,
                             pd.Series(0.0, index=exposures.index))
    x = changes[list(s.index)]
    x = x[x.notna().all(axis=1)]
    res = parametric_var_from_cov(s, factor_covariance(x, method=method, lam=lam), alpha)
    return ParametricVaR(res.alpha, res.z, res.sigma_brl, res.var_brl, res.es_brl,
                         res.component, res.marginal,
                         component_by_exposure(exposures, res.marginal))


def component_by_exposure(exposures: pd.DataFrame, marginal: pd.Series) -> pd.Series:
    """Euler component VaR of each exposure row: sensitivity_j × marginal VaR of its factor.

    Aligned to ``exposures``' index, name ``component_var_brl``; sums to the VaR.
    """
    return pd.Series(component_of_rows(exposures["sensitivity_brl"], exposures["factor"],
                                       marginal),
                     index=exposures.index, name="component_var_brl")


def component_of_rows(sensitivity: np.ndarray | pd.Series, factor: np.ndarray | pd.Series,
                      marginal: pd.Series) -> np.ndarray:
    """sensitivity_j × marginal VaR of factor_j per exposure row (NaN for a factor without
    one): the rows of :func:`component_by_exposure`, over columns."""
    return np.asarray(sensitivity, dtype=float) \
        * pd.Series(np.asarray(factor, dtype=object)).map(marginal).to_numpy(dtype=float)
