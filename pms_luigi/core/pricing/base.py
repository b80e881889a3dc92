"""The pricer protocol: the same verbs for every instrument type, over columns of legs.

Mark-to-market values a book of many instrument types. Instead of a branch per type at every
step, it groups the positions by ``instrument_type`` and hands each group, as one set of
aligned columns (:class:`Legs`), to that type's :class:`Pricer` (the registry in
:mod:`pms_luigi.core.pricing.registry`). Each verb reads the columns of :data:`LEG_COLUMNS`
it needs and returns one value per row, so a pricer is a handful of vectorized formulas and
nothing else.

A pricer needs market fixings (PTAX, the fund's FX fixing, DI fixings, the NTN-B VNA) only
through :class:`MarketData`, which the caller implements over its own tables; every lookup
raises the library's ``Missing*`` error naming the date, so a pricer never guesses.

Conventions shared by every verb: rates are decimals (0.1105 = 11.05 % a.a.), dates are
``datetime64[D]`` columns, quantities are signed (long PU / long USD / long index > 0) and
``contract_size`` is the value of one price point (``instruments.contract_size``).

Sign of a notional (:meth:`Pricer.exposures`): + long, − short, in the contract's price
terms, so always the sign of the quantity (prices, point values and FX fixings are
positive):

* DI1: a long PU (sold the rate, "dado": receives the fixed rate) is **+**; buying the rate
  ("tomado", short PU) is −. A long-PU DI1 is the zero-coupon prefixed bond it replicates
  (its value rises when rates fall, its DV01 is negative), so it carries the sign of a held
  LTN and a bond hedged by a "tomado" DI1 nets towards zero, as their DV01s do. B3 quotes
  DI1 and DDI in rate; the ledger books them in PU, so a trade that buys the rate has a
  negative quantity;
* DDI: a long PU (sold the cupom) is +: it is long a dollar-linked zero coupon, long US$;
* DOL / WDO and NDF: long US$ is +; IND / WIN: long the index is +;
* LTN, NTN-F, NTN-B and equities: a holding is + (its market value), a short is −.

Gross notional is Σ |notional|, net notional Σ notional.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Protocol

import numpy as np
import pandas as pd

from pms_luigi.core import calendar

__all__ = [
    "EXPOSURE_COLUMNS",
    "LEG_COLUMNS",
    "PNL_COLUMNS",
    "Columns",
    "ContractSpec",
    "Legs",
    "MarketData",
    "Pricer",
    "PricerBase",
    "Terms",
    "days",
    "distinct_rows",
    "flags",
    "held",
    "moved",
    "num",
    "prev_business_day",
]

#: The columns a pricer may read from :class:`Legs` (one row per position, one type).
LEG_COLUMNS: Final[Mapping[str, str]] = MappingProxyType({
    "instrument_id": "the instrument (text)",
    "currency": "currency of the price (BRL, USD)",
    "maturity": "maturity date; NaT when the instrument has none",
    "contract_size": "value of one price point in the price currency",
    "date": "the business date D being marked",
    "prev_date": "the previous business date P; NaT on the fund's first day",
    "quantity": "signed quantity after D's trades",
    "prev_quantity": "signed quantity carried from P (0 when not held)",
    "held_quantity": "part of prev_quantity still held after D's trades (average-cost ledger)",
    "day_quantity": "signed quantity traded on D",
    "day_cash": "Σ quantity × price of D's trades",
    "price": "D's mark (settlement PU, points, R$, forward)",
    "on": "date of the price D's mark uses",
    "prev_price": "P's mark; NaN when the position was not held at P",
    "prev_on": "date of the price P's mark used; NaT when not held",
    "rate": "rate of D's mark (published, else implied); NaN for price-quoted types",
    "prev_rate": "rate of P's mark at its price date; NaN when not held",
    "settling": "the contract matures in (P, D]: D's mark is its final settlement",
    "realized": "Σ closed × (trade price − day basis) of D's trades, in price points",
    "new_lots": "Σ surviving new lots × (price − trade price), in price points",
    "avg_cost": "average cost of the position after D's trades; NaN when flat",
    "realized_total": "cumulative realized P&L of the ledger, in money of the price currency",
    "fx_rate": "BRL per unit of the price currency used on D (:meth:`Pricer.fx_rate`)",
})
#: Columns of :meth:`Pricer.daily_pnl`: BRL, before trade costs.
PNL_COLUMNS: Final = ("carry", "market", "fx", "new_trades", "realized", "total")
#: Columns of :meth:`Pricer.exposures`: BRL except ``fx_delta`` (USD), signed like the
#: quantity (see the module docstring for the sign of each type's notional).
EXPOSURE_COLUMNS: Final = ("notional", "fx_delta", "equity_delta", "market_value")


#: What :meth:`Pricer.daily_pnl` and :meth:`Pricer.exposures` return: one array per column,
#: aligned with the legs (``pd.DataFrame(columns)`` gives the frame).
Columns = dict[str, np.ndarray]


class Legs:
    """Legs of one instrument type as aligned NumPy columns: what every pricer verb reads.

    Why not a DataFrame: a mark-to-market reads a few hundred columns per date across its
    instrument groups, and a DataFrame column read or construction costs microseconds of
    pandas bookkeeping each, more than the formulas themselves on a few hundred rows. A verb
    only needs ``legs[column]`` and ``len(legs)``, which this gives over plain arrays.
    The helpers (:func:`num`, :func:`days`, :func:`flags`) read a ``pd.DataFrame`` with the
    same columns just as well, so a one-off caller may pass a frame.

    Examples:
        >>> legs = Legs({"price": [10.0, 11.0, 12.0], "quantity": [1, -2, 0]})
        >>> len(legs), legs.take(np.array([2, 0]))["price"].tolist()
        (3, [12.0, 10.0])
        >>> legs["rate"] = [0.1, 0.2]
        Traceback (most recent call last):
        ...
        ValueError: legs: column 'rate' has 2 rows, the legs have 3
    """

    __slots__ = ("_columns", "_rows")

    def __init__(self, columns: Mapping[str, object]) -> None:
        self._columns: dict[str, np.ndarray] = {}
        self._rows = -1
        for name, values in columns.items():
            self[name] = values

    def __len__(self) -> int:
        return max(self._rows, 0)

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __getitem__(self, name: str) -> np.ndarray:
        return self._columns[name]

    def __setitem__(self, name: str, values: object) -> None:
        array = np.asarray(values)
        if self._rows < 0:
            self._rows = len(array)
        elif len(array) != self._rows:
            raise ValueError(f"legs: column {name!r} has {len(array)} rows, "
                             f"the legs have {self._rows}")
        self._columns[name] = array

    @property
    def columns(self) -> list[str]:
        """The column names, in insertion order."""
        return list(self._columns)

    def take(self, rows: np.ndarray) -> Legs:
        """The legs at positions ``rows`` (integer positions or a boolean mask), copied."""
        out = Legs({})
        out._columns = {name: values[rows] for name, values in self._columns.items()}
        out._rows = len(next(iter(out._columns.values()))) if out._columns else -1
        return out


@dataclass(frozen=True)
class ContractSpec:
    """Static terms of a B3 futures contract.

    ``point_value`` is the value of one price point in ``currency`` — the number that goes in
    ``instruments.contract_size``. ``usd_per_contract`` is the USD notional of one contract
    where the contract is USD-linked (FX delta of DOL/WDO, face of DDI).
    """

    instrument_type: str
    point_value: float
    currency: str
    quote: str
    face_points: float | None = None
    usd_per_contract: float | None = None
    settlement: str = "daily ajuste, paid on t+1"


@dataclass(frozen=True)
class Terms:
    """What the mark-to-market must know about a type before it prices anything.

    Attributes:
        daily_settled: B3 futures settled by daily ajuste (no market value; nothing is
            realized), rather than a cash instrument whose value changes.
        rate_quoted: the mark is a rate's PU: the published ``rate`` is read, the rate
            implied by the price is used when none is published, and the carry / market
            split pivots on the PU at yesterday's rate.
        final_from_terms: the final settlement is fixed by the contract
            (:meth:`Pricer.settlement_price`) rather than read from ``market_prices``.
        needs_maturity: an instrument of this type without a maturity date is refused.
        spec: the B3 contract spec, whose point value ``contract_size`` must equal.
    """

    daily_settled: bool
    rate_quoted: bool
    final_from_terms: bool
    needs_maturity: bool
    spec: ContractSpec | None = None


class MarketData(Protocol):
    """The fixings a pricer reads; each lookup raises a ``Missing*`` error naming the date."""

    def ptax(self, days: np.ndarray) -> np.ndarray:
        """PTAX (USDBRL) of each day (MissingFxFixing)."""
        ...

    def fx(self, days: np.ndarray) -> np.ndarray:
        """The fund's FX fixing (USDBRL, the kind it translates at) of each day."""
        ...

    def di_fixings(self, start: np.datetime64, end: np.datetime64) -> np.ndarray:
        """DI fixings (annual decimals) of every ANBIMA business day in [start, end)."""
        ...

    def vna(self, days: np.ndarray) -> np.ndarray:
        """NTN-B VNA of each day (MissingVna)."""
        ...

    def vna_or_nan(self, days: np.ndarray) -> np.ndarray:
        """NTN-B VNA of each day, NaN where none is published."""
        ...


class Pricer(Protocol):
    """Pricing, risk and daily P&L of one instrument type over columns of legs.

    Every verb takes :class:`Legs` with (some of) the :data:`LEG_COLUMNS` for rows of this type
    and returns one value per row, in row order. Verbs that need fixings take a
    :class:`MarketData`.
    """

    instrument_type: str
    terms: Terms

    def settlement_price(self, legs: Legs, market: MarketData) -> np.ndarray:
        """Final settlement price at ``maturity`` (read: maturity, date)."""
        ...

    def rate(self, legs: Legs, market: MarketData) -> np.ndarray:
        """Rate implied by ``price`` on ``on`` (NaN for price-quoted types)."""
        ...

    def price(self, legs: Legs, market: MarketData) -> np.ndarray:
        """Price of ``rate`` on ``on`` (for a price-quoted type, the ``price`` itself)."""
        ...

    def fx_rate(self, legs: Legs, market: MarketData) -> np.ndarray:
        """BRL per unit of the price currency on D (NaN for BRL-quoted types)."""
        ...

    def daily_pnl(self, legs: Legs, market: MarketData) -> Columns:
        """P&L from P to D in BRL before costs: :data:`PNL_COLUMNS`."""
        ...

    def dv01(self, legs: Legs, market: MarketData) -> np.ndarray:
        """BRL per +1 bp per unit of quantity × contract_size, magnitude (0: no rate risk)."""
        ...

    def exposures(self, legs: Legs) -> Columns:
        """Signed exposures of ``quantity`` at ``price``: :data:`EXPOSURE_COLUMNS` (+ long,
        − short, in the contract's price terms)."""
        ...


# ------------------------------------------------------------------------------- helpers


def num(legs: Legs | pd.DataFrame, column: str) -> np.ndarray:
    """A numeric leg column as float64 (may be a read-only view: copy before writing)."""
    return np.asarray(legs[column], dtype=np.float64)


def days(legs: Legs | pd.DataFrame, column: str) -> np.ndarray:
    """A date leg column as ``datetime64[D]``."""
    return np.asarray(legs[column]).astype("datetime64[D]", copy=False)


def flags(legs: Legs | pd.DataFrame, column: str) -> np.ndarray:
    """A boolean leg column."""
    return np.asarray(legs[column], dtype=bool)


def held(legs: Legs | pd.DataFrame) -> np.ndarray:
    """Rows carried from P (non-zero ``prev_quantity``)."""
    return num(legs, "prev_quantity") != 0


def moved(legs: Legs | pd.DataFrame) -> np.ndarray:
    """Held rows whose price date advanced and that do not settle today: the rows whose
    carry / market split needs a re-price at yesterday's rate."""
    return held(legs) & ~flags(legs, "settling") & (days(legs, "on") > days(legs, "prev_on"))


def prev_business_day(d: np.ndarray) -> np.ndarray:
    """The ANBIMA business day strictly before each date (PTAX of "t−1")."""
    return np.busday_offset(d.astype("datetime64[D]"), -1, roll="forward",
                            busdaycal=calendar.ANBIMA)


def distinct_rows(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, first) for the distinct rows of aligned columns.

    ``codes[i]`` numbers row i's combination and ``first[k]`` is a row holding combination k,
    so a per-combination computation (a bond priced from its schedule, a DI factor over a
    date range) runs once per distinct value, never once per position. Each column is
    factorized on its own (NaN/NaT as one value, dates as day numbers) and folded into the
    codes so far, so no intermediate key exceeds rows × distinct values.
    """
    n = len(columns[0])
    codes = np.zeros(n, dtype=np.int64)
    for column in columns:
        c = np.asarray(column)
        if c.dtype.kind == "M":
            c = c.astype("datetime64[D]").astype(np.int64)
        col_codes, uniques = pd.factorize(c, use_na_sentinel=False)
        codes = pd.factorize(codes * len(uniques) + col_codes)[0].astype(np.int64)
    first = np.empty(int(codes.max()) + 1 if n else 0, dtype=np.int64)
    first[codes[::-1]] = np.arange(n - 1, -1, -1)
    return codes, first


@dataclass(frozen=True)
class PricerBase:
    """Defaults of the verbs for a price-quoted type without fixings or rate risk.

    Subclasses (:class:`~pms_luigi.core.pricing.futures.FuturesPricer`,
    :class:`~pms_luigi.core.pricing.cash.CashPricer`) add the daily P&L and exposures of
    their settlement style; instrument modules override what their contract defines.
    """

    instrument_type: str
    terms: Terms

    def settlement_price(self, legs: Legs, market: MarketData) -> np.ndarray:
        """No contractual final price: NaN (the mark is read from ``market_prices``)."""
        return np.full(len(legs), np.nan)

    def rate(self, legs: Legs, market: MarketData) -> np.ndarray:
        """A price-quoted type has no rate: NaN."""
        return np.full(len(legs), np.nan)

    def price(self, legs: Legs, market: MarketData) -> np.ndarray:
        """A price-quoted type's price is its quote."""
        return num(legs, "price").copy()

    def fx_rate(self, legs: Legs, market: MarketData) -> np.ndarray:
        """BRL-quoted: NaN."""
        return np.full(len(legs), np.nan)

    def dv01(self, legs: Legs, market: MarketData) -> np.ndarray:
        """No rate risk: 0."""
        return np.zeros(len(legs))

    def carry_price(self, legs: Legs, market: MarketData) -> np.ndarray:
        """The pivot of the carry / market split: the price on ``on`` at P's market.

        P&L from P's mark up to the pivot is carry, beyond it market. A price-quoted type
        has no carry (the pivot is P's price). A rate-quoted one re-prices at P's rate on
        the new price date (pull to par at an unchanged rate); on its final settlement
        day the whole move is carry. NaN where the position was not held.
        """
        pivot = num(legs, "prev_price").copy()
        if not self.terms.rate_quoted:
            return pivot
        settling = flags(legs, "settling")
        pivot[settling] = num(legs, "price")[settling]
        m = moved(legs)
        if m.any():
            at_prev = Legs({"rate": num(legs, "prev_rate")[m], "on": days(legs, "on")[m],
                            "maturity": days(legs, "maturity")[m]})
            pivot[m] = self.price(at_prev, market)
        return pivot
