"""B3's price report (``SPRD<yymmdd>.zip``): the futures settlements of one trade date.

**The file.** A zip holding one XML document, ``BVBG.187.01_<id>.xml`` (UTF-8). The root
``Document`` (namespace ``urn:bvmf.052.01.xsd``) holds ``BizFileHdr/Xchg``: first
``BizGrpDesc`` (``BizGrpDtls/BizGrpTp`` = ``BVBG.187.01``, ``TtlNbOfMsg`` = the number of
messages, ``MsgTpDef/MsgDefIdr`` = ``BVMF.217.01``), then one ``BizGrp`` per message: an
``AppHdr`` and a ``Document`` (namespace ``urn:bvmf.217.01.xsd``) with one ``PricRpt``:

==========================================  ================================================
``TradDt/Dt``                               trade date, ISO (``2025-02-03``)
``SctyId/TckrSymb``                         B3 ticker (``DI1F26``)
``FinInstrmAttrbts/AdjstdQt``               settlement price: PU for DI1/DDI/DAP, R$ per
                                            US$ 1,000 for DOL/WDO, index points for IND/WIN
``FinInstrmAttrbts/AdjstdQtTax``            settlement rate, **percent** a.a. (DI1, DAP:
                                            exponential base 252; DDI, FRC: linear base 360)
``FinInstrmAttrbts/AdjstdQtStin``           the settlement's status code, as published
``FinInstrmAttrbts/PrvsAdjstdQt`` / ``Tax``  the previous session's settlement (absent for a
                                            contract listed that day)
``FinInstrmAttrbts/OpnIntrst``              open interest, contracts
==========================================  ================================================

Numbers are written with a decimal point; the ``Ccy`` attributes say ``BRL`` throughout and
are not read. FRC settles in rate only (no ``AdjstdQt``).

**What is kept.** The futures of :data:`FAMILIES` (``<family><month letter><yy>``). Every
other message is counted by kind (:data:`KINDS`) and skipped: options (``<root><month><yy>
<C|P><strike>[E]``), other futures (other families, single-stock futures such as
``PETRPG25``) and everything else (rolls such as ``DIIF26J26``, structured trades, forward
points).

**Units.** Prices as published. Rates are converted from percent to the store's decimals
(14.901 -> 0.14901, rounded to 12 decimals: exact). B3 publishes DI1/DDI PUs to the centavo
and rates to 3 decimals of percent.

**Bounded memory.** The XML is streamed from the zip member (``iterparse``); each message is
read when its ``PricRpt`` closes and its ``BizGrp`` is then dropped from the tree, so memory
holds one message's elements, the kept rows and each message's ticker and date (for the
counts and the duplicate check), never the document.
"""
from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import IO, Final

import numpy as np
import pandas as pd

from pms_luigi.core.validation import PU_MAX, RATE_MAX
from pms_luigi.ingest.common import (
    Source,
    check,
    dates,
    expected,
    invalid,
    numbers,
    percent_to_decimal,
    same_date,
    unique,
)
from pms_luigi.ingest.tickers import FUTURES_SPECS, MONTH_CODES

__all__ = ["FAMILIES", "KINDS", "PriceReport", "market_prices", "read_price_report"]

#: The futures families whose settlements are kept.
FAMILIES: Final = tuple(FUTURES_SPECS)
#: Message kinds counted: kept futures, futures of other families, options, anything else.
KINDS: Final = ("future", "other_future", "option", "other")
_GROUP_TYPE: Final = "BVBG.187.01"
_MESSAGE_TYPE: Final = "BVMF.217.01"
_PRICE_NS: Final = "{urn:bvmf.217.01.xsd}"
_KEPT: Final = re.compile(rf"({'|'.join(FAMILIES)})([{MONTH_CODES}]\d{{2}})")
_FUTURE: Final = rf"[A-Z0-9]{{3}}(?:[A-Z0-9]{{2}})?[{MONTH_CODES}]\d{{2}}"
_OPTION: Final = rf"[A-Z0-9]{{3}}[{MONTH_CODES}]\d{{2}}[CP]\d{{6}}E?"
#: The kept fields: column -> path under PricRpt.
_FIELDS: Final = MappingProxyType({
    "price": "{*}FinInstrmAttrbts/{*}AdjstdQt",
    "rate": "{*}FinInstrmAttrbts/{*}AdjstdQtTax",
    "previous_price": "{*}FinInstrmAttrbts/{*}PrvsAdjstdQt",
    "previous_rate": "{*}FinInstrmAttrbts/{*}PrvsAdjstdQtTax",
    "open_interest": "{*}FinInstrmAttrbts/{*}OpnIntrst",
    "status": "{*}FinInstrmAttrbts/{*}AdjstdQtStin",
})
_NO_PRICE: Final = frozenset({"FRC"})  # settles in rate only
_RATED: Final = frozenset({"DI1", "DDI", "FRC", "DAP"})  # settle in rate (and PU)


@dataclass(frozen=True)
class PriceReport:
    """One price report, parsed.

    Attributes:
        file_name: the file as received.
        member: the XML document read (inside the zip, or ``file_name`` itself).
        trade_date: the date every message carries.
        messages: the number of ``PricRpt`` messages read (= the header's count).
        settlements: one row per kept future, in file order. Columns: ``message`` (1-based
            index of the message), ``ticker``, ``family``, ``maturity_code`` (``F26``),
            ``trade_date`` (``datetime.date``), ``price`` (NaN for FRC), ``rate`` (decimal;
            NaN for DOL/WDO/IND/WIN), ``previous_price``, ``previous_rate`` (NaN for a
            contract listed that day), ``open_interest`` (Int64), ``status`` (text).
        counts: messages by kind: columns ``kind`` (:data:`KINDS`), ``family`` (the ticker's
            first three characters; five for single-stock futures), ``count``.
    """

    file_name: str
    member: str
    trade_date: date
    messages: int
    settlements: pd.DataFrame = field(repr=False)
    counts: pd.DataFrame = field(repr=False)

    def totals(self) -> dict[str, int]:
        """Messages per kind (every kind of :data:`KINDS`, zero included)."""
        by_kind = self.counts.groupby("kind")["count"].sum()
        return {kind: int(by_kind.get(kind, 0)) for kind in KINDS}


@dataclass
class _Scan:
    """What one pass over the XML collects: every message's ticker and date, and the text
    of the kept fields of the kept ones."""

    header: dict[str, str | None] = field(default_factory=dict)
    tickers: list[str | None] = field(default_factory=list)
    days: list[str | None] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)
    values: dict[str, list[str | None]] = field(
        default_factory=lambda: {k: [] for k in _FIELDS})


@contextmanager
def _document(source: Source, file_name: str) -> Iterator[tuple[IO[bytes], str]]:
    """The XML stream and its name: the single ``.xml`` member of a zip, or the file itself
    when it is XML. Corrupt or truncated archives are :class:`InvalidInput`."""
    if isinstance(source, bytes | bytearray | memoryview):
        stream: IO[bytes] = io.BytesIO(bytes(source))
    elif source.seekable():
        stream = source
    else:  # a zip is read from its end
        stream = io.BytesIO(source.read())
    head = stream.read(4)
    if not head:
        raise invalid(file_name, "line 1", "file", "the file is empty")
    stream.seek(0)
    if not head.startswith(b"PK"):
        if not head.lstrip().startswith(b"<"):
            raise invalid(file_name, "byte 1", "file", "neither a zip archive nor XML", head)
        yield stream, file_name
        return
    try:
        with zipfile.ZipFile(stream) as archive:
            names = archive.namelist()
            xml = [n for n in names if n.lower().endswith(".xml")]
            if len(xml) != 1:
                raise invalid(file_name, "zip archive", "members",
                              f"expected one .xml document, found {len(xml)}", ", ".join(names))
            with archive.open(xml[0]) as member:
                yield member, xml[0]
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise invalid(file_name, "zip archive", "archive",
                      f"corrupt or truncated zip ({exc})") from exc


def _check_header(scan: _Scan, file_name: str) -> None:
    """The group and message types of the header: another B3 file is refused here, before
    its messages are read."""
    for name, want in (("BizGrpTp", _GROUP_TYPE), ("MsgDefIdr", _MESSAGE_TYPE)):
        found = scan.header.get(name)
        if found != want:
            raise invalid(file_name, "header (BizGrpDesc)", name,
                          f"not a price report: expected {want}", found)


def _message(report: ET.Element, scan: _Scan, file_name: str) -> None:
    """Read one ``PricRpt``: its ticker and date always, the kept fields for kept futures."""
    index = len(scan.tickers) + 1
    if report.tag != f"{_PRICE_NS}PricRpt":
        raise invalid(file_name, f"message {index}", "PricRpt",
                      f"element of another schema (expected namespace {_PRICE_NS[1:-1]})",
                      report.tag)
    ticker = report.findtext("{*}SctyId/{*}TckrSymb")
    scan.tickers.append(ticker.strip() if ticker else ticker)
    scan.days.append(report.findtext("{*}TradDt/{*}Dt"))
    if ticker and _KEPT.fullmatch(ticker.strip()):
        scan.kept.append(index - 1)
        for key, path in _FIELDS.items():
            text = report.findtext(path)
            scan.values[key].append(text.strip() if text else None)


def _scan(stream: IO[bytes], file_name: str, member: str) -> _Scan:
    """One streaming pass: header first, then each message, dropping each ``BizGrp`` once
    read so the tree never holds more than one message."""
    scan = _Scan()
    parent: ET.Element | None = None
    try:
        # The standard parser is safe here: expat >= 2.4 caps entity amplification (billion
        # laughs, quadratic blowup) and ElementTree never fetches external entities or DTDs.
        for event, elem in ET.iterparse(stream, events=("start", "end")):  # noqa: S314
            name = elem.tag.rpartition("}")[2]
            if event == "start":
                if name == "Xchg":
                    parent = elem
                elif name == "BizGrp" and not scan.tickers:
                    _check_header(scan, file_name)
            elif name == "PricRpt":
                _message(elem, scan, file_name)
            elif name == "BizGrp" and parent is not None:
                parent.remove(elem)
            elif name == "BizGrpDesc":
                scan.header = {n: elem.findtext(f".//{{*}}{n}")
                               for n in ("BizGrpTp", "TtlNbOfMsg", "MsgDefIdr", "NbOfMsg")}
    except ET.ParseError as exc:
        line, column = exc.position
        inside = "" if member == file_name else f"{member} "
        raise invalid(file_name, f"{inside}line {line}, column {column}", "XML",
                      f"not well-formed XML ({exc})") from exc
    if not scan.header:
        raise invalid(file_name, "header", "BizGrpDesc", "no header: not a B3 price report")
    _check_header(scan, file_name)
    return scan


def _counts(tickers: pd.Series) -> pd.DataFrame:
    """Messages by kind and family (vectorised over every ticker of the file)."""
    text = tickers.fillna("").astype(str)
    future = text.str.fullmatch(_FUTURE).to_numpy(dtype=bool)
    kept = text.str.fullmatch(_KEPT.pattern).to_numpy(dtype=bool)
    option = text.str.fullmatch(_OPTION).to_numpy(dtype=bool)
    kind = np.select([kept, future, option], KINDS[:3], default=KINDS[3])
    stock = future & (text.str.len() == 8).to_numpy()
    family = np.where(stock, text.str[:5], text.str[:3])
    out = pd.DataFrame({"kind": kind, "family": family}).value_counts().rename("count")
    out = out.reset_index()
    out["order"] = out["kind"].map({k: i for i, k in enumerate(KINDS)})
    return out.sort_values(["order", "family"]).drop(columns="order").reset_index(drop=True)


def _settlements(scan: _Scan, file_name: str, day: date) -> pd.DataFrame:
    """The kept futures as typed columns, every field checked (module docstring)."""
    tickers = [scan.tickers[i] for i in scan.kept]
    where = [f"message {i + 1} ({t})" for i, t in zip(scan.kept, tickers, strict=True)]
    v = scan.values
    out = pd.DataFrame({"message": np.array(scan.kept, dtype=np.int64) + 1,
                        "ticker": tickers})
    out["family"] = out["ticker"].str[:3]
    out["maturity_code"] = out["ticker"].str[3:]
    out["trade_date"] = np.array([day] * len(out), dtype=object)
    family = out["family"].to_numpy(dtype=object)
    for column, tag in (("price", "AdjstdQt"), ("rate", "AdjstdQtTax"),
                        ("previous_price", "PrvsAdjstdQt"),
                        ("previous_rate", "PrvsAdjstdQtTax")):
        out[column] = numbers(v[column], where, file_name, tag, optional=True)
    present = out[["price", "rate"]].notna().to_numpy()
    check(present[:, 0] | np.isin(family, list(_NO_PRICE)), where, v["price"], file_name,
          "AdjstdQt", "no settlement price for a future that settles in price")
    check(present[:, 1] | ~np.isin(family, list(_RATED)), where, v["rate"], file_name,
          "AdjstdQtTax", "no settlement rate for a future that settles in rate")
    for column, tag in (("price", "AdjstdQt"), ("previous_price", "PrvsAdjstdQt")):
        cap = pd.Series(family).map(PU_MAX).fillna(np.inf).to_numpy()
        check(~(out[column] <= 0) & ~(out[column] > cap), where, v[column], file_name, tag,
              "out of range: a settlement price is > 0 (and a DI1/DDI PU at most 100,000)")
    for column, tag in (("rate", "AdjstdQtTax"), ("previous_rate", "PrvsAdjstdQtTax")):
        out[column] = percent_to_decimal(out[column].to_numpy())
        check(~(out[column].abs() >= RATE_MAX), where, v[column], file_name, tag,
              "out of range: a rate in percent a.a. lies between -100 and 100")
    interest = numbers(v["open_interest"], where, file_name, "OpnIntrst", optional=True)
    check(np.isnan(interest) | ((interest % 1 == 0) & (interest >= 0)), where,
          v["open_interest"], file_name, "OpnIntrst", "not a whole number of contracts")
    out["open_interest"] = pd.array(interest, dtype="Float64").astype("Int64")
    out["status"] = pd.Series(v["status"], dtype=object)
    return out


def read_price_report(source: Source, file_name: str, *, expected_date: object = None
                      ) -> PriceReport:
    """Parse B3's price report (zip, or its XML document), streaming.

    Args:
        source: the file's bytes, or a binary file object at its start (read into memory
            first when it cannot seek: a zip is read from its end).
        file_name: the file's name, for messages.
        expected_date: the date the file must be for (the landing folder's), or None.

    Returns:
        The :class:`PriceReport`: the kept futures' settlements and the count of every kind.

    Raises:
        InvalidInput: empty, corrupt or truncated archive; XML that is not well-formed or of
            another schema; fewer or more messages than the header announces; a message
            without ticker or trade date, or with a date other than the others' or than
            ``expected_date``; a ticker twice; a kept future without its settlement, or with
            a value that is not a number or out of range. The message names the file, the
            message (index and ticker) and the XML field with its value as written.

    Examples:
        >>> xml = (b'<Document xmlns="urn:bvmf.052.01.xsd"><BizFileHdr><Xchg><BizGrpDesc>'
        ...        b'<BizGrpDtls><TtlNbOfMsg>1</TtlNbOfMsg><BizGrpTp>BVBG.187.01</BizGrpTp>'
        ...        b'</BizGrpDtls><MsgTpDef><MsgDefIdr>BVMF.217.01</MsgDefIdr></MsgTpDef>'
        ...        b'</BizGrpDesc><BizGrp><Document xmlns="urn:bvmf.217.01.xsd"><PricRpt>'
        ...        b'<TradDt><Dt>2025-02-03</Dt></TradDt><SctyId><TckrSymb>DI1F26</TckrSymb>'
        ...        b'</SctyId><FinInstrmAttrbts><AdjstdQt>88093.23</AdjstdQt><AdjstdQtTax>'
        ...        b'14.901</AdjstdQtTax></FinInstrmAttrbts></PricRpt></Document></BizGrp>'
        ...        b'</Xchg></BizFileHdr></Document>')
        >>> report = read_price_report(xml, "SPRD250203.xml")
        >>> report.settlements[["ticker", "price", "rate"]].to_dict("records")
        [{'ticker': 'DI1F26', 'price': 88093.23, 'rate': 0.14901}]
        >>> report.totals()
        {'future': 1, 'other_future': 0, 'option': 0, 'other': 0}
    """
    want = expected(expected_date)
    with _document(source, file_name) as (stream, member):
        scan = _scan(stream, file_name, member)
    n = len(scan.tickers)
    announced = scan.header.get("TtlNbOfMsg")
    if announced != str(n):
        raise invalid(file_name, "header (BizGrpDesc)", "TtlNbOfMsg",
                      f"the file holds {n} messages: truncated or incomplete", announced)
    where = [f"message {i + 1} ({t})" for i, t in enumerate(scan.tickers)]
    check(pd.Series(scan.tickers, dtype=object).notna().to_numpy(), where, scan.tickers,
          file_name, "SctyId/TckrSymb", "a message without its ticker")
    unique(scan.tickers, where, file_name, "SctyId/TckrSymb")
    found = dates(scan.days, where, file_name, "TradDt/Dt", "%Y-%m-%d")
    day = same_date(found, scan.days, where, file_name, "TradDt/Dt", want)
    return PriceReport(file_name=file_name, member=member, trade_date=day, messages=n,
                       settlements=_settlements(scan, file_name, day),
                       counts=_counts(pd.Series(scan.tickers, dtype=object)))


def market_prices(report: PriceReport) -> pd.DataFrame:
    """The settlements in the ``market_prices`` table's shape (source ``B3``).

    FRC rows are left out: the table needs a price and B3 publishes the FRC in rate only.

    Returns:
        Columns: ``price_date``, ``instrument_id`` (the ticker), ``price``, ``rate``
        (decimal, NaN when the contract has none), ``source``.
    """
    rows = report.settlements[report.settlements["price"].notna()]
    return pd.DataFrame({"price_date": rows["trade_date"], "instrument_id": rows["ticker"],
                         "price": rows["price"], "rate": rows["rate"],
                         "source": "B3"}).reset_index(drop=True)
