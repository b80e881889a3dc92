"""Demo fund: a year of correlated Brazilian market data, a macro book, trades and signals.

Why this exists: ``pms-luigi demo`` must run the whole pipeline on a fresh machine with data that
looks like a Brazilian global-macro fund's (original-system.md §9; issue 2 item 7). Everything is
synthetic but built with the *real* conventions, so every downstream number (MTM, DV01, VaR,
attribution) can be recomputed from the inputs with the published formulas.

Pure module: no DB/Redis, no clock. :func:`generate` is a deterministic function of
``(seed, end, n_days, nav)`` (one ``numpy.random.Generator``); :func:`load_reference` only reads
the reference CSVs in a folder the caller names. Frames carry exactly the column names of
``pms_luigi/store/schema.py``; dates are ``datetime.date``; numbers float64; NULLs are ``None``
(object columns) or ``NaN`` (``market_prices.rate`` of instruments without a quoted yield).

Market model (daily, on ANBIMA business days)
---------------------------------------------
Six correlated factors, AR(1) around a mean (mean reversion keeps a year in a plausible range):

=========  ===================================  ==============  ===========
factor      meaning                              daily vol       start
=========  ===================================  ==============  ===========
M           DI medium-term level (decimal)       7 bp            13.90 %
S           DI long-end slope (decimal)          4 bp            -0.30 pp
log FX      ln USDBRL                            0.90 %          5.35
log IBOV    ln Ibovespa                          1.20 %          150,000
R           NTN-B real yield level               6 bp            6.60 %
C           cupom cambial level (linear 360)     6 bp            5.00 %
=========  ===================================  ==============  ===========

Correlations: a weak BRL goes with DI up (+0.5), real yields up (+0.4) and IBOV down (-0.55);
DI up goes with IBOV down (-0.5); DI level and real yields +0.7. IBOV does not move on ANBIMA
days without a B3 session (Dec 24, Dec 31).

* **Selic/CDI.** Selic starts at 15.00 %; COPOM meets about every 45 calendar days and moves by
  a multiple of 25 bp towards what the curve prices (0.35 x (M - CDI) + noise, capped at
  +-50 bp), effective the next business day. CDI fixing = Selic - 0.10 pp.
* **DI curve.** r(tau) = CDI*(1 - phi1) + M*phi1 + S*phi2 with tau = du/252,
  phi1 = 1 - exp(-tau/0.25) (short end anchored on CDI) and phi2 = clip((tau - 1)/4, 0, 1).
  DI1 settlement: rate rounded to 3 decimals in percent (B3 quote), PU = di1_pu(rate, du)
  rounded to 2 decimals (B3 publishes the PU de ajuste with 2 decimals).
* **DDI.** cupom c(tau) = C + 0.30 pp*(1 - exp(-tau)), 3 decimals in percent;
  PU = ddi_pu(c, dc) rounded to 2 decimals (dc = calendar days to maturity).
* **DOL/WDO and NDF.** Covered interest parity with the same two curves:
  F = S * (1 + r(du))^(du/252) / (1 + c*dc/360), WDO quoted x1000 (R$ per US$1,000, 3 decimals),
  NDF in BRL per USD (4 decimals). (The DDI coupon is "dirty", i.e. against PTAX of t-1; the
  difference is a few bp and ignored in the demo.)
* **IND.** F = IBOV * ((1 + r(du)) / (1 + q))^(du/252), dividend yield q = 6 %, whole points.
* **Bonds** (ANBIMA prices, every ANBIMA day): LTN yield = r(du) + 5 bp, NTN-F = r(du) + 8 bp,
  NTN-B real yield = R + 4 bp per year of tenor beyond 5 years; yields rounded to 4 decimals in
  percent (ANBIMA's taxa indicativa); PU from :mod:`pms_luigi.core.pricing` (ltn_pu, ntnf_pu,
  ntnb_quote/ntnb_pu with the day's VNA).
* **VNA** of the NTN-B: a monthly IPCA path (0.30-0.50 % a month), VNA updated on each 15th by
  the previous month's IPCA and projected pro rata between 15ths with a projection of the IPCA
  the next 15th will incorporate (ANBIMA method, finance-conventions.md §2.7), so the 15th may
  correct the VNA slightly either way; truncated to 6 decimals.
* **FX fixings.** CLOSE = the model spot; PTAX = an intraday point between the previous close
  and today's (BCB samples 10h-13h), both 4 decimals, every ANBIMA day.
* **History.** CDI, PTAX/CLOSE and VNA also exist for the business day *before* inception (the
  first day's MTM needs PTAX of t-1 for DDI); market prices, trades and signals start on
  inception day.
* **Equities.** PETR4 (beta 1.1) and VALE3 (beta 0.9) to IBOV plus an idiosyncratic AR(1)
  (1.2 %/day shocks, 2 %/day mean reversion).

Where prices exist ("life" of an instrument): exchange instruments (DI1, DDI, WDO, IND, equities)
only on B3 sessions; bonds (Tesouro/ANBIMA) and NDFs (OTC) on every ANBIMA day. Every contract is
priced from the first demo day up to its last trading date: strictly before ``maturity_date``
for DI1, DDI, WDO, NDF and bonds (their last trading/fixing day is the session before maturity),
up to and including ``maturity_date`` for IND (the Wednesday expiry settles on that day's index).
See :func:`last_price_date`.

Book (about 14 positions, R$ 150-500M NAV, gross about 1.9x NAV)
-----------------------------------------------------------------
Adapted from original-system.md §9.2; notionals scale with ``nav`` (listed for R$ 250M). CDS BR
5Y (SOV_02, sell protection) becomes a long NTN-F (sovereign risk proxy) and the UST 10Y short
(CROSS_02) becomes a long Brazilian equity (global risk appetite), because the instrument master
has no CDS or UST types (contracts.md). All initial trades are done on the first day (or the first
B3 session if that day has none) at settlement; later trades at settlement +- slippage (0.1-0.5 bp
in rate for DI1/DDI, 0.5-3 bp of price otherwise, always adverse), with costs from the one-way
bps table of original-system.md §1.4 (cost = |notional BRL| x bps / 10,000, 2 decimals):

* rolled every month/bimester/quarter by trades (close the old, open the next with the same
  quantity): WDO front (FX_05, short), IND front (CROSS_01, long), USDBRL NDF 3M (FX_02, short)
  and 6M (FX_04, short). WDO rolls 4 sessions before maturity, IND 3 sessions before expiry,
  NDFs 5 business days before maturity into the contract ~3M/6M out;
* later: INF_02 adds NTN-B (23 % of the year), SOV_BR_01 opens a DI1 payer (38 %),
  RATES_BR_01 cuts its DI1 by 40 % (50 %), CUPOM_02 flips its DDI from short to long (62 %),
  CROSS_02 closes PETR4 and buys VALE3 (77 %).

Capital flows: the initial NAV is not a flow (``DemoData.initial_nav``); one subscription (8 % of
NAV at 35 % of the year) and one redemption (5 % at 70 %).

Signals
-------
Every business day each strategy emits, for each of its generic ids (original-system.md §9.3),
conviction = tanh(mu_t + x_t), x an AR(1) (phi = 0.96, stationary sd 0.45) and mu a bias: for the
pairs behind a book position mu has the position's sign (and changes, with a 10-day ramp, before the
flip / cut / new position); otherwise a small random constant, so flips occur occasionally.
Convictions are signed in *price terms of the resolved contract* (proposals.py): > 0 = long PU =
receive for DI_PRE. Rounded to 4 decimals.

Generic ids and the alias table (instrument_aliases): DI_PRE -> the DI1 January contract nearest
1 year (DI_PRE_1Y the same), DI_PRE_2Y / DI_PRE_4Y -> the contracts nearest 2 and 4 years (the
slope strategy RATES_BR_03 emits those two instead of DI_PRE), NTN_B_REAL -> the short NTN-B,
USDBRL -> the WDO held at ``end``, IBOV_FUT -> the IND held at ``end``, DDI -> the DDI January,
NDF -> the 3M NDF held at ``end``, CDS_BR -> the NTN-F (sovereign-risk proxy: +1 = long the bond =
short protection). UST_NOM has no instrument and no alias: RATES_03 emits only DI_PRE and
RATES_05 (FOMC event, UST only) emits no signals. Every alias target is alive after ``end``, so
proposals on any demo date resolve.

Reference data: the instrument master and aliases are built from ``end`` by rules (the DI1 January
contracts are the first January at least 10 business days after ``end`` and +1, +2, +4 years,
etc.), so any ``end`` gives maturities after ``end``. ``config/*.csv`` hold the reference data
for the default demo (``end`` = :data:`DEFAULT_END`); tests check that they agree with
:func:`generate`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from pms_luigi.core import calendar as cal
from pms_luigi.core import pricing
from pms_luigi.core.errors import InvalidInput, NotBusinessDay

__all__ = [
    "COST_BPS",
    "DEFAULT_END",
    "REFERENCE_COLUMNS",
    "STRATEGIES",
    "DemoData",
    "generate",
    "last_price_date",
    "load_reference",
    "reference_csv",
    "reference_tables",
]

#: The default demo's last business day (the reference CSVs in ``config/`` are built for it).
DEFAULT_END: Final = date(2026, 11, 27)

#: Column order of the three reference tables (= pms_luigi/store/schema.py, kept here so this
#: module does not import SQLAlchemy; tests compare them with the schema).
REFERENCE_COLUMNS: Final[dict[str, list[str]]] = {
    "instruments": ["instrument_id", "name", "asset_class", "instrument_type", "currency",
                    "exchange", "maturity_date", "contract_size", "lot_size", "underlying",
                    "is_active"],
    "strategies": ["strategy_id", "name", "asset_class", "factor_tags", "is_systematic"],
    "instrument_aliases": ["alias", "instrument_id"],
}
_COLUMNS: Final[dict[str, list[str]]] = {
    "fund": ["fund_id", "name", "inception_date", "initial_nav"],
    **REFERENCE_COLUMNS,
    "market_prices": ["price_date", "instrument_id", "price", "rate", "source"],
    "fx_fixings": ["fixing_date", "pair", "kind", "rate"],
    "cdi_fixings": ["fixing_date", "rate"],
    "vna": ["ref_date", "index_name", "value"],
    "trades": ["trade_id", "trade_date", "instrument_id", "strategy_id", "quantity", "price",
               "cost_brl", "source", "proposal_id"],
    "signals": ["signal_date", "strategy_id", "signal_id", "conviction"],
    "capital_flows": ["flow_date", "kind", "amount_brl"],
}

# ----------------------------------------------------------------------------- strategies

#: The 24 strategies of original-system.md §9.3: (id, name, asset class, factor tags, generic ids
#: emitted). Asset class is the strategy *family* mapped onto the closed instrument enum
#: (RATES INFLATION FX CUPOM CREDIT) plus CROSS_ASSET, which original-system.md §1.1 keeps as a
#: strategy family. UST_NOM is dropped (no instrument, see module docstring); RATES_BR_03 (slope)
#: emits the 2Y and 4Y DI aliases instead of DI_PRE.
STRATEGIES: Final[tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...]], ...]] = (
    ("RATES_BR_01", "DI carry & roll-down", "RATES", ("carry",), ("DI_PRE",)),
    ("RATES_BR_02", "Taylor-rule misalignment", "RATES", ("macro-discretionary",), ("DI_PRE",)),
    ("RATES_BR_03", "DI slope (flattener/steepener)", "RATES", ("momentum", "mean-reversion"),
     ("DI_PRE_2Y", "DI_PRE_4Y")),
    ("RATES_BR_04", "US rates spillover to DI", "RATES", ("macro-discretionary",), ("DI_PRE",)),
    ("RATES_03", "BR-US rate spread", "RATES", ("relative-value",), ("DI_PRE",)),
    ("RATES_04", "Term-premium extraction", "RATES", ("carry", "mean-reversion"), ("DI_PRE",)),
    ("RATES_05", "FOMC event", "RATES", ("event-driven",), ()),
    ("RATES_06", "COPOM event", "RATES", ("event-driven",), ("DI_PRE",)),
    ("INF_BR_01", "Breakeven inflation", "INFLATION", ("carry",), ("DI_PRE", "NTN_B_REAL")),
    ("INF_02", "IPCA surprise", "INFLATION", ("event-driven",), ("NTN_B_REAL", "DI_PRE")),
    ("INF_03", "Inflation carry", "INFLATION", ("carry",), ("DI_PRE", "NTN_B_REAL")),
    ("FX_BR_01", "USDBRL carry & fundamental", "FX", ("carry",), ("USDBRL",)),
    ("FX_02", "Carry-adjusted momentum", "FX", ("carry", "momentum"), ("USDBRL",)),
    ("FX_03", "Flow-based tactical", "FX", ("momentum",), ("USDBRL",)),
    ("FX_04", "Vol-surface relative value", "FX", ("relative-value",), ("USDBRL",)),
    ("FX_05", "Terms-of-trade misalignment", "FX", ("macro-discretionary",), ("USDBRL",)),
    ("CUPOM_01", "CIP basis mean reversion", "CUPOM", ("carry", "relative-value"),
     ("DI_PRE", "USDBRL")),
    ("CUPOM_02", "Onshore-offshore spread", "CUPOM", ("relative-value",), ("DDI", "NDF")),
    ("SOV_BR_01", "BR fiscal risk premium", "CREDIT", ("macro-discretionary",),
     ("DI_PRE", "USDBRL")),
    ("SOV_01", "CDS curve trading", "CREDIT", ("momentum",), ("CDS_BR",)),
    ("SOV_02", "EM sovereign relative value", "CREDIT", ("relative-value",), ("CDS_BR",)),
    ("SOV_03", "Rating-migration anticipation", "CREDIT", ("event-driven",), ("CDS_BR", "DI_PRE")),
    ("CROSS_01", "Macro regime allocation", "CROSS_ASSET", ("macro-discretionary",),
     ("DI_PRE", "USDBRL", "IBOV_FUT", "NTN_B_REAL")),
    ("CROSS_02", "Global risk appetite", "CROSS_ASSET", ("momentum",),
     ("DI_PRE", "USDBRL", "IBOV_FUT")),
)

#: One-way cost in bps of |notional BRL| by instrument_type (original-system.md §1.4: spread +
#: commission + exchange fee). NTN-F and cash equities are not in the table: its 2.0 default.
COST_BPS: Final[dict[str, float]] = {
    "DI1": 1.0, "DDI": 1.5, "DOL": 0.8, "WDO": 0.8, "NDF": 2.0, "NTNB": 3.0, "LTN": 1.5,
    "NTNF": 2.0, "IND": 1.5, "WIN": 1.5, "EQUITY": 2.0,
}

_MONTH_CODES: Final = "FGHJKMNQUVXZ"
_MONTH_ABBR: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                      "Nov", "Dec")

#: Contract specs by instrument_type (contracts.md): asset class, currency, exchange,
#: contract_size (value of one price point), lot_size, underlying, market_prices.source.
_SPECS: Final[dict[str, tuple[str, str, str, float, float, str | None, str]]] = {
    "DI1": ("RATES", "BRL", "B3", 1.0, 1.0, "CDI", "B3"),
    "DDI": ("CUPOM", "USD", "B3", 0.5, 1.0, "CUPOM", "B3"),
    "WDO": ("FX", "BRL", "B3", 10.0, 1.0, "USDBRL", "B3"),
    "IND": ("EQUITY", "BRL", "B3", 1.0, 1.0, "IBOV", "B3"),
    "LTN": ("RATES", "BRL", "TESOURO", 1.0, 1.0, None, "ANBIMA"),
    "NTNF": ("RATES", "BRL", "TESOURO", 1.0, 1.0, None, "ANBIMA"),
    "NTNB": ("INFLATION", "BRL", "TESOURO", 1.0, 1.0, "IPCA", "ANBIMA"),
    "NDF": ("FX", "BRL", "OTC", 1.0, 100_000.0, "USDBRL", "OTC"),
    "EQUITY": ("EQUITY", "BRL", "B3", 1.0, 100.0, None, "B3"),
}
_EXCHANGE_TYPES: Final = frozenset({"DI1", "DDI", "WDO", "DOL", "IND", "WIN", "EQUITY"})

# Market model parameters (see the module docstring).
_FACTORS: Final = ("M", "S", "FX", "IBOV", "R", "C")
_VOL: Final = np.array([0.0007, 0.0004, 0.009, 0.012, 0.0006, 0.0006])
_CORR: Final = np.array([
    #  M     S     FX    IBOV   R     C
    [1.00, 0.30, 0.50, -0.50, 0.70, 0.30],
    [0.30, 1.00, 0.30, -0.30, 0.30, 0.10],
    [0.50, 0.30, 1.00, -0.55, 0.40, 0.20],
    [-0.50, -0.30, -0.55, 1.00, -0.40, -0.10],
    [0.70, 0.30, 0.40, -0.40, 1.00, 0.20],
    [0.30, 0.10, 0.20, -0.10, 0.20, 1.00],
])
_START: Final = np.array([0.1390, -0.0030, math.log(5.35), math.log(150_000.0), 0.0660, 0.0500])
_MEAN: Final = np.array([0.1375, -0.0020, math.log(5.45), math.log(150_000.0), 0.0650, 0.0500])
_KAPPA: Final = np.array([0.02, 0.03, 0.02, 0.01, 0.02, 0.03])  # daily mean reversion
_SELIC0: Final = 0.1500
_CDI_SPREAD: Final = 0.0010
_DIV_YIELD: Final = 0.06
_VNA0: Final = 4_600.0  # VNA NTN-B around the demo start (illustrative)
_EQUITIES: Final = {"PETR4": ("Petrobras PN", 32.00, 1.1), "VALE3": ("Vale ON", 62.00, 0.9)}
_EQ_IDIO_VOL: Final = 0.012
_EQ_IDIO_KAPPA: Final = 0.02
_SIGNAL_PHI: Final = 0.96
_SIGNAL_SD: Final = 0.45

# Book: (strategy, role, direction in price terms, notional R$ M at NAV 250M).
_BOOK: Final = (
    ("FX_02", "NDF3M", -1, 45.0),
    ("FX_04", "NDF6M", -1, 25.0),
    ("FX_05", "WDO", -1, 20.0),
    ("RATES_03", "DI0", +1, 60.0),
    ("RATES_BR_01", "DI1", +1, 70.0),
    ("RATES_BR_03", "DI2", -1, 40.0),
    ("RATES_BR_03", "DI4", +1, 0.0),  # sized DV01-neutral against DI2 (flattener)
    ("INF_02", "NTNB_S", +1, 45.0),
    ("INF_03", "NTNB_L", +1, 35.0),
    ("CUPOM_02", "DDI", -1, 25.0),
    ("SOV_02", "NTNF", +1, 20.0),
    ("RATES_06", "LTN", +1, 16.0),
    ("CROSS_01", "IND", +1, 30.0),
    ("CROSS_02", "PETR4", +1, 10.0),
)
#: Later discretionary trades: (fraction of the year, strategy, role, action, arg).
#: action ADD/OPEN arg = notional R$ M at NAV 250M (signed by direction), CUT arg = fraction
#: of the position, FLIP arg = new notional (sign = new direction), CLOSE arg unused.
_EVENTS: Final = (
    (0.23, "INF_02", "NTNB_S", "ADD", +15.0),
    (0.38, "SOV_BR_01", "DI4", "OPEN", -15.0),
    (0.50, "RATES_BR_01", "DI1", "CUT", 0.40),
    (0.62, "CUPOM_02", "DDI", "FLIP", +20.0),
    (0.77, "CROSS_02", "PETR4", "CLOSE", 0.0),
    (0.77, "CROSS_02", "VALE3", "OPEN", +10.0),
)
_FLOWS: Final = ((0.35, "SUBSCRIPTION", 0.08), (0.70, "REDEMPTION", -0.05))
#: Signal biases (tanh space) behind the book: (strategy, generic id) -> [(fraction, bias)].
_SIGNAL_BIAS: Final = {
    ("FX_02", "USDBRL"): ((0.0, -0.7),),
    ("FX_04", "USDBRL"): ((0.0, -0.5),),
    ("FX_05", "USDBRL"): ((0.0, -0.6),),
    ("RATES_03", "DI_PRE"): ((0.0, 0.6),),
    ("RATES_BR_01", "DI_PRE"): ((0.0, 0.8), (0.50, 0.3)),
    ("RATES_BR_03", "DI_PRE_2Y"): ((0.0, -0.6),),
    ("RATES_BR_03", "DI_PRE_4Y"): ((0.0, 0.6),),
    ("INF_02", "NTN_B_REAL"): ((0.0, 0.6), (0.23, 0.9)),
    ("INF_03", "NTN_B_REAL"): ((0.0, 0.7),),
    ("CUPOM_02", "DDI"): ((0.0, -0.8), (0.62, 0.8)),
    ("SOV_02", "CDS_BR"): ((0.0, 0.6),),
    ("RATES_06", "DI_PRE"): ((0.0, 0.5),),
    ("CROSS_01", "IBOV_FUT"): ((0.0, 0.7),),
    ("CROSS_02", "IBOV_FUT"): ((0.0, 0.5),),
    ("SOV_BR_01", "DI_PRE"): ((0.0, 0.0), (0.38, -0.7)),
}
_RAMP_DAYS: Final = 10


# ----------------------------------------------------------------------------- result type


#: The demo fund's row in the ``fund`` table.
FUND_ID: Final = "default"
FUND_NAME: Final = "PMS Macro FIM"


@dataclass(frozen=True)
class DemoData:
    """Every input table of the demo fund, columns exactly as pms_luigi/store/schema.py.

    ``fund`` is the one-row fund table: inception = ``start`` (first business day, no flow),
    ``initial_nav`` = the NAV before the first day's P&L.
    """

    fund: pd.DataFrame
    instruments: pd.DataFrame
    strategies: pd.DataFrame
    instrument_aliases: pd.DataFrame
    market_prices: pd.DataFrame
    fx_fixings: pd.DataFrame
    cdi_fixings: pd.DataFrame
    vna: pd.DataFrame
    trades: pd.DataFrame
    signals: pd.DataFrame
    capital_flows: pd.DataFrame
    start: date  # first business day = fund inception
    end: date
    initial_nav: float
    seed: int = field(default=0)

    def frames(self) -> dict[str, pd.DataFrame]:
        """Table name -> frame, in foreign-key order (reference data first) for a loader."""
        return {name: getattr(self, name) for name in _COLUMNS}


# ----------------------------------------------------------------------------- reference data


def load_reference(config_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Read ``instruments.csv``, ``strategies.csv`` and ``instrument_aliases.csv`` from a folder.

    Returns frames with the schema's columns in schema order: ``maturity_date`` as
    ``datetime.date`` (None when empty), ``contract_size``/``lot_size`` float, booleans as bool,
    ``factor_tags`` as a list of str (stored as a JSON array in the CSV), empty text as None.

    Raises:
        InvalidInput: a file lacks a column, has an unknown one, or a value does not parse.
    """
    folder = Path(config_dir)
    out: dict[str, pd.DataFrame] = {}
    for table, cols in REFERENCE_COLUMNS.items():
        path = folder / f"{table}.csv"
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        if list(raw.columns) != cols:
            raise InvalidInput(f"{path}: columns {list(raw.columns)} differ from the schema's "
                               f"{cols}", table=table, field=",".join(cols))
        text = {c: [v.strip() or None for v in raw[c].astype(object)] for c in cols}
        key = text[cols[0]]
        if table == "instruments":
            text["maturity_date"] = [_parse_date(v, table, r, "maturity_date")
                                     for r, v in zip(key, text["maturity_date"])]
            for col in ("contract_size", "lot_size"):
                text[col] = [_parse_float(v, table, r, col) for r, v in zip(key, text[col])]
            text["is_active"] = [_parse_bool(v, table, r, "is_active")
                                 for r, v in zip(key, text["is_active"])]
        elif table == "strategies":
            text["factor_tags"] = [_parse_tags(v, r) for r, v in zip(key, text["factor_tags"])]
            text["is_systematic"] = [_parse_bool(v, table, r, "is_systematic")
                                     for r, v in zip(key, text["is_systematic"])]
        out[table] = _typed(table, pd.DataFrame(text, columns=cols))
    return out


def reference_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """A reference frame as the text ``config/*.csv`` stores: ISO dates, JSON tag arrays,
    empty cells for NULL. ``load_reference`` reads it back to an equal frame."""
    out = frame.copy()
    if "factor_tags" in out:
        out["factor_tags"] = [json.dumps(list(t)) for t in out["factor_tags"]]
    if "maturity_date" in out:
        out["maturity_date"] = [None if v is None else v.isoformat() for v in out["maturity_date"]]
    return out


def _typed(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """One canonical typing for reference frames, whether built here or read from CSV:
    text (and dates, tag lists) as object columns with None for NULL, sizes float, flags bool."""
    out = frame[REFERENCE_COLUMNS[table]].copy()
    for col in out.columns:
        if col in ("contract_size", "lot_size"):
            out[col] = out[col].astype(float)
        elif col in ("is_active", "is_systematic"):
            out[col] = out[col].astype(bool)
        else:
            out[col] = pd.Series([None if v is None or (isinstance(v, float) and math.isnan(v))
                                  else v for v in out[col]], index=out.index, dtype=object)
    return out.reset_index(drop=True)


def _parse_float(value: str | None, table: str, row: str, fld: str) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{table} row {row}: field {fld} {value!r} is not a number",
                           table=table, row=row, field=fld) from exc


def _parse_date(value: str | None, table: str, row: str, fld: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{table} row {row}: field {fld} {value!r} is not an ISO date",
                           table=table, row=row, field=fld) from exc


def _parse_bool(value: str | None, table: str, row: str, fld: str) -> bool:
    text = (value or "").lower()
    if text in ("true", "1", "t", "yes"):
        return True
    if text in ("false", "0", "f", "no"):
        return False
    raise InvalidInput(f"{table} row {row}: field {fld} {value!r} is not a boolean",
                       table=table, row=row, field=fld)


def _parse_tags(value: str | None, row: str) -> list[str]:
    try:
        tags = json.loads(value or "")
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"strategies row {row}: field factor_tags {value!r} is not a JSON "
                           "array", table="strategies", row=row, field="factor_tags") from exc
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) for t in tags):
        raise InvalidInput(f"strategies row {row}: field factor_tags {value!r} must be a "
                           "non-empty JSON array of strings", table="strategies", row=row,
                           field="factor_tags")
    return tags


def last_price_date(instrument_type: str, maturity: date | None) -> date | None:
    """Last date with a settlement price: the instrument's life ends there (None = no expiry).

    DI1, DDI, DOL/WDO trade until the session before maturity (B3 specs); NDFs fix on PTAX of the
    business day before maturity; bonds are priced by ANBIMA until the day before redemption.
    IND/WIN expire *on* their maturity Wednesday and settle at that day's index.
    """
    if maturity is None:
        return None
    if instrument_type in ("IND", "WIN"):
        return maturity
    return maturity - timedelta(days=1)


# ----------------------------------------------------------------------------- instrument rules


@dataclass(frozen=True)
class _Inst:
    instrument_id: str
    name: str
    instrument_type: str
    maturity: date | None


def _add_months(year: int, month: int, k: int) -> tuple[int, int]:
    m = year * 12 + (month - 1) + k
    return m // 12, m % 12 + 1


def _code(d: date) -> str:
    return f"{_MONTH_CODES[d.month - 1]}{d.year % 100:02d}"


def _di1(year: int) -> _Inst:
    mat = cal.first_business_day_of_month(year, 1)
    return _Inst(f"DI1F{year % 100:02d}", f"DI1 Jan/{year} (one-day interbank deposit future)",
                 "DI1", mat)


def _wdo(year: int, month: int) -> _Inst:
    mat = cal.first_business_day_of_month(year, month)
    return _Inst(f"WDO{_code(mat)}", f"Mini US dollar future {_MONTH_ABBR[month - 1]}/{year}",
                 "WDO", mat)


def _ind_expiry(year: int, month: int) -> date:
    """Wednesday nearest the 15th (B3 Ibovespa futures), or the next session if closed."""
    fifteenth = date(year, month, 15)
    delta = (2 - fifteenth.weekday()) % 7  # days forward to the next Wednesday
    wed = fifteenth + timedelta(days=delta - 7 if delta > 3 else delta)
    return wed if cal.is_b3_session(wed) else cal.next_b3_session(wed)


def _ind(year: int, month: int) -> _Inst:
    mat = _ind_expiry(year, month)
    return _Inst(f"IND{_MONTH_CODES[month - 1]}{year % 100:02d}",
                 f"Ibovespa future {_MONTH_ABBR[month - 1]}/{year}", "IND", mat)


def _ndf(mat: date) -> _Inst:
    return _Inst(f"NDF_USDBRL_{mat.isoformat()}", f"USDBRL NDF maturing {mat.isoformat()}", "NDF",
                 mat)


def _fixed_instruments(end: date) -> dict[str, _Inst]:
    """Fixed-maturity instruments of the book by role, all maturing after ``end``."""
    y0 = end.year
    while cal.first_business_day_of_month(y0, 1) < cal.add_business_days(end, 10):
        y0 += 1
    roles: dict[str, _Inst] = {f"DI{k}": _di1(y0 + k) for k in (0, 1, 2, 4)}
    ddi_mat = cal.first_business_day_of_month(y0, 1)
    roles["DDI"] = _Inst(f"DDIF{y0 % 100:02d}", f"DDI Jan/{y0} (cupom cambial future)", "DDI",
                         ddi_mat)
    ltn = next(date(y, m, 1) for y in range(end.year, end.year + 3) for m in (1, 4, 7, 10)
               if date(y, m, 1) >= end + timedelta(days=182))
    roles["LTN"] = _Inst(f"LTN_{ltn.isoformat()}", f"LTN {ltn:%d/%m/%Y}", "LTN", ltn)
    y = end.year + 5 + (end.year + 5 + 1) % 2  # first odd year >= year+5
    roles["NTNF"] = _Inst(f"NTNF_{y}", f"NTN-F 01/01/{y}", "NTNF", date(y, 1, 1))
    y = end.year + 4 + (end.year + 4) % 2  # first even year >= year+4 (Aug series)
    roles["NTNB_S"] = _Inst(f"NTNB_{y}", f"NTN-B 15/08/{y}", "NTNB", date(y, 8, 15))
    y = end.year + 9 + (end.year + 9 + 1) % 2  # first odd year >= year+9 (May series)
    roles["NTNB_L"] = _Inst(f"NTNB_{y}", f"NTN-B 15/05/{y}", "NTNB", date(y, 5, 15))
    for ticker, (name, _, _) in _EQUITIES.items():
        roles[ticker] = _Inst(ticker, name, "EQUITY", None)
    return roles


def _roll_chain(kind: str, open_day: date, end: date) -> list[tuple[_Inst, date]]:
    """Contracts a rolled position holds, each with the date it is rolled out of.

    WDO: front month, rolled 4 B3 sessions before maturity. IND: front even month, rolled
    3 sessions before expiry. NDF3M/NDF6M: maturity on the first business day of the month
    3/6 months after the trade month, rolled 5 business days before maturity. The last contract
    is the one held at ``end`` (its roll date is after ``end``).
    """
    chain: list[tuple[_Inst, date]] = []
    if kind in ("WDO", "IND"):
        y, m = open_day.year, open_day.month
        while True:
            if kind == "WDO":
                inst = _wdo(y, m)
                roll = cal.previous_b3_session(inst.maturity, 4)  # type: ignore[arg-type]
            elif m % 2 == 0:
                inst = _ind(y, m)
                roll = cal.previous_b3_session(inst.maturity, 3)  # type: ignore[arg-type]
            else:
                y, m = _add_months(y, m, 1)
                continue
            if roll > open_day:
                chain.append((inst, roll))
                if roll > end:
                    return chain
            y, m = _add_months(y, m, 1)
    tenor = 3 if kind == "NDF3M" else 6
    day = open_day
    while True:
        y, m = _add_months(day.year, day.month, tenor)
        inst = _ndf(cal.first_business_day_of_month(y, m))
        roll = cal.add_business_days(inst.maturity, -5)  # type: ignore[arg-type]
        chain.append((inst, roll))
        if roll > end:
            return chain
        day = roll


def _instrument_frame(insts: list[_Inst], end: date) -> pd.DataFrame:
    rows = []
    for i in insts:
        ac, ccy, exch, size, lot, und, _src = _SPECS[i.instrument_type]
        rows.append({
            "instrument_id": i.instrument_id, "name": i.name, "asset_class": ac,
            "instrument_type": i.instrument_type, "currency": ccy, "exchange": exch,
            "maturity_date": i.maturity, "contract_size": size, "lot_size": lot,
            "underlying": und, "is_active": i.maturity is None or i.maturity > end,
        })
    rows.sort(key=lambda r: str(r["instrument_id"]))
    return _typed("instruments", pd.DataFrame.from_records(rows, columns=REFERENCE_COLUMNS[
        "instruments"], coerce_float=False))


def _strategy_frame() -> pd.DataFrame:
    rows = [{"strategy_id": sid, "name": name, "asset_class": ac, "factor_tags": list(tags),
             "is_systematic": "macro-discretionary" not in tags}
            for sid, name, ac, tags, _ in STRATEGIES]
    return _typed("strategies", pd.DataFrame(rows, columns=REFERENCE_COLUMNS["strategies"]))


def _nearest(roles: dict[str, _Inst], end: date, target_du: int) -> str:
    dis = [roles[f"DI{k}"] for k in (0, 1, 2, 4)]
    dus = [cal.du(end, i.maturity) for i in dis]
    return dis[int(np.argmin([abs(d - target_du) for d in dus]))].instrument_id


def _alias_frame(roles: dict[str, _Inst], held_at_end: dict[str, str], end: date) -> pd.DataFrame:
    one_year = _nearest(roles, end, 252)
    rows = [
        ("CDS_BR", roles["NTNF"].instrument_id),
        ("DDI", roles["DDI"].instrument_id),
        ("DI_PRE", one_year),
        ("DI_PRE_1Y", one_year),
        ("DI_PRE_2Y", _nearest(roles, end, 504)),
        ("DI_PRE_4Y", _nearest(roles, end, 1008)),
        ("IBOV_FUT", held_at_end["IND"]),
        ("NDF", held_at_end["NDF3M"]),
        ("NTN_B_REAL", roles["NTNB_S"].instrument_id),
        ("USDBRL", held_at_end["WDO"]),
    ]
    return _typed("instrument_aliases",
                  pd.DataFrame(rows, columns=REFERENCE_COLUMNS["instrument_aliases"]))


def reference_tables(end: date = DEFAULT_END, n_days: int = 260) -> dict[str, pd.DataFrame]:
    """Instrument master, strategies and aliases of the demo ending on ``end`` (no market data).

    The same frames :func:`generate` returns (they do not depend on the seed); used to write and
    check ``config/*.csv``.
    """
    dates = _demo_dates(end, n_days)
    roles, chains = _book_instruments(dates, end)
    return _reference(roles, chains, end)


def _reference(roles: dict[str, _Inst], chains: dict[str, list[tuple[_Inst, date]]],
               end: date) -> dict[str, pd.DataFrame]:
    insts: dict[str, _Inst] = {i.instrument_id: i for i in roles.values()}
    for chain in chains.values():
        insts.update({i.instrument_id: i for i, _ in chain})
    held = {k: chain[-1][0].instrument_id for k, chain in chains.items()}
    return {
        "instruments": _instrument_frame(list(insts.values()), end),
        "strategies": _strategy_frame(),
        "instrument_aliases": _alias_frame(roles, held, end),
    }


def _demo_dates(end: date, n_days: int) -> list[date]:
    if not cal.is_business_day(end):
        raise NotBusinessDay(end, cal.holiday_name(end) or "not a business day")
    if n_days < 40:
        raise InvalidInput(f"demo: n_days {n_days} is too short for the book's events (>= 40)",
                           table="demo", field="n_days")
    dates = cal.business_days(end - timedelta(days=int(n_days * 1.6) + 30), end)[-n_days:]
    if len(dates) < n_days:  # pragma: no cover - 1.6 calendar days per business day is ample
        raise InvalidInput("demo: calendar window too short", table="demo", field="n_days")
    return dates


def _open_day(dates: list[date]) -> date:
    return next(d for d in dates if cal.is_b3_session(d))


def _book_instruments(dates: list[date], end: date
                      ) -> tuple[dict[str, _Inst], dict[str, list[tuple[_Inst, date]]]]:
    roles = _fixed_instruments(end)
    open_day = _open_day(dates)
    chains = {k: _roll_chain(k, open_day, end) for k in ("WDO", "IND", "NDF3M", "NDF6M")}
    return roles, chains


# ----------------------------------------------------------------------------- market model


@dataclass(frozen=True)
class _Market:
    d64: np.ndarray  # datetime64[D] of the ANBIMA dates
    session: np.ndarray  # bool: B3 session
    cdi: np.ndarray
    m: np.ndarray
    s: np.ndarray
    fx: np.ndarray  # spot close
    ptax: np.ndarray
    ibov: np.ndarray
    real: np.ndarray
    cupom: np.ndarray
    vna: np.ndarray
    equities: dict[str, np.ndarray]


def _ar_paths(rng: np.random.Generator, n: int, session: np.ndarray) -> np.ndarray:
    """The six factor paths (n x 6): correlated shocks, AR(1) around _MEAN from _START."""
    chol = np.linalg.cholesky(_CORR)
    z = rng.standard_normal((n, len(_FACTORS))) @ chol.T * _VOL
    z[0] = 0.0
    z[~session, 3] = 0.0  # no IBOV move without a B3 session
    x = np.empty((n, len(_FACTORS)))
    x[0] = _START
    keep = 1.0 - _KAPPA
    for t in range(1, n):  # AR(1) recursion: 260 tiny vector steps
        x[t] = _MEAN + keep * (x[t - 1] - _MEAN) + z[t]
    return x


def _copom(rng: np.random.Generator, dates: list[date], m: np.ndarray) -> np.ndarray:
    """Daily Selic: COPOM moves in 25 bp steps toward the curve, effective next business day."""
    n = len(dates)
    selic = np.full(n, _SELIC0)
    target = dates[0] + timedelta(days=20)
    meetings: list[int] = []
    while True:
        wed = target + timedelta(days=(2 - target.weekday()) % 7)
        wed = cal.following(wed)
        if wed >= dates[-1]:
            break
        meetings.append(dates.index(wed))
        target = wed + timedelta(days=45)
    noise = rng.normal(0.0, 0.0010, size=len(meetings))
    for k, i in enumerate(meetings):
        cdi = selic[i] - _CDI_SPREAD
        move = np.clip(np.round((0.35 * (m[i] - cdi) + noise[k]) / 0.0025) * 0.0025,
                       -0.005, 0.005)
        selic[i + 1:] = np.clip(selic[i] + move, 0.1200, 0.1650)
    return selic


def _vna_path(rng: np.random.Generator, dates: list[date]) -> np.ndarray:
    """ANBIMA-style daily VNA: monthly IPCA on the 15th, pro-rata projection in between."""
    first, last = dates[0], dates[-1]
    y, m = _add_months(first.year, first.month, -2)
    anchors: list[date] = []
    while date(y, m, 15) <= last + timedelta(days=62):
        anchors.append(date(y, m, 15))
        y, m = _add_months(y, m, 1)
    # ipca[k] is the month incorporated on anchor k+1; proj[k] is the market projection of it
    # used pro rata between anchors k and k+1 (so the VNA may jump either way on the 15th).
    ipca = rng.uniform(0.0030, 0.0050, size=len(anchors))
    proj = np.clip(ipca + rng.normal(0.0, 0.0005, size=len(anchors)), 0.0, None)
    level = _VNA0 * np.cumprod(np.concatenate([[1.0], 1.0 + ipca[:-1]]))
    d64 = np.array(dates, dtype="datetime64[D]")
    a64 = np.array(anchors, dtype="datetime64[D]")
    k = np.searchsorted(a64, d64, side="right") - 1  # last 15th on or before the date
    x = (d64 - a64[k]).astype(float) / (a64[k + 1] - a64[k]).astype(float)
    vna = level[k] * (1.0 + proj[k]) ** x
    return np.floor(vna * 1e6 + 1e-6) / 1e6  # truncated to 6 decimals (ANBIMA)


def _simulate(rng: np.random.Generator, dates: list[date]) -> _Market:
    n = len(dates)
    d64 = np.array(dates, dtype="datetime64[D]")
    session = np.is_busday(d64, busdaycal=cal.B3)
    x = _ar_paths(rng, n, session)
    selic = _copom(rng, dates, x[:, 0])
    fx = np.exp(x[:, 2])
    intraday = np.concatenate([[x[0, 2]], x[:-1, 2] + 0.55 * np.diff(x[:, 2])])
    ptax = np.exp(intraday + rng.normal(0.0, 0.0015, size=n))
    shocks = rng.normal(0.0, _EQ_IDIO_VOL, size=(n, len(_EQUITIES))) * session[:, None]
    idio = np.zeros_like(shocks)
    for t in range(1, n):  # idiosyncratic AR(1) of each stock
        idio[t] = (1.0 - _EQ_IDIO_KAPPA) * idio[t - 1] + shocks[t]
    equities = {
        ticker: p0 * np.exp(beta * (x[:, 3] - x[0, 3]) + idio[:, j])
        for j, (ticker, (_, p0, beta)) in enumerate(_EQUITIES.items())
    }
    return _Market(
        d64=d64, session=session, cdi=np.round(selic - _CDI_SPREAD, 6), m=x[:, 0], s=x[:, 1],
        fx=np.round(fx, 4), ptax=np.round(ptax, 4), ibov=np.exp(x[:, 3]), real=x[:, 4],
        cupom=x[:, 5], vna=_vna_path(rng, dates), equities=equities,
    )


def _di_curve(mk: _Market, t: np.ndarray, du: np.ndarray) -> np.ndarray:
    tau = du / 252.0
    phi1 = 1.0 - np.exp(-tau / 0.25)
    phi2 = np.clip((tau - 1.0) / 4.0, 0.0, 1.0)
    return mk.cdi[t] * (1.0 - phi1) + mk.m[t] * phi1 + mk.s[t] * phi2


def _cupom_curve(mk: _Market, t: np.ndarray, dc: np.ndarray) -> np.ndarray:
    return mk.cupom[t] + 0.0030 * (1.0 - np.exp(-dc / 365.0))


def _rows_for(inst: _Inst, mk: _Market) -> np.ndarray:
    """Indices of the dates on which the instrument has a price (its life, B3 sessions only for
    exchange instruments)."""
    last = last_price_date(inst.instrument_type, inst.maturity)
    ok = mk.session.copy() if inst.instrument_type in _EXCHANGE_TYPES \
        else np.ones(len(mk.d64), dtype=bool)
    if last is not None:
        ok &= mk.d64 <= np.datetime64(last, "D")
    return np.flatnonzero(ok)


def _price_instrument(inst: _Inst, dates: list[date], mk: _Market
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(date indices, price, rate) of one instrument over its life in the demo window."""
    t = _rows_for(inst, mk)
    kind = inst.instrument_type
    nan = np.full(len(t), np.nan)
    if kind == "EQUITY":
        return t, np.round(mk.equities[inst.instrument_id][t], 2), nan
    mat64 = np.datetime64(inst.maturity, "D")
    du = np.asarray(cal.du(mk.d64[t], np.full(len(t), mat64)), dtype=np.int64)
    dc = (mat64 - mk.d64[t]).astype(np.int64).astype(float)
    if kind == "DI1":
        rate = np.round(_di_curve(mk, t, du), 5)
        pu = np.round(np.asarray(pricing.di1_pu(rate, du), dtype=float), 2)
        return t, pu, rate
    if kind == "DDI":
        rate = np.round(_cupom_curve(mk, t, dc), 5)
        pu = np.round(np.asarray(pricing.ddi_pu(rate, dc), dtype=float), 2)
        return t, pu, rate
    if kind in ("WDO", "NDF"):
        r = _di_curve(mk, t, du)
        c = _cupom_curve(mk, t, dc)
        fwd = np.asarray(pricing.ndf_forward(mk.fx[t], r, du, c, dc), dtype=float)
        return t, (np.round(fwd * 1000.0, 3) if kind == "WDO" else np.round(fwd, 4)), nan
    if kind == "IND":
        r = _di_curve(mk, t, du)
        fut = mk.ibov[t] * ((1.0 + r) / (1.0 + _DIV_YIELD)) ** (du / 252.0)
        return t, np.round(fut, 0), nan
    if kind == "LTN":
        rate = np.round(_di_curve(mk, t, du) + 0.0005, 6)
        pu = np.asarray(pricing.ltn_pu(rate, du), dtype=float)
        return t, pu, rate
    if kind == "NTNF":
        rate = np.round(_di_curve(mk, t, du) + 0.0008, 6)
        pu = np.array([pricing.ntnf_pu(dates[i], inst.maturity, r) for i, r in zip(t, rate)],
                      dtype=float)
        return t, pu, rate
    if kind == "NTNB":
        rate = np.round(mk.real[t] + 0.0004 * (du / 252.0 - 5.0), 6)
        quote = np.array([pricing.ntnb_quote(dates[i], inst.maturity, r)
                          for i, r in zip(t, rate)], dtype=float)
        pu = np.array([pricing.ntnb_pu(v, q) for v, q in zip(mk.vna[t], quote)], dtype=float)
        return t, pu, rate
    raise InvalidInput(f"demo: no price model for instrument_type {kind}",  # pragma: no cover
                       table="instruments", row=inst.instrument_id, field="instrument_type")


def _market_prices(insts: list[_Inst], dates: list[date], mk: _Market) -> pd.DataFrame:
    frames = []
    darr = np.array(dates, dtype=object)
    for inst in sorted(insts, key=lambda i: i.instrument_id):
        t, price, rate = _price_instrument(inst, dates, mk)
        frames.append(pd.DataFrame({
            "price_date": darr[t], "instrument_id": inst.instrument_id, "price": price,
            "rate": rate, "source": _SPECS[inst.instrument_type][6],
        }))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["price_date", "instrument_id"], kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------- book and trades


class _Book:
    """Positions by (strategy, role) and the trades that built them (a handful: plain Python)."""

    def __init__(self, rng: np.random.Generator, prices: pd.DataFrame, insts: dict[str, _Inst],
                 mk: _Market, dates: list[date], strategies: pd.DataFrame, scale: float):
        self.rng, self.insts, self.mk, self.scale = rng, insts, mk, scale
        self.px = prices.set_index(["instrument_id", "price_date"])[["price", "rate"]]
        self.t_of = {d: i for i, d in enumerate(dates)}
        self.systematic = dict(zip(strategies["strategy_id"], strategies["is_systematic"]))
        self.pos: dict[tuple[str, str], tuple[str, float]] = {}
        self.trades: list[dict[str, object]] = []

    # -- prices
    def settle(self, iid: str, d: date) -> tuple[float, float]:
        price, rate = self.px.loc[(iid, d)]
        return float(price), float(rate)

    def unit_brl(self, iid: str, d: date, price: float) -> float:
        """BRL notional of one unit of quantity at ``price``."""
        kind = self.insts[iid].instrument_type
        size = _SPECS[kind][3]
        fx = self.mk.fx[self.t_of[d]] if _SPECS[kind][1] == "USD" else 1.0
        return price * size * fx

    def size(self, iid: str, d: date, notional_brl: float) -> float:
        """Signed quantity for a signed BRL notional, rounded to the lot (at least one lot)."""
        lot = _SPECS[self.insts[iid].instrument_type][4]
        unit = self.unit_brl(iid, d, self.settle(iid, d)[0]) * lot
        lots = max(1.0, round(abs(notional_brl) / unit))
        return math.copysign(lots * lot, notional_brl)

    def exec_price(self, iid: str, d: date, qty: float, slippage: bool) -> float:
        price, rate = self.settle(iid, d)
        if not slippage:
            return price
        inst = self.insts[iid]
        kind = inst.instrument_type
        side = 1.0 if qty > 0 else -1.0
        if kind in ("DI1", "DDI"):  # adverse by 0.1-0.5 bp in rate: a PU buyer gets a lower rate
            r = rate - side * self.rng.uniform(0.1, 0.5) * 1e-4
            if kind == "DI1":
                du = cal.du(d, inst.maturity)
                return round(float(pricing.di1_pu(r, du)), 2)
            return round(float(pricing.ddi_pu(r, (inst.maturity - d).days)), 2)  # type: ignore
        p = price * (1.0 + side * self.rng.uniform(0.5, 3.0) * 1e-4)
        tick = {"WDO": 0.5, "IND": 5.0, "NDF": 1e-4, "EQUITY": 0.01}.get(kind)
        if tick is None:  # bonds: PU to 6 decimals
            return round(p, 6)
        return round(round(p / tick) * tick, 6)

    # -- trading
    def trade(self, d: date, strategy: str, iid: str, qty: float, slippage: bool) -> None:
        if qty == 0:
            return
        price = self.exec_price(iid, d, qty, slippage)
        kind = self.insts[iid].instrument_type
        cost = abs(qty) * self.unit_brl(iid, d, price) * COST_BPS[kind] / 1e4
        self.trades.append({
            "trade_date": d, "instrument_id": iid, "strategy_id": strategy,
            "quantity": float(qty), "price": price, "cost_brl": round(cost, 2),
            "source": "SYSTEMATIC" if self.systematic[strategy] else "DISCRETIONARY",
            "proposal_id": None,
        })

    def set(self, d: date, strategy: str, role: str, iid: str, target: float,
            slippage: bool) -> None:
        """Move the (strategy, role) position to ``target`` units of ``iid``."""
        old_iid, old_q = self.pos.get((strategy, role), (iid, 0.0))
        if old_iid != iid and old_q:
            self.trade(d, strategy, old_iid, -old_q, slippage)
            old_q = 0.0
        self.trade(d, strategy, iid, target - old_q, slippage)
        self.pos[(strategy, role)] = (iid, target)

    def frame(self) -> pd.DataFrame:
        out = pd.DataFrame(self.trades, columns=_COLUMNS["trades"][1:])
        out.insert(0, "trade_id", [f"DEMO-{r['trade_date']:%Y%m%d}-{i + 1:04d}"
                                   for i, r in enumerate(self.trades)])
        out["proposal_id"] = out["proposal_id"].astype(object)
        return out


def _event_day(dates: list[date], frac: float) -> date:
    """The B3 session at (or just after) a fraction of the demo window."""
    i = int(round(frac * (len(dates) - 1)))
    after = [d for d in dates[i:] if cal.is_b3_session(d)]
    return after[0] if after else [d for d in dates if cal.is_b3_session(d)][-1]


def _build_trades(rng: np.random.Generator, dates: list[date], hist: list[date], mk: _Market,
                  prices: pd.DataFrame, roles: dict[str, _Inst],
                  chains: dict[str, list[tuple[_Inst, date]]], strategies: pd.DataFrame,
                  nav: float) -> pd.DataFrame:
    insts = {i.instrument_id: i for i in roles.values()}
    for chain in chains.values():
        insts.update({i.instrument_id: i for i, _ in chain})
    book = _Book(rng, prices, insts, mk, hist, strategies, nav / 250e6)
    open_day = _open_day(dates)

    def role_iid(role: str, d: date) -> str:
        if role in chains:
            return next(i.instrument_id for i, roll in chains[role] if roll > d)
        return roles[role].instrument_id

    # Day one: the whole book at settlement prices.
    for strategy, role, direction, notional in _BOOK:
        iid = role_iid(role, open_day)
        if role == "DI4" and strategy == "RATES_BR_03":  # DV01-neutral leg of the flattener
            q2 = book.pos[(strategy, "DI2")][1]
            dv = {r: _di1_dv01(book, roles[r], open_day) for r in ("DI2", "DI4")}
            qty = float(max(1, round(abs(q2) * dv["DI2"] / dv["DI4"]))) * direction
        else:
            qty = book.size(iid, open_day, direction * notional * 1e6 * book.scale)
        book.set(open_day, strategy, role, iid, qty, slippage=False)

    # Later: rolls and discretionary events in date order (rolls first on a shared day).
    actions: list[tuple[date, int, tuple[object, ...]]] = []
    for (strategy, role, _dir, _n) in _BOOK:
        if role in chains:
            for inst, roll in chains[role][:-1]:
                actions.append((roll, 0, ("ROLL", strategy, role)))
    for frac, strategy, role, what, arg in _EVENTS:
        actions.append((_event_day(dates, frac), 1, (what, strategy, role, arg)))
    for d, _prio, act in sorted(actions, key=lambda a: (a[0], a[1])):
        what, strategy, role = str(act[0]), str(act[1]), str(act[2])
        iid = role_iid(role, d)
        _, q = book.pos.get((strategy, role), (iid, 0.0))
        lot = _SPECS[insts[iid].instrument_type][4]
        if what == "ROLL":
            book.set(d, strategy, role, iid, q, slippage=True)
        elif what in ("ADD", "OPEN"):
            add = book.size(iid, d, float(act[3]) * 1e6 * book.scale)  # type: ignore[arg-type]
            book.set(d, strategy, role, iid, q + add, slippage=True)
        elif what == "CUT":
            cut = max(lot, round(abs(q) * float(act[3]) / lot) * lot)  # type: ignore[arg-type]
            book.set(d, strategy, role, iid, q - math.copysign(cut, q), slippage=True)
        elif what == "FLIP":
            new = book.size(iid, d, float(act[3]) * 1e6 * book.scale)  # type: ignore[arg-type]
            book.set(d, strategy, role, iid, new, slippage=True)
        elif what == "CLOSE":
            book.set(d, strategy, role, iid, 0.0, slippage=True)
    return book.frame()


def _di1_dv01(book: _Book, inst: _Inst, d: date) -> float:
    price, rate = book.settle(inst.instrument_id, d)
    du = cal.du(d, inst.maturity)
    return du / 252.0 * price / (1.0 + rate) * 1e-4  # finance-conventions.md §2.1


# ----------------------------------------------------------------------------- signals, flows


def _signals(rng: np.random.Generator, dates: list[date]) -> pd.DataFrame:
    pairs = [(sid, gid) for sid, _, _, _, gids in STRATEGIES for gid in gids]
    n, p = len(dates), len(pairs)
    mu = np.empty((n, p))
    base = rng.normal(0.0, 0.25, size=p)
    for j, pair in enumerate(pairs):
        steps = _SIGNAL_BIAS.get(pair)
        if steps is None:
            mu[:, j] = base[j]
            continue
        mu[:, j] = steps[0][1]
        for frac, bias in steps[1:]:
            k = dates.index(_event_day(dates, frac))
            lo = max(0, k - _RAMP_DAYS)
            prev = mu[lo, j]
            mu[lo:k, j] = prev + (bias - prev) * np.arange(1, k - lo + 1) / (k - lo + 1)
            mu[k:, j] = bias
    eps = rng.normal(0.0, _SIGNAL_SD * math.sqrt(1 - _SIGNAL_PHI**2), size=(n, p))
    x = np.empty((n, p))
    x[0] = rng.normal(0.0, _SIGNAL_SD, size=p)
    for t in range(1, n):  # AR(1) recursion over dates, vectorized across the series
        x[t] = _SIGNAL_PHI * x[t - 1] + eps[t]
    conv = np.round(np.tanh(mu + x), 4)
    return pd.DataFrame({
        "signal_date": np.repeat(np.array(dates, dtype=object), p),
        "strategy_id": np.tile([s for s, _ in pairs], n),
        "signal_id": np.tile([g for _, g in pairs], n),
        "conviction": conv.ravel(),
    }).sort_values(["signal_date", "strategy_id", "signal_id"], kind="stable"
                   ).reset_index(drop=True)


def _capital_flows(dates: list[date], nav: float) -> pd.DataFrame:
    rows = [{"flow_date": _event_day(dates, frac), "kind": kind,
             "amount_brl": round(nav * share / 1e5) * 1e5}
            for frac, kind, share in _FLOWS]
    return pd.DataFrame(rows, columns=_COLUMNS["capital_flows"])


# ----------------------------------------------------------------------------- entry point


def generate(seed: int, end: date, n_days: int = 260, nav: float = 250e6) -> DemoData:
    """Build the whole demo fund for ``n_days`` ANBIMA business days ending on ``end``.

    Deterministic for ``(seed, end, n_days, nav)``: a single ``numpy.random.Generator(PCG64(seed))``
    drives, in a fixed order, the market factors, COPOM, VNA, equities, slippage and signals.

    Raises:
        NotBusinessDay: ``end`` is not an ANBIMA business day.
        InvalidInput: ``n_days`` < 40 or ``nav`` <= 0.
    """
    if not nav > 0:
        raise InvalidInput(f"demo: nav {nav} must be positive", table="demo", field="nav")
    rng = np.random.default_rng(seed)
    dates = _demo_dates(end, n_days)
    roles, chains = _book_instruments(dates, end)
    ref = _reference(roles, chains, end)
    insts = {i.instrument_id: i for i in roles.values()}
    for chain in chains.values():
        insts.update({i.instrument_id: i for i, _ in chain})

    # Fixings start one business day before inception: day one's MTM needs PTAX of t-1 (DDI).
    hist = [cal.previous_business_day(dates[0])] + dates
    mk = _simulate(rng, hist)
    prices = _market_prices(list(insts.values()), hist, mk)
    prices = prices[prices["price_date"] >= dates[0]].reset_index(drop=True)
    trades = _build_trades(rng, dates, hist, mk, prices, roles, chains, ref["strategies"], nav)
    signals = _signals(rng, dates)

    darr = np.array(hist, dtype=object)
    n = len(hist)
    fx = pd.DataFrame({
        "fixing_date": np.concatenate([darr, darr]), "pair": "USDBRL",
        "kind": ["PTAX"] * n + ["CLOSE"] * n, "rate": np.concatenate([mk.ptax, mk.fx]),
    }).sort_values(["fixing_date", "kind"], kind="stable").reset_index(drop=True)
    cdi = pd.DataFrame({"fixing_date": darr, "rate": mk.cdi})
    vna = pd.DataFrame({"ref_date": darr, "index_name": "NTNB", "value": mk.vna})
    fund = pd.DataFrame({"fund_id": [FUND_ID], "name": [FUND_NAME], "inception_date": [dates[0]],
                         "initial_nav": [float(nav)]}, columns=_COLUMNS["fund"])
    fund["inception_date"] = fund["inception_date"].astype(object)
    return DemoData(
        fund=fund, instruments=ref["instruments"], strategies=ref["strategies"],
        instrument_aliases=ref["instrument_aliases"], market_prices=prices, fx_fixings=fx,
        cdi_fixings=cdi, vna=vna, trades=trades, signals=signals,
        capital_flows=_capital_flows(dates, nav), start=dates[0], end=end,
        initial_nav=float(nav), seed=seed,
    )
