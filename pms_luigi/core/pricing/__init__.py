"""Pricing and first-order risk of the Brazilian instruments the fund holds.

Pure (stdlib, numpy, pandas and :mod:`pms_luigi.core.calendar`): no I/O, no clock. Rates are
decimals (0.1105 = 11.05 % a.a.), dates ``datetime.date``, ``du`` = ANBIMA business days in
``[start, end)``, ``dc`` = calendar days. Functions taking ``rate`` / ``du`` / ``pu``
broadcast over numpy arrays and return a ``float`` when every argument is a scalar.

Modules, one per instrument plus what they share:

* :mod:`~.di1` — DI1 futures: PU, rate, DV01, the DI correction factor;
* :mod:`~.ddi` — DDI (cupom cambial) futures and the FRC forward cupom;
* :mod:`~.fx_futures` — DOL / WDO; :mod:`~.index_futures` — IND / WIN;
* :mod:`~.ltn`, :mod:`~.ntnf`, :mod:`~.ntnb` — federal bonds (ANBIMA methodology), with the
  shared schedule and present value in :mod:`~.anbima`;
* :mod:`~.ndf` — USDBRL NDF; :mod:`~.equity` — equities and USD cash items;
* :mod:`~.rounding` — the truncation / rounding rules (du/252 to 14 places, PU to 6, ...);
* :mod:`~.futures` / :mod:`~.cash` — daily P&L of a B3 future (ajuste) and of a cash item;
* :mod:`~.base` — the :class:`Pricer` protocol (the same verbs for every type, over frames)
  and :mod:`~.registry` — the immutable map from ``instrument_type`` to its pricer.
"""
from __future__ import annotations

from pms_luigi.core.pricing.anbima import coupon_dates
from pms_luigi.core.pricing.base import ContractSpec, MarketData, Pricer, Terms
from pms_luigi.core.pricing.ddi import (
    DDI_FACE,
    ddi_correction_factor,
    ddi_dv01,
    ddi_pu,
    ddi_rate,
    frc_rate,
)
from pms_luigi.core.pricing.di1 import DI1_FACE, cdi_factor, di1_dv01, di1_pu, di1_rate
from pms_luigi.core.pricing.futures import daily_settlement
from pms_luigi.core.pricing.ltn import LTN_FACE, ltn_dv01, ltn_pu, ltn_rate
from pms_luigi.core.pricing.ndf import ndf_forward, ndf_mtm
from pms_luigi.core.pricing.ntnb import (
    NTNB_COUPON_PCT,
    ntnb_cash_flows,
    ntnb_dv01,
    ntnb_pu,
    ntnb_quote,
    ntnb_rate,
)
from pms_luigi.core.pricing.ntnf import (
    NTNF_COUPON,
    NTNF_FACE,
    ntnf_cash_flows,
    ntnf_dv01,
    ntnf_pu,
    ntnf_rate,
)
from pms_luigi.core.pricing.registry import CONTRACT_SPECS, POINT_VALUES, PRICERS, pricer_for
from pms_luigi.core.pricing.rounding import BP, truncate, year_fraction_252

__all__ = [
    "BP",
    "CONTRACT_SPECS",
    "DDI_FACE",
    "DI1_FACE",
    "LTN_FACE",
    "NTNB_COUPON_PCT",
    "NTNF_COUPON",
    "NTNF_FACE",
    "POINT_VALUES",
    "PRICERS",
    "ContractSpec",
    "MarketData",
    "Pricer",
    "Terms",
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
    "pricer_for",
    "truncate",
    "year_fraction_252",
]
