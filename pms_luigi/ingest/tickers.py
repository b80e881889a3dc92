"""Instruments from real codes: B3 futures tickers and the Treasury bonds of ANBIMA's file.

**B3 futures tickers** are ``<family><month letter><yy>``: ``DI1F26`` is the DI1 of January
2026. Month letters F G H J K M N Q U V X Z are January .. December; ``yy`` is the year in
2000-2099. The maturity (B3's contract specifications):

======  ====================================================================================
DI1     first B3 session of the contract month (every month)
DDI     first B3 session of the contract month (every month)
FRC     first B3 session of the contract month (the DDI leg it ends on)
DOL     first B3 session of the contract month (every month)
WDO     first B3 session of the contract month (every month)
DAP     the 15th of the contract month, or the next B3 session when the 15th has none
IND     the Wednesday nearest the 15th of the contract month (even months only: G J M Q V
        Z), or the next B3 session when that Wednesday has none
WIN     as IND
======  ====================================================================================

"The Wednesday nearest the 15th": the 15th itself when it is a Wednesday; a Thursday 15th
gives the 14th, a Sunday 15th the 18th (three days after beats four days before).

The first session of a month is also its first ANBIMA business day: the days B3 closes and
ANBIMA does not (Dec 24, the year's last business day, São Paulo holidays before 2022) never
start a month, so the ids and maturities match the demo's. Maturities use today's calendar:
the days where the point-in-time calendars differ (Nov 20 from 2024) are never the first
session of a month, an IND/WIN Wednesday (even months) or a DAP rolled from Nov 15.

**Bonds** come by type and maturity from ANBIMA's file, with the demo's ids: ``LTN_<ISO
maturity>``, ``LFT_<ISO maturity>`` (several a year), ``NTNF_<year>`` (always 1 January) and
``NTNB_<year>`` (15 May or 15 August; one NTN-B a year).

The rows have the columns of the ``instruments`` table. Contracts the book does not hold are
kept: the curves are built from the whole published curve.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from types import MappingProxyType
from typing import Final, NamedTuple

import numpy as np
import pandas as pd

from pms_luigi.core import calendar as cal
from pms_luigi.core.errors import InvalidInput

__all__ = ["BOND_SPECS", "FUTURES_SPECS", "INSTRUMENT_COLUMNS", "MONTH_CODES", "Spec",
           "bond_id", "bond_ids", "bond_instruments", "futures_instruments", "futures_maturities",
           "split_tickers"]

#: B3's month letters, January .. December.
MONTH_CODES: Final = "FGHJKMNQUVXZ"
_MONTH_ABBR: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                      "Nov", "Dec")
#: The columns of the ``instruments`` table, in its order.
INSTRUMENT_COLUMNS: Final = ("instrument_id", "name", "asset_class", "instrument_type",
                             "currency", "exchange", "maturity_date", "contract_size",
                             "lot_size", "underlying", "is_active")


class Spec(NamedTuple):
    """What the ``instruments`` row of one kind says besides its id and maturity."""

    asset_class: str
    currency: str
    exchange: str
    contract_size: float  # value of one price point in ``currency``
    lot_size: float  # tradable quantity increment (one contract, one bond)
    underlying: str | None
    name: str  # "{}" takes the month and year ("Jan/2026") or the maturity ("01/07/2027")


#: Futures families read from B3's price report. contract_size: DI1 R$ 1 per PU point;
#: DDI and FRC US$ 0.50 per point; DOL US$ 50,000 quoted in R$ per US$ 1,000 = R$ 50 per
#: point, WDO R$ 10; IND R$ 1 per index point, WIN R$ 0.20; DAP R$ 0.00025 per point *times
#: the IPCA index* (pro rata): the multiplier alone is stored, the index is not constant.
FUTURES_SPECS: Final = MappingProxyType({
    "DI1": Spec("RATES", "BRL", "B3", 1.0, 1.0, "CDI",
                "DI1 {} (one-day interbank deposit future)"),
    "DDI": Spec("CUPOM", "USD", "B3", 0.5, 1.0, "CUPOM", "DDI {} (cupom cambial future)"),
    "FRC": Spec("CUPOM", "USD", "B3", 0.5, 1.0, "CUPOM", "FRC {} (FRA on cupom cambial)"),
    "DAP": Spec("INFLATION", "BRL", "B3", 0.00025, 1.0, "IPCA", "DAP {} (IPCA coupon future)"),
    "DOL": Spec("FX", "BRL", "B3", 50.0, 1.0, "USDBRL", "US dollar future {}"),
    "WDO": Spec("FX", "BRL", "B3", 10.0, 1.0, "USDBRL", "Mini US dollar future {}"),
    "IND": Spec("EQUITY", "BRL", "B3", 1.0, 1.0, "IBOV", "Ibovespa future {}"),
    "WIN": Spec("EQUITY", "BRL", "B3", 0.2, 1.0, "IBOV", "Mini Ibovespa future {}"),
})
#: Treasury bonds by the store's type (ANBIMA writes NTN-F / NTN-B).
BOND_SPECS: Final = MappingProxyType({
    "LTN": Spec("RATES", "BRL", "TESOURO", 1.0, 1.0, None, "LTN {}"),
    "NTNF": Spec("RATES", "BRL", "TESOURO", 1.0, 1.0, None, "NTN-F {}"),
    "NTNB": Spec("INFLATION", "BRL", "TESOURO", 1.0, 1.0, "IPCA", "NTN-B {}"),
    "LFT": Spec("RATES", "BRL", "TESOURO", 1.0, 1.0, "SELIC", "LFT {}"),
})
_FIRST_SESSION: Final = frozenset({"DI1", "DDI", "FRC", "DOL", "WDO"})
_IBOV: Final = frozenset({"IND", "WIN"})
_TICKER: Final = re.compile(r"([A-Z0-9]{3})([A-Z])(\d{2})")
_BY_YEAR: Final = frozenset({"NTNF", "NTNB"})


def split_tickers(tickers: Iterable[str]) -> pd.DataFrame:
    """B3 futures tickers as (family, year, month), checked against the families read.

    Returns:
        Columns: ``ticker``, ``family``, ``year`` (2000-2099), ``month`` (1-12), in order.

    Raises:
        InvalidInput: a ticker of another shape or family, an unknown month letter, or an
            IND/WIN in an odd month (``table`` "tickers", ``row`` the ticker).

    Examples:
        >>> split_tickers(["DI1F26", "INDZ25"]).to_dict("records")[1]
        {'ticker': 'INDZ25', 'family': 'IND', 'year': 2025, 'month': 12}
        >>> split_tickers(["DI1I26"])
        Traceback (most recent call last):
        ...
        pms_luigi.core.errors.InvalidInput: ticker 'DI1I26': month letter 'I' is not one of \
FGHJKMNQUVXZ
    """
    text = pd.Series(list(tickers), dtype=object)
    parts = text.str.extract(f"^{_TICKER.pattern}$").rename(
        columns={0: "family", 1: "letter", 2: "yy"})
    month = parts["letter"].map(lambda c: MONTH_CODES.find(c) + 1 if isinstance(c, str) else 0)
    for bad, problem in (
            (~parts["family"].isin(FUTURES_SPECS),
             f"not <family><month letter><yy> of a family read ({', '.join(FUTURES_SPECS)})"),
            (month == 0, f"month letter {{letter!r}} is not one of {MONTH_CODES}"),
            (parts["family"].isin(_IBOV) & (month % 2 == 1),
             "{family} matures in even months only (G J M Q V Z)")):
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            ticker = text.iloc[i]
            raise InvalidInput(f"ticker {ticker!r}: " + problem.format(**parts.iloc[i]),
                               table="tickers", row=ticker, field="ticker")
    return pd.DataFrame({"ticker": text, "family": parts["family"].astype(object),
                         "year": 2000 + parts["yy"].astype("int64"),
                         "month": month.astype("int64")})


def futures_maturities(families: np.ndarray, years: np.ndarray, months: np.ndarray
                       ) -> np.ndarray:
    """Each contract's maturity by its family's rule (module docstring), ``datetime64[D]``.

    Examples:
        A holiday month start (1 Jan 2026 -> Friday the 2nd), an IND whose 15th is a Sunday
        (Feb 2026 -> Wednesday the 18th) and a DAP whose 15th is a Saturday (Aug 2026 ->
        Monday the 17th):

        >>> futures_maturities(np.array(["DI1", "IND", "DAP"]), np.array([2026] * 3),
        ...                    np.array([1, 2, 8])).tolist()
        [datetime.date(2026, 1, 2), datetime.date(2026, 2, 18), datetime.date(2026, 8, 17)]
    """
    families = np.asarray(families, dtype=object)
    months = np.asarray(years, dtype=np.int64) * 12 + np.asarray(months, dtype=np.int64) - 1
    first = (months - (1970 * 12)).astype("datetime64[M]").astype("datetime64[D]")
    fifteenth = first + np.timedelta64(14, "D")
    weekday = (fifteenth.astype(np.int64) + 3) % 7  # Monday = 0 (1970-01-01 was a Thursday)
    ahead = (2 - weekday) % 7  # days forward to the next Wednesday
    wednesday = fifteenth + np.where(ahead > 3, ahead - 7, ahead).astype("timedelta64[D]")
    unknown = ~np.isin(families, list(FUTURES_SPECS))
    if unknown.any():
        raise InvalidInput(f"family {families[unknown][0]!r} has no maturity rule",
                           table="tickers", field="family")
    target = np.where(np.isin(families, list(_FIRST_SESSION)), first,
                      np.where(np.isin(families, list(_IBOV)), wednesday, fifteenth))
    return np.busday_offset(target, 0, roll="forward", busdaycal=cal.B3)


def _instruments(ids: Iterable[str], types: Iterable[str], maturities: np.ndarray,
                 labels: Iterable[str], specs: MappingProxyType, as_of: date) -> pd.DataFrame:
    """Rows in the ``instruments`` table's shape, sorted by id (as the demo's)."""
    types = list(types)
    spec = pd.DataFrame([specs[t] for t in types], columns=Spec._fields)
    mats = np.asarray(maturities, dtype="datetime64[D]")
    out = pd.DataFrame({
        "instrument_id": list(ids),
        "name": [s.format(label) for s, label in zip(spec["name"], labels, strict=True)],
        "asset_class": spec["asset_class"], "instrument_type": types,
        "currency": spec["currency"], "exchange": spec["exchange"],
        "maturity_date": np.array(mats.tolist(), dtype=object),
        "contract_size": spec["contract_size"].astype(float),
        "lot_size": spec["lot_size"].astype(float),
        "underlying": spec["underlying"].astype(object).where(spec["underlying"].notna(), None),
        "is_active": mats > np.datetime64(as_of, "D"),
    }, columns=list(INSTRUMENT_COLUMNS))
    text = ["instrument_id", "name", "asset_class", "instrument_type", "currency", "exchange"]
    out[text] = out[text].astype(object)  # text as object columns, as the demo's frames
    return out.sort_values("instrument_id", kind="stable").reset_index(drop=True)


def futures_instruments(tickers: Iterable[str], as_of: date) -> pd.DataFrame:
    """``instruments`` rows for B3 futures tickers (each ticker once).

    Args:
        tickers: B3 codes of the families in :data:`FUTURES_SPECS`.
        as_of: the business date of the file they come from: ``is_active`` is maturity >
            ``as_of``.

    Returns:
        Columns: :data:`INSTRUMENT_COLUMNS` (``instrument_id`` = the ticker, ``maturity_date``
        a ``datetime.date``), sorted by id.

    Raises:
        InvalidInput: as :func:`split_tickers`.

    Examples:
        >>> row = futures_instruments(["WDOF26"], date(2025, 2, 3)).iloc[0]
        >>> row["name"], row["maturity_date"], float(row["contract_size"]), bool(row["is_active"])
        ('Mini US dollar future Jan/2026', datetime.date(2026, 1, 2), 10.0, True)
    """
    codes = split_tickers(dict.fromkeys(tickers))
    families = codes["family"].to_numpy(dtype=object)
    mats = futures_maturities(families, codes["year"].to_numpy(), codes["month"].to_numpy())
    labels = [f"{_MONTH_ABBR[m - 1]}/{y}" for y, m in zip(codes["year"], codes["month"],
                                                           strict=True)]
    return _instruments(codes["ticker"], families, mats, labels, FUTURES_SPECS, as_of)


def bond_ids(bond_types: Iterable[str], maturities: Iterable[date]) -> list[str]:
    """The store's ids of Treasury bonds (the demo's scheme).

    Raises:
        InvalidInput: a type that is not one of :data:`BOND_SPECS`.

    Examples:
        >>> bond_ids(["LTN", "NTNB"], [date(2027, 7, 1), date(2035, 5, 15)])
        ['LTN_2027-07-01', 'NTNB_2035']
    """
    types = pd.Series(list(bond_types), dtype=object)
    unknown = ~types.isin(BOND_SPECS)
    if unknown.any():
        raise InvalidInput(f"bond type {types[unknown].iloc[0]!r} is not one of "
                           f"{', '.join(BOND_SPECS)}", table="instruments",
                           field="instrument_type")
    iso = pd.Series(np.array(list(maturities), dtype="datetime64[D]").astype(str))
    return (types + "_" + iso.where(~types.isin(_BY_YEAR), iso.str[:4])).tolist()


def bond_id(bond_type: str, maturity: date) -> str:
    """The id of one bond: :func:`bond_ids` of one.

    Examples:
        >>> bond_id("NTNF", date(2031, 1, 1))
        'NTNF_2031'
    """
    return bond_ids([bond_type], [maturity])[0]


def bond_instruments(bonds: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """``instruments`` rows for the bonds of ANBIMA's file.

    Args:
        bonds: columns ``bond_type`` (LTN NTNF NTNB LFT) and ``maturity`` (``datetime.date``),
            as :func:`pms_luigi.ingest.anbima_tpf.read_tpf` gives them.
        as_of: the file's reference date (``is_active`` is maturity > ``as_of``).

    Returns:
        Columns: :data:`INSTRUMENT_COLUMNS`, sorted by id.

    Raises:
        InvalidInput: two bonds would share an id (two NTN-B or NTN-F maturing the same year).

    Examples:
        >>> b = pd.DataFrame({"bond_type": ["NTNB"], "maturity": [date(2030, 8, 15)]})
        >>> bond_instruments(b, date(2026, 2, 6)).iloc[0][["instrument_id", "name"]].tolist()
        ['NTNB_2030', 'NTN-B 15/08/2030']
    """
    ids = bond_ids(bonds["bond_type"], bonds["maturity"])
    twice = pd.Series(ids).duplicated()
    if twice.any():
        raise InvalidInput(f"bonds: id {ids[int(np.flatnonzero(twice)[0])]!r} would name two "
                           "bonds (two maturities in one year)", table="instruments",
                           field="instrument_id")
    labels = [m.strftime("%d/%m/%Y") for m in bonds["maturity"]]
    return _instruments(ids, bonds["bond_type"], np.array(list(bonds["maturity"]),
                                                          dtype="datetime64[D]"),
                        labels, BOND_SPECS, as_of)
