"""Pricing and first-order risk of the Brazilian instruments the fund holds.

Pure module (stdlib, numpy and :mod:`pms_luigi.core.calendar`): no I/O, no clock. Rates are
decimals (0.1105 = 11.05 % a.a.), dates are ``datetime.date``, ``du`` = ANBIMA business days
in ``[start, end)`` (``calendar.du``), ``dc`` = calendar days. Functions taking ``rate``/``du``
/``pu`` broadcast over numpy arrays and return a ``float`` when every argument is a scalar.

Conventions and rounding (finance-conventions.md §2; each function names its own):

* **DI1** (B3): PU = 100 000 / (1 + r)^(du/252), no truncation (B3 publishes the settlement
  PU with 2 decimals; round at the caller). DV01 = (du/252)·PU/(1 + r)·10⁻⁴ (analytic
  modified duration, the §2.1 table). Daily settlement corrects yesterday's PU by the DI
  correction factor FC = Π (1 + DI_d)^(1/252) over every fixing since the previous session.
* **DDI** (B3 cupom cambial): PU = 100 000 / (1 + i·dc/360), US$0.50 per point settled in BRL
  at PTAX of t−1; FC = Π(1 + DI)^(1/252) / (PTAX_{t−1}/PTAX_{t−2}).
* **LTN / NTN-F / NTN-B** (ANBIMA methodology, rules as encoded in pyield's ANBIMA
  references): exponent du/252 **truncated to 14 decimals**; NTN-F discounted flows rounded
  to 9 decimals, NTN-B to 10; NTN-B cotação **truncated to 4**; every PU **truncated to 6**.
  Coupon dates run back every 6 months from maturity and stay strictly after settlement; a
  flow falling on a holiday is paid the next business day (:func:`calendar.following`),
  which leaves ``du`` unchanged because du counts ``[settlement, date)``.
* **DOL/WDO/IND/WIN**: plain daily settlement (PA_t − PA_{t−1})·M·N, M in
  :data:`CONTRACT_SPECS`.

Every "truncate" below truncates toward zero after a relative guard of 10⁻¹⁴ (≈ 45 ulp), so
that a value whose decimal expansion is exact (879.43 stored as 879.42999999999995) is not
pushed down one unit by binary representation error.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any, Final, Mapping

import numpy as np
import numpy.typing as npt

from pms_luigi.core import calendar

__all__ = [
    "BP",
    "CONTRACT_SPECS",
    "ContractSpec",
    "DI1_FACE",
    "DDI_FACE",
    "LTN_FACE",
    "NTNB_COUPON_PCT",
    "NTNF_COUPON",
    "NTNF_FACE",
    "POINT_VALUES",
    "cdi_factor",
    "coupon_dates",
    "daily_settlement",
    "ddi_correction_factor",
    "ddi_dv01",
    "ddi_pu",
    "ddi_rate",
    "di1_dv01",
    "di1_pu",
    "di1_rate",
    "frc_rate",
    "ltn_dv01",
    "ltn_pu",
    "ltn_rate",
    "ndf_forward",
    "ndf_mtm",
    "ntnb_cash_flows",
    "ntnb_dv01",
    "ntnb_pu",
    "ntnb_quote",
    "ntnb_rate",
    "ntnf_cash_flows",
    "ntnf_dv01",
    "ntnf_pu",
    "ntnf_rate",
    "truncate",
    "year_fraction_252",
]

ArrayLike = npt.ArrayLike
FloatOrArray = Any  # float for scalar inputs, np.ndarray otherwise

#: One basis point as a decimal rate.
BP: Final = 1e-4
#: DI1 and DDI notional at maturity, in points (B3 contract specs).
DI1_FACE: Final = 100_000.0
DDI_FACE: Final = 100_000.0
#: LTN / NTN-F face value, R$ per bond.
LTN_FACE: Final = 1_000.0
NTNF_FACE: Final = 1_000.0
#: NTN-F semiannual coupon: 1000·((1.10)^0.5 − 1) = 48.808848… rounded to 5 decimals (ANBIMA R5).
NTNF_COUPON: Final = 48.80885
#: NTN-B semiannual coupon in % of VNA: 100·((1.06)^0.5 − 1) rounded to 6 decimals (ANBIMA R6).
NTNB_COUPON_PCT: Final = 2.956301

_GUARD: Final = 1e-14
_EXP_DECIMALS: Final = 14


@dataclass(frozen=True)
class ContractSpec:
    """Static terms of a B3 futures contract.

    ``point_value`` is the value of one price point in ``currency`` — the number that goes in
    ``instruments.contract_size`` (contracts.md). ``usd_per_contract`` is the USD notional of
    one contract where the contract is USD-linked (FX delta of DOL/WDO, face of DDI).
    """

    instrument_type: str
    point_value: float
    currency: str
    quote: str
    face_points: float | None = None
    usd_per_contract: float | None = None
    settlement: str = "daily ajuste, paid on t+1"


#: Contract sizes / point values [spec: B3 product pages, finance-conventions.md §2.1–2.4].
CONTRACT_SPECS: Final[Mapping[str, ContractSpec]] = MappingProxyType({
    "DI1": ContractSpec("DI1", 1.0, "BRL", "% a.a., exponential 252 du", face_points=DI1_FACE,
                        settlement="daily ajuste with DI correction factor, paid on t+1"),
    "DDI": ContractSpec("DDI", 0.5, "USD", "% a.a., linear 360 dc", face_points=DDI_FACE,
                        usd_per_contract=50_000.0,
                        settlement="daily ajuste in BRL at PTAX of t-1, with DI/FX correction"),
    "DOL": ContractSpec("DOL", 50.0, "BRL", "R$ per US$1,000", usd_per_contract=50_000.0),
    "WDO": ContractSpec("WDO", 10.0, "BRL", "R$ per US$1,000", usd_per_contract=10_000.0),
    "IND": ContractSpec("IND", 1.0, "BRL", "Ibovespa points"),
    "WIN": ContractSpec("WIN", 0.2, "BRL", "Ibovespa points"),
})

#: instrument_type -> value of one price point (R$ except DDI, which is US$).
POINT_VALUES: Final[Mapping[str, float]] = MappingProxyType(
    {k: v.point_value for k, v in CONTRACT_SPECS.items()})


# ------------------------------------------------------------------------------- helpers


def _out(x: np.ndarray) -> FloatOrArray:
    """A 0-d result as a Python float, anything else as the array itself."""
    return float(x) if np.ndim(x) == 0 else x


def truncate(x: ArrayLike, decimals: int) -> FloatOrArray:
    """Truncate toward zero to ``decimals`` places (ANBIMA "T" rule), with a 10⁻¹⁴ guard.

    Tesouro Direto retail prices are ``truncate(pu, 2)``; ANBIMA PUs ``truncate(pv, 6)``.
    """
    f = 10.0 ** decimals
    y = np.asarray(x, dtype=np.float64) * f
    y = np.trunc(y + np.sign(y) * np.abs(y) * _GUARD)
    return _out(y / f)


def _round(x: np.ndarray, decimals: int) -> np.ndarray:
    """Round to ``decimals`` places (ANBIMA "R" rule on a discounted flow)."""
    return np.round(x, decimals)


def _du_int(du: ArrayLike) -> np.ndarray:
    d = np.asarray(du)
    if d.dtype.kind == "f":
        if np.any(d != np.round(d)):
            raise ValueError(f"du must be whole business days, got {du!r}")
    d = d.astype(np.int64)
    if np.any(d > 90_000):  # du·10¹⁴ must fit int64 in year_fraction_252
        raise ValueError(f"du above 90 000 business days is not a maturity: {du!r}")
    if np.any(d < 0):
        raise ValueError(f"du must be >= 0, got {du!r}")
    return d


def year_fraction_252(du: ArrayLike) -> FloatOrArray:
    """du/252 truncated to 14 decimals (ANBIMA), computed exactly in integers.

    floor(du·10¹⁴ / 252) fits int64 for du < 92 233 (≈ 366 years), then one float division,
    so the truncation itself never suffers binary rounding.
    """
    d = _du_int(du)
    scaled = (d * 10**_EXP_DECIMALS) // 252
    return _out(scaled / 10.0**_EXP_DECIMALS)


# ------------------------------------------------------------------------------- DI1


def di1_pu(rate: ArrayLike, du: ArrayLike) -> FloatOrArray:
    """DI1 PU = 100 000 / (1 + r)^(du/252) [B3 DI1 contract; finance-conventions.md §2.1].

    Not rounded (B3's settlement PU has 2 decimals: ``round(di1_pu(r, du), 2)``); du = 0 gives
    the final settlement 100 000. Example: 11 %, du 1424 → 55 448.4230… (55 448.42).
    """
    r = np.asarray(rate, dtype=np.float64)
    d = _du_int(du)
    return _out(DI1_FACE / np.power(1.0 + r, d / 252.0))


def di1_rate(pu: ArrayLike, du: ArrayLike) -> FloatOrArray:
    """Rate implied by a DI1 PU: r = (100 000/PU)^(252/du) − 1; NaN where du = 0."""
    p = np.asarray(pu, dtype=np.float64)
    d = _du_int(du).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(d > 0, np.power(DI1_FACE / p, 252.0 / np.where(d > 0, d, 1.0)) - 1.0,
                     np.nan)
    return _out(r)


def di1_dv01(rate: ArrayLike, du: ArrayLike) -> FloatOrArray:
    """DV01 of one DI1 contract, R$ per bp, **magnitude**: (du/252)·PU/(1 + r)·10⁻⁴.

    Analytic modified duration, as in the §2.1 table (13 %, 252 du → 7.8315). The signed P&L
    of N contracts (long PU > 0) for +1 bp is −N·DV01.
    """
    r = np.asarray(rate, dtype=np.float64)
    d = _du_int(du)
    pu = DI1_FACE / np.power(1.0 + r, d / 252.0)
    return _out((d / 252.0) * pu / (1.0 + r) * BP)


def cdi_factor(daily_rates: ArrayLike, *, daily_decimals: int | None = None) -> float:
    """DI correction factor FC = Π_d (1 + DI_d)^(1/252) over the given fixings.

    Pass **every** DI fixing dated in [previous session, t): normally one (DI_{t−1}); two
    after Dec 24 / Dec 31, when B3 is closed but the DI accrues (finance-conventions.md §1.1,
    §2.1). Rates are annual decimals as published (CETIP/B3 "Taxa DI", 2 decimals in %).

    Rounding: the B3 DI1 ajuste formula (PA_{t−1}·FC_t) is applied with the factor in full
    precision; we keep float64 (relative error ~1e-16, < R$0.0001 on a 100 000 PU). Set
    ``daily_decimals=8`` for the CETIP "Caderno de Fórmulas" convention used by DI-indexed
    securities (daily factor rounded to 8 places before compounding); e.g. 13.65 % →
    1.00050788. An empty sequence gives 1.0 (no fixing to compound).
    """
    r = np.asarray(daily_rates, dtype=np.float64).ravel()
    daily = np.power(1.0 + r, 1.0 / 252.0)
    if daily_decimals is not None:
        daily = np.round(daily, daily_decimals)
    return float(np.prod(daily))


def daily_settlement(price: ArrayLike, reference: ArrayLike, quantity: ArrayLike,
                     point_value: ArrayLike, fc: ArrayLike = 1.0,
                     fx: ArrayLike = 1.0) -> FloatOrArray:
    """B3 daily settlement (ajuste) AD = (PA_t − ref·FC)·M·N·FX.

    * Position carried from t−1: ``reference`` = PA_{t−1}, ``fc`` = correction factor (DI1:
      :func:`cdi_factor`; DDI: :func:`ddi_correction_factor`; DOL/WDO/IND/WIN: 1).
    * Trade done on t: ``reference`` = trade price PO, ``fc`` = 1.
    * ``fx`` = 1 for BRL contracts; PTAX of t−1 for DDI (US$ points settled in BRL).

    Examples (§2.3/2.4): long 10 DOL 5 400 → 5 432.5: (5432.5 − 5400)·50·10 = R$16 250.00;
    WDO (5 539.36 − 5 529.50)·10 = R$98.60; 5 IND 130 000 → 131 250 = R$6 250; 1 WIN
    104 000 → 104 200 = R$40.00.
    """
    pa = np.asarray(price, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    out = (pa - ref * np.asarray(fc, dtype=np.float64)) * np.asarray(point_value, dtype=np.float64) \
        * np.asarray(quantity, dtype=np.float64) * np.asarray(fx, dtype=np.float64)
    return _out(out)


# ------------------------------------------------------------------------------- DDI / FRC


def ddi_pu(rate: ArrayLike, dc: ArrayLike) -> FloatOrArray:
    """DDI PU = 100 000 / (1 + i·dc/360) [B3 DDI contract]; 5 %, 180 dc → 97 560.98."""
    i = np.asarray(rate, dtype=np.float64)
    d = np.asarray(dc, dtype=np.float64)
    return _out(DDI_FACE / (1.0 + i * d / 360.0))


def ddi_rate(pu: ArrayLike, dc: ArrayLike) -> FloatOrArray:
    """Cupom implied by a DDI PU: i = (100 000/PU − 1)·360/dc; NaN where dc = 0."""
    p = np.asarray(pu, dtype=np.float64)
    d = np.asarray(dc, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        i = np.where(d > 0, (DDI_FACE / p - 1.0) * 360.0 / np.where(d > 0, d, 1.0), np.nan)
    return _out(i)


def ddi_dv01(rate: ArrayLike, dc: ArrayLike) -> FloatOrArray:
    """DV01 of one DDI, in **points** per bp (magnitude): PU(i) − PU(i + 1 bp).

    A +1 bp reprice, as in §2.2's example (5 %, 180 dc → 4.7588 points = US$2.38 at US$0.50 per
    point). Multiply by 0.5 and PTAX for BRL; a long-PU position loses −N·DV01 for +1 bp.
    """
    i = np.asarray(rate, dtype=np.float64)
    d = np.asarray(dc, dtype=np.float64)
    return _out(DDI_FACE / (1.0 + i * d / 360.0) - DDI_FACE / (1.0 + (i + BP) * d / 360.0))


def ddi_correction_factor(di_rates: ArrayLike, ptax_prev: float, ptax_prev2: float) -> float:
    """DDI FC_t = Π(1 + DI_d)^(1/252) / (PTAX_{t−1} / PTAX_{t−2}) [B3 DDI contract; §2.2].

    ``ptax_prev`` is the PTAX of the business day before t, ``ptax_prev2`` the one before the
    previous session (the two PTAX ends of the correction period).
    """
    return cdi_factor(di_rates) / (float(ptax_prev) / float(ptax_prev2))


def frc_rate(cupom_short: float, dc_short: int, cupom_long: float, dc_long: int) -> float:
    """Forward cupom (FRC) between two DDI vertices, linear 360:

    FRC = [(1 + c_L·dc_L/360)/(1 + c_S·dc_S/360) − 1]·360/(dc_L − dc_S).
    Example (§2.2): 5.0 % at 30 dc and 5.5 % at 210 dc → 5.5602 %.
    """
    if dc_long <= dc_short:
        raise ValueError("dc_long must be greater than dc_short")
    growth = (1.0 + cupom_long * dc_long / 360.0) / (1.0 + cupom_short * dc_short / 360.0)
    return (growth - 1.0) * 360.0 / (dc_long - dc_short)


# ------------------------------------------------------------------------------- NDF


def ndf_forward(spot: ArrayLike, rate_brl: ArrayLike, du: ArrayLike, cupom: ArrayLike,
                dc: ArrayLike) -> FloatOrArray:
    """USDBRL forward by covered parity in local conventions (finance-conventions.md §2.2):

    F = S·(1 + r_pre)^(du/252) / (1 + cupom·dc/360), r_pre the DI (pre) rate for the NDF's du
    and ``cupom`` the onshore dollar rate (DDI/FRC curve, linear 360) for its dc.
    """
    s = np.asarray(spot, dtype=np.float64)
    d = _du_int(du)
    growth = np.power(1.0 + np.asarray(rate_brl, dtype=np.float64), d / 252.0)
    return _out(s * growth / (1.0 + np.asarray(cupom, dtype=np.float64)
                              * np.asarray(dc, dtype=np.float64) / 360.0))


def ndf_mtm(notional_usd: ArrayLike, contract_forward: ArrayLike, market_forward: ArrayLike,
            discount_factor: ArrayLike = 1.0) -> FloatOrArray:
    """MTM in BRL of an NDF (long USD > 0): N·(F_market − F_contract)·DF.

    The settlement at maturity is N·(PTAX_fixing − F_contract); before maturity the value is
    that payoff at today's forward, discounted to today by the BRL discount factor
    DF = 1/(1 + r_pre)^(du/252). ``mtm.mark_to_market`` uses DF = 1 (see its docstring).
    """
    out = np.asarray(notional_usd, dtype=np.float64) * (
        np.asarray(market_forward, dtype=np.float64) - np.asarray(contract_forward, dtype=np.float64)
    ) * np.asarray(discount_factor, dtype=np.float64)
    return _out(out)


# ------------------------------------------------------------------------------- federal bonds


def _add_months(d: date, months: int) -> date:
    m = d.month - 1 + months
    return d.replace(year=d.year + m // 12, month=m % 12 + 1)


def coupon_dates(settlement: date, maturity: date, months: int = 6) -> list[date]:
    """Unadjusted coupon dates in (settlement, maturity], running back from maturity.

    ANBIMA/Tesouro rule: dates are anchored on maturity (1 Jan/1 Jul for NTN-F; the 15th of
    Feb/Aug or May/Nov for NTN-B) and each is paid on :func:`calendar.following` of itself.
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


def _flows(settlement: date, maturity: date, coupon: float, final: float
           ) -> tuple[list[date], np.ndarray, np.ndarray]:
    if settlement >= maturity:
        raise ValueError(f"settlement {settlement} is on or after maturity {maturity}")
    dates = coupon_dates(settlement, maturity)
    pay = [calendar.following(d) for d in dates]
    cf = np.full(len(dates), coupon, dtype=np.float64)
    cf[-1] = final
    du = np.asarray(calendar.du(np.array(settlement, dtype="datetime64[D]"),
                                np.array(pay, dtype="datetime64[D]")), dtype=np.int64)
    return pay, cf, du


def ntnf_cash_flows(settlement: date, maturity: date) -> tuple[list[date], np.ndarray, np.ndarray]:
    """NTN-F flows after ``settlement``: (payment dates rolled to business days, R$ per bond,
    du from settlement). Coupons R$48.80885; the last flow is 1 048.80885."""
    return _flows(settlement, maturity, NTNF_COUPON, NTNF_FACE + NTNF_COUPON)


def ntnb_cash_flows(settlement: date, maturity: date) -> tuple[list[date], np.ndarray, np.ndarray]:
    """NTN-B flows after ``settlement`` in % of VNA: 2.956301 each, 102.956301 at maturity."""
    return _flows(settlement, maturity, NTNB_COUPON_PCT, 100.0 + NTNB_COUPON_PCT)


def _pv(cf: np.ndarray, du: np.ndarray, rate: ArrayLike, flow_decimals: int | None
        ) -> np.ndarray:
    """Σ_k CF_k/(1 + y)^(n_k), n_k = trunc14(du_k/252); flows rounded when asked (ANBIMA)."""
    y = np.asarray(rate, dtype=np.float64)[..., None]
    n = np.asarray(year_fraction_252(du), dtype=np.float64)
    pv = cf / np.power(1.0 + y, n)
    if flow_decimals is not None:
        pv = _round(pv, flow_decimals)
    return pv.sum(axis=-1)


def _solve(cf: np.ndarray, du: np.ndarray, target: ArrayLike) -> FloatOrArray:
    """Yield y with Σ CF/(1+y)^n = target (untruncated), Newton from 10 %, to 1e-13."""
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
    return _out(y)


def ltn_pu(rate: ArrayLike, du: ArrayLike) -> FloatOrArray:
    """LTN PU = 1000/(1 + y)^trunc14(du/252), **truncated to 6** (ANBIMA).

    Tesouro Direto's retail price is ``truncate(ltn_pu(y, du), 2)``: settle 2003-03-21,
    maturity 2003-10-01 (du 134), 27.33 % → 879.43.
    """
    y = np.asarray(rate, dtype=np.float64)
    n = np.asarray(year_fraction_252(du), dtype=np.float64)
    return truncate(LTN_FACE / np.power(1.0 + y, n), 6)


def ltn_rate(pu: ArrayLike, du: ArrayLike) -> FloatOrArray:
    """Yield implied by an LTN PU (untruncated inverse of :func:`ltn_pu`); NaN where du = 0."""
    p = np.asarray(pu, dtype=np.float64)
    n = np.asarray(year_fraction_252(du), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(n > 0, np.power(LTN_FACE / p, 1.0 / np.where(n > 0, n, 1.0)) - 1.0, np.nan)
    return _out(y)


def ltn_dv01(rate: ArrayLike, du: ArrayLike) -> FloatOrArray:
    """LTN DV01 per bond, R$/bp magnitude = DI1 DV01 / 100 (same du and rate; §2.7)."""
    return _out(np.asarray(di1_dv01(rate, du)) / 100.0)


def ntnf_pu(settlement: date, maturity: date, rate: ArrayLike) -> FloatOrArray:
    """NTN-F PU = trunc6(Σ_k round9(CF_k/(1 + y)^trunc14(du_k/252))) [ANBIMA].

    Example (pyield docstring of ``ntnf.pu``): settle 2024-07-05, maturity 2035-01-01,
    11.921 % → 895.359254. Vectorized over ``rate``.
    """
    _, cf, du = ntnf_cash_flows(settlement, maturity)
    return truncate(_pv(cf, du, rate, 9), 6)


def ntnf_rate(settlement: date, maturity: date, pu: ArrayLike) -> FloatOrArray:
    """Yield implied by an NTN-F PU (Newton on the untruncated price)."""
    _, cf, du = ntnf_cash_flows(settlement, maturity)
    return _solve(cf, du, pu)


def ntnf_dv01(settlement: date, maturity: date, rate: ArrayLike) -> FloatOrArray:
    """NTN-F DV01 per bond, R$/bp magnitude: PV(y) − PV(y + 1 bp), untruncated."""
    _, cf, du = ntnf_cash_flows(settlement, maturity)
    y = np.asarray(rate, dtype=np.float64)
    return _out(_pv(cf, du, y, None) - _pv(cf, du, y + BP, None))


def ntnb_quote(settlement: date, maturity: date, rate: ArrayLike) -> FloatOrArray:
    """NTN-B cotação (base 100) = trunc4(Σ_k round10(CF_k/(1 + y)^trunc14(du_k/252))) [ANBIMA].

    CF_k = 2.956301, last 102.956301; ``rate`` is the real yield. Example (pyield docstring):
    settle 2024-05-31, maturity 2035-05-15, 6.1490 % → 99.3651.
    """
    _, cf, du = ntnb_cash_flows(settlement, maturity)
    return truncate(_pv(cf, du, rate, 10), 4)


def ntnb_pu(vna: ArrayLike, quote: ArrayLike) -> FloatOrArray:
    """NTN-B PU = trunc6(VNA × cotação / 100); 4299.160173 × 99.3651 → 4271.864805."""
    return truncate(np.asarray(vna, dtype=np.float64) * np.asarray(quote, dtype=np.float64)
                    / 100.0, 6)


def ntnb_rate(settlement: date, maturity: date, quote: ArrayLike) -> FloatOrArray:
    """Real yield implied by an NTN-B cotação (Newton on the untruncated quote)."""
    _, cf, du = ntnb_cash_flows(settlement, maturity)
    return _solve(cf, du, quote)


def ntnb_dv01(settlement: date, maturity: date, rate: ArrayLike, vna: ArrayLike) -> FloatOrArray:
    """NTN-B DV01 per bond in R$ per bp of real yield (magnitude): VNA·(Q(y) − Q(y+1bp))/100."""
    _, cf, du = ntnb_cash_flows(settlement, maturity)
    y = np.asarray(rate, dtype=np.float64)
    dq = _pv(cf, du, y, None) - _pv(cf, du, y + BP, None)
    return _out(np.asarray(vna, dtype=np.float64) * dq / 100.0)
