"""ANBIMA's daily file of federal government bonds (``tpf_<yyyymmdd>.txt``): rate and PU.

**The file.** Latin-1 text, CRLF line ends, fields separated by ``@``, numbers with a
decimal comma, dates ``YYYYMMDD``. Line 1 is a title (``ANBIMA - Associação Brasileira…``),
line 2 is blank, line 3 the header, then one line per bond:

=====================  ============================================================  ========
column                 meaning                                                        read as
=====================  ============================================================  ========
Titulo                 LTN, NTN-F, NTN-B, LFT (NTN-C and others: counted, skipped)   text
Data Referencia        the reference date of the file                                date
Codigo SELIC           the bond's SELIC code (100000 LTN, 950199 NTN-F …)            text
Data Base/Emissao      base date (NTN-B, LFT: the index's base) or issue date        date
Data Vencimento        maturity                                                      date
Tx. Compra             bid rate, percent a.a.                                        decimal
Tx. Venda              ask rate, percent a.a.                                        decimal
Tx. Indicativas        indicative rate, percent a.a. (up to 4 decimals)              decimal
PU                     indicative unit price, R$ (up to 6 decimals)                  R$
=====================  ============================================================  ========

The columns after PU (standard deviation, the D0/D+1 intervals, ``Criterio``) are not read.

**Units.** Rates are converted from percent to the store's decimals (14,7140 -> 0.14714,
rounded to 12 decimals: exact). LTN, NTN-F and NTN-B rates are yields (base 252); the LFT's
is its premium or discount over Selic, which is why it is near zero and may be negative.
PU as published (ANBIMA truncates LTN/NTN-F PUs to 6 decimals; the NTN-B PU is
trunc6(VNA × cotação / 100)).

Types are renamed to the store's: NTN-F -> ``NTNF``, NTN-B -> ``NTNB``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd

from pms_luigi.core.validation import PU_MAX, RATE_MAX
from pms_luigi.ingest.common import (
    Source,
    check,
    dates,
    decode,
    expected,
    invalid,
    lines_of,
    numbers,
    percent_to_decimal,
    read_bytes,
    same_date,
    unique,
)
from pms_luigi.ingest.tickers import bond_ids

__all__ = ["BOND_TYPES", "HEADER", "TpfFile", "market_prices", "read_tpf"]

#: The header's first nine columns, the ones read (the file may carry more after them).
HEADER: Final = ("Titulo", "Data Referencia", "Codigo SELIC", "Data Base/Emissao",
                 "Data Vencimento", "Tx. Compra", "Tx. Venda", "Tx. Indicativas", "PU")
#: Bonds read: ANBIMA's name -> the store's type.
BOND_TYPES: Final = MappingProxyType({"LTN": "LTN", "NTN-F": "NTNF", "NTN-B": "NTNB",
                                      "LFT": "LFT"})
_SEPARATOR: Final = "@"
_HEADER_LINE: Final = 3
_OTHER_SEPARATORS: Final = (";", "\t", ",", "|")


@dataclass(frozen=True)
class TpfFile:
    """One ANBIMA government-bond file, parsed.

    Attributes:
        file_name: the file as received.
        ref_date: the ``Data Referencia`` every line carries.
        bonds: the LTN, NTN-F, NTN-B and LFT lines in file order. Columns: ``line`` (the
            file's line number), ``title`` (as written), ``bond_type`` (LTN NTNF NTNB LFT),
            ``ref_date``, ``selic_code``, ``base_date``, ``maturity`` (dates as
            ``datetime.date``), ``bid_rate``, ``ask_rate``, ``rate`` (decimals), ``pu``.
        counts: lines per ``Titulo``: columns ``title``, ``kept`` (bool), ``count``.
    """

    file_name: str
    ref_date: date
    bonds: pd.DataFrame = field(repr=False)
    counts: pd.DataFrame = field(repr=False)


def _header(lines: list[str], file_name: str) -> list[str]:
    """The header's columns, after checking the title line, the blank line and the
    separator."""
    if len(lines) < _HEADER_LINE:
        raise invalid(file_name, f"line {len(lines) + 1}", "header",
                      "the file ends before its header (title, blank line, header)")
    if _SEPARATOR in lines[0] or not lines[0].strip():
        raise invalid(file_name, "line 1", "title", "expected the title line", lines[0])
    if lines[1].strip():
        raise invalid(file_name, "line 2", "title", "expected a blank line", lines[1])
    header = lines[_HEADER_LINE - 1]
    if _SEPARATOR not in header:
        used = [s for s in _OTHER_SEPARATORS if s in header]
        hint = f"separated by {used[0]!r}" if used else "not separated"
        raise invalid(file_name, f"line {_HEADER_LINE}", "header",
                      f"fields {hint}: ANBIMA's file separates them by '@'", header)
    columns = header.split(_SEPARATOR)
    if tuple(columns[:len(HEADER)]) != HEADER:
        raise invalid(file_name, f"line {_HEADER_LINE}", "header",
                      f"expected the columns {'@'.join(HEADER)}@…", header)
    return columns


def _table(lines: list[str], width: int, file_name: str) -> pd.DataFrame:
    """The bond lines as text columns (the first nine), each line's field count checked."""
    body = lines[_HEADER_LINE:]
    if not body:
        raise invalid(file_name, f"line {_HEADER_LINE + 1}", "Titulo",
                      "header only: the file has no bond line")
    fields = [line.split(_SEPARATOR) for line in body]
    numbers_of = np.array([len(f) for f in fields])
    where = [f"line {_HEADER_LINE + 1 + i}" for i in range(len(body))]
    check(numbers_of == width, where, body, file_name, "Titulo",
          f"expected {width} fields separated by '@' (as the header)")
    out = pd.DataFrame([f[:len(HEADER)] for f in fields], columns=list(HEADER), dtype=object)
    out.insert(0, "line", np.arange(_HEADER_LINE + 1, _HEADER_LINE + 1 + len(body)))
    out["where"] = where
    return out


def _bonds(raw: pd.DataFrame, file_name: str, day: date) -> pd.DataFrame:
    """The kept lines as typed columns, every field checked."""
    kept = raw[raw["Titulo"].isin(BOND_TYPES)].reset_index(drop=True)
    where = kept["where"].tolist()
    text = {c: kept[c].tolist() for c in HEADER}
    out = pd.DataFrame({"line": kept["line"].to_numpy(), "title": kept["Titulo"],
                        "bond_type": kept["Titulo"].map(BOND_TYPES)})
    out["ref_date"] = np.array([day] * len(out), dtype=object)
    check(kept["Codigo SELIC"].str.fullmatch(r"\d{6}").to_numpy(dtype=bool), where,
          text["Codigo SELIC"], file_name, "Codigo SELIC", "not a six-digit SELIC code")
    out["selic_code"] = kept["Codigo SELIC"]
    out["base_date"] = dates(text["Data Base/Emissao"], where, file_name, "Data Base/Emissao",
                             "%Y%m%d")
    out["maturity"] = dates(text["Data Vencimento"], where, file_name, "Data Vencimento",
                            "%Y%m%d")
    check(out["maturity"].to_numpy() > day, where, text["Data Vencimento"], file_name,
          "Data Vencimento", f"matures on or before the file's date {day.isoformat()}")
    for column, name, optional in (("bid_rate", "Tx. Compra", True),
                                   ("ask_rate", "Tx. Venda", True),
                                   ("rate", "Tx. Indicativas", False)):
        values = numbers(text[name], where, file_name, name, decimal=",", optional=optional)
        check(~(np.abs(values) >= RATE_MAX * 100), where, text[name], file_name, name,
              "out of range: a rate in percent a.a. lies between -100 and 100")
        out[column] = percent_to_decimal(values)
    pu = numbers(text["PU"], where, file_name, "PU", decimal=",")
    cap = out["bond_type"].map(PU_MAX).fillna(np.inf).to_numpy()
    check((pu > 0) & (pu <= cap), where, text["PU"], file_name, "PU",
          "out of range: a PU is > 0 (and an LTN's at most its face, 1,000)")
    out["pu"] = pu
    unique(list(zip(out["bond_type"], out["maturity"], strict=True)), where, file_name,
           "Data Vencimento", text["Data Vencimento"])
    return out


def _counts(titles: pd.Series) -> pd.DataFrame:
    out = titles.value_counts(sort=False).rename("count").rename_axis("title").reset_index()
    out.insert(1, "kept", out["title"].isin(BOND_TYPES))
    return out.sort_values(["kept", "title"], ascending=[False, True]).reset_index(drop=True)


def read_tpf(source: Source, file_name: str, *, expected_date: object = None) -> TpfFile:
    """Parse ANBIMA's government-bond file.

    Args:
        source: the file's bytes, or a binary file object at its start.
        file_name: the file's name, for messages.
        expected_date: the date the file must be for (the landing folder's), or None.

    Returns:
        The :class:`TpfFile`: LTN, NTN-F, NTN-B and LFT rows, and the lines per title.

    Raises:
        InvalidInput: empty file; bytes that are not Latin-1 (a UTF-8 file); no title, blank
            line or header where expected; fields separated by anything but ``@``; header
            only; a line with another number of fields; a date that is not ``YYYYMMDD`` (a
            day-first ``06/02/2026`` included) or another reference date; a number without
            its decimal comma; a rate or PU out of range; a bond twice. The message names
            the file, the line, the column and the value as written.

    Examples:
        >>> text = ("ANBIMA\\r\\n\\r\\n" + "@".join(HEADER) + "\\r\\n"
        ...         "LTN@20260206@100000@20240105@20260401@14,7216@14,7071@14,714@980,58076\\r\\n"
        ...         "NTN-C@20260206@770100@20000701@20310101@8,0572@7,9015@7,9787@7567,6779\\r\\n")
        >>> tpf = read_tpf(text.encode("latin-1"), "tpf_20260206.txt")
        >>> tpf.bonds[["bond_type", "maturity", "rate", "pu"]].to_dict("records")
        [{'bond_type': 'LTN', 'maturity': datetime.date(2026, 4, 1), 'rate': 0.14714, \
'pu': 980.58076}]
        >>> tpf.counts.to_dict("records")
        [{'title': 'LTN', 'kept': True, 'count': 1}, {'title': 'NTN-C', 'kept': False, 'count': 1}]
    """
    want = expected(expected_date)
    lines = lines_of(decode(read_bytes(source, file_name), file_name, "latin-1"))
    columns = _header(lines, file_name)
    raw = _table(lines, len(columns), file_name)
    where = raw["where"].tolist()
    found = dates(raw["Data Referencia"].tolist(), where, file_name, "Data Referencia",
                  "%Y%m%d")
    day = same_date(found, raw["Data Referencia"].tolist(), where, file_name, "Data Referencia",
                    want)
    return TpfFile(file_name=file_name, ref_date=day, bonds=_bonds(raw, file_name, day),
                   counts=_counts(raw["Titulo"]))


def market_prices(tpf: TpfFile) -> pd.DataFrame:
    """The bonds in the ``market_prices`` table's shape (source ``ANBIMA``).

    Returns:
        Columns: ``price_date`` (the reference date), ``instrument_id`` (the store's bond id:
        ``LTN_2026-04-01``, ``NTNB_2035``…), ``price`` (the PU), ``rate`` (the indicative
        rate, decimal), ``source``.
    """
    b = tpf.bonds
    return pd.DataFrame({
        "price_date": b["ref_date"],
        "instrument_id": bond_ids(b["bond_type"], b["maturity"]),
        "price": b["pu"], "rate": b["rate"], "source": "ANBIMA"})
