"""B3's daily equity quotes (``COTAHIST_D<ddmmyyyy>.TXT``): the closes of the lot market.

**The file.** Fixed-width text (Latin-1), one 245-character record per line (CRLF or LF): a
header (type 00), one record per instrument and market (type 01), a trailer (type 99).
Positions are 1-based and inclusive, as B3's published layout numbers them:

=======  =========  =========================================================================
field    positions  meaning (type 01)
=======  =========  =========================================================================
TIPREG   1-2        record type: 00 header, 01 quote, 99 trailer
DATPRE   3-10       trade date, YYYYMMDD
CODBDI   11-12      BDI code (02 round lot, 12 real-estate funds, 14 ETFs and certificates…)
CODNEG   13-24      ticker (``PETR4``), blank-padded
TPMERC   25-27      market: 010 cash (lot), 020 odd lot, 070/080 calls/puts, … (:data:`MARKETS`)
NOMRES   28-39      the issuer's short name
ESPECI   40-49      the share's kind (``ON NM``, ``PN N1``, ``CI``…)
PREABE   57-69      open;  PREMAX 70-82 high;  PREMIN 83-95 low;  PREMED 96-108 average
PREULT   109-121    last trade: the close
PREOFC   122-134    best bid at the close;  PREOFV 135-147 best ask
TOTNEG   148-152    number of trades
QUATOT   153-170    quantity traded
VOLTOT   171-188    volume, R$
FATCOT   211-217    quotation factor: prices are per 1 share, or per 1,000 (``0001000``)
CODISI   231-242    ISIN
=======  =========  =========================================================================

Header: ``NOMARQ`` 3-15 (``COTAHIST.<yyyy>``), ``CODORI`` 16-23 (``BOVESPA``), the date the
file was made at 24-31. Trailer: the same, then ``TOTREG`` 32-42 = the number of records,
header and trailer included.

**Units.** Prices are written as 13 digits with **two implied decimals** (``0000000003812``
= R$ 38.12), volume as 18 digits with two. The price per share is the written price divided
by ``FATCOT``. Records of market 010 (the lot market: shares, units, ETFs, real-estate funds)
are kept; every other market is counted and skipped. The file has no settlement price: an
equity's close is ``PREULT``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd

from pms_luigi.ingest.common import (
    Source,
    check,
    dates,
    decode,
    expected,
    invalid,
    lines_of,
    read_bytes,
    same_date,
    unique,
)

__all__ = ["LAYOUT", "MARKETS", "RECORD_LENGTH", "CotahistFile", "market_prices",
           "read_cotahist"]

RECORD_LENGTH: Final = 245
#: Quote record fields read: name -> (first, last) 1-based inclusive positions, and how many
#: implied decimals a number has (None: text).
LAYOUT: Final = MappingProxyType({
    "DATPRE": (3, 10, None), "CODBDI": (11, 12, None), "CODNEG": (13, 24, None),
    "TPMERC": (25, 27, None), "NOMRES": (28, 39, None), "ESPECI": (40, 49, None),
    "PREABE": (57, 69, 2), "PREMAX": (70, 82, 2), "PREMIN": (83, 95, 2),
    "PREMED": (96, 108, 2), "PREULT": (109, 121, 2), "PREOFC": (122, 134, 2),
    "PREOFV": (135, 147, 2), "TOTNEG": (148, 152, 0), "QUATOT": (153, 170, 0),
    "VOLTOT": (171, 188, 2), "FATCOT": (211, 217, 0), "CODISI": (231, 242, None),
})
#: B3's market types (TPMERC).
MARKETS: Final = MappingProxyType({
    "010": "cash", "012": "exercise of calls", "013": "exercise of puts", "017": "auction",
    "020": "odd lot", "030": "forward", "050": "futures with gain retention",
    "060": "futures with continuous movement", "070": "calls", "080": "puts",
})
_LOT: Final = "010"
_COLUMNS: Final = MappingProxyType({
    "PREABE": "open", "PREMAX": "high", "PREMIN": "low", "PREMED": "average",
    "PREULT": "close", "PREOFC": "best_bid", "PREOFV": "best_ask", "TOTNEG": "trades",
    "QUATOT": "quantity", "VOLTOT": "volume", "FATCOT": "factor",
})


@dataclass(frozen=True)
class CotahistFile:
    """One daily COTAHIST file, parsed.

    Attributes:
        file_name: the file as received.
        trade_date: the ``DATPRE`` every quote carries.
        quotes: the lot-market (010) records in file order. Columns: ``line``,
            ``trade_date`` (``datetime.date``), ``ticker``, ``bdi``, ``short_name``,
            ``spec``, ``isin``, ``open``, ``high``, ``low``, ``average``, ``close``,
            ``best_bid``, ``best_ask`` (R$ as written, per ``factor`` shares), ``trades``,
            ``quantity`` (int64), ``volume`` (R$), ``factor`` (int64), ``price`` (the
            close per share: ``close / factor``).
        counts: quote records per market: ``market`` (TPMERC), ``name``, ``kept``, ``count``.
    """

    file_name: str
    trade_date: date
    quotes: pd.DataFrame = field(repr=False)
    counts: pd.DataFrame = field(repr=False)


def _field(lines: pd.Series, name: str) -> pd.Series:
    first, last, _ = LAYOUT[name]
    return lines.str.slice(first - 1, last)


def _frame(lines: list[str], file_name: str) -> pd.Series:
    """The records between header and trailer, after checking lengths, types and count."""
    where = [f"line {i + 1}" for i in range(len(lines))]
    text = pd.Series(lines, dtype=object)
    check((text.str.len() == RECORD_LENGTH).to_numpy(), where, lines, file_name, "record",
          f"not a {RECORD_LENGTH}-character record (the COTAHIST layout)")
    kind = text.str[:2].tolist()
    if kind[0] != "00" or not lines[0][2:15].startswith("COTAHIST"):
        raise invalid(file_name, "line 1", "TIPREG/NOMARQ",
                      "expected the header record 00 COTAHIST", lines[0][:15])
    if len(lines) < 2 or kind[-1] != "99":
        raise invalid(file_name, f"line {len(lines)}", "TIPREG",
                      "expected the trailer record 99: truncated file", kind[-1])
    check(np.array(kind[1:-1]) == "01", where[1:-1], kind[1:-1], file_name, "TIPREG",
          "expected a quote record 01 between header and trailer")
    total = lines[-1][31:42]
    if not total.isdigit() or int(total) != len(lines):
        raise invalid(file_name, f"line {len(lines)}", "TOTREG",
                      f"the file holds {len(lines)} records: truncated or incomplete", total)
    if len(lines) == 2:
        raise invalid(file_name, "line 2", "TIPREG", "header and trailer only: no quote")
    return text.iloc[1:-1]


def _numbers(records: pd.Series, where: list[str], file_name: str) -> pd.DataFrame:
    """The numeric fields: digits only, scaled by their implied decimals."""
    out = {}
    for name, column in _COLUMNS.items():
        _, _, decimals = LAYOUT[name]
        text = _field(records, name)
        check(text.str.fullmatch(r"\d+").to_numpy(dtype=bool), where, text.tolist(), file_name,
              name, "not digits (numbers are written as unsigned digits, implied decimals)")
        digits = text.astype(np.int64).to_numpy()
        out[column] = digits / 10 ** decimals if decimals else digits
    return pd.DataFrame(out, index=records.index)


def read_cotahist(source: Source, file_name: str, *, expected_date: object = None
                  ) -> CotahistFile:
    """Parse a daily COTAHIST file.

    Args:
        source: the file's bytes, or a binary file object at its start.
        file_name: the file's name, for messages.
        expected_date: the date the file must be for (the landing folder's), or None.

    Returns:
        The :class:`CotahistFile`: the lot-market quotes and the records per market.

    Raises:
        InvalidInput: empty file; bytes that are not Latin-1; a line that is not a
            245-character record; no header or trailer, or a trailer count that is not the
            number of records (a truncated file); a date that is not ``YYYYMMDD`` or not
            the others' or the expected one; a number field that is not digits; a close or
            factor of zero; a ticker twice in the lot market. The message names the file,
            the line and the field (B3's name) with its value as written.

    Examples:
        >>> def rec(fields: dict) -> str:
        ...     line = [" "] * RECORD_LENGTH
        ...     for (first, last), text in fields.items():
        ...         line[first - 1:last] = text.rjust(last - first + 1, "0")
        ...     return "".join(line)
        >>> zeros = {(p[0], p[1]): "0" for p in LAYOUT.values() if p[2] is not None}
        >>> head = rec({(1, 2): "00", (3, 15): "COTAHIST.2025", (24, 31): "20250203"})
        >>> quote = rec({**zeros, (1, 2): "01", (3, 10): "20250203",
        ...              (13, 24): "PETR4       ", (25, 27): "010", (109, 121): "3812",
        ...              (211, 217): "1"})
        >>> tail = rec({(1, 2): "99", (3, 15): "COTAHIST.2025", (32, 42): "3"})
        >>> c = read_cotahist("\\r\\n".join([head, quote, tail]).encode(), "COTAHIST.TXT")
        >>> c.trade_date, c.quotes[["ticker", "close", "price"]].to_dict("records")
        (datetime.date(2025, 2, 3), [{'ticker': 'PETR4', 'close': 38.12, 'price': 38.12}])
    """
    want = expected(expected_date)
    lines = lines_of(decode(read_bytes(source, file_name), file_name, "latin-1"))
    records = _frame(lines, file_name)
    where = [f"line {i + 1}" for i in records.index]
    day_text = _field(records, "DATPRE").tolist()
    day = same_date(dates(day_text, where, file_name, "DATPRE", "%Y%m%d"), day_text, where,
                    file_name, "DATPRE", want)
    market = _field(records, "TPMERC")
    counts = market.value_counts().rename("count").rename_axis("market").reset_index()
    counts.insert(1, "name", counts["market"].map(MARKETS).fillna("other"))
    counts.insert(2, "kept", counts["market"] == _LOT)
    lot = records[(market == _LOT).to_numpy()]
    where = [f"line {i + 1}" for i in lot.index]
    out = pd.DataFrame({"line": lot.index.to_numpy() + 1,
                        "trade_date": np.array([day] * len(lot), dtype=object)},
                       index=lot.index)
    for column, name in (("ticker", "CODNEG"), ("bdi", "CODBDI"), ("short_name", "NOMRES"),
                         ("spec", "ESPECI"), ("isin", "CODISI")):
        out[column] = _field(lot, name).str.strip()
    out = out.join(_numbers(lot, where, file_name))
    check((out["close"] > 0).to_numpy(), where, _field(lot, "PREULT").tolist(), file_name,
          "PREULT", "a quote record without a close")
    check((out["factor"] > 0).to_numpy(), where, _field(lot, "FATCOT").tolist(), file_name,
          "FATCOT", "a quotation factor of zero")
    unique(out["ticker"].tolist(), where, file_name, "CODNEG")
    out["price"] = out["close"] / out["factor"]
    return CotahistFile(file_name=file_name, trade_date=day,
                        quotes=out.reset_index(drop=True),
                        counts=counts.sort_values("market").reset_index(drop=True))


def market_prices(cotahist: CotahistFile) -> pd.DataFrame:
    """The lot-market closes in the ``market_prices`` table's shape (source ``B3``).

    Returns:
        Columns: ``price_date``, ``instrument_id`` (the ticker), ``price`` (the close per
        share), ``rate`` (NaN: equities have none), ``source``.
    """
    q = cotahist.quotes
    return pd.DataFrame({"price_date": q["trade_date"], "instrument_id": q["ticker"],
                         "price": q["price"], "rate": np.nan, "source": "B3"})
