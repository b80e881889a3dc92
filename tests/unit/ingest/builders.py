"""Files built from the publishers' layouts, for the parsers' tests.

- :func:`cotahist_record` writes one 245-character COTAHIST record from B3's published
  positions (:data:`COTAHIST_POSITIONS`, kept here apart from the parser's own table, so the
  fixture checks the parser against a second reading of the layout); :func:`cotahist_file`
  a header, quote records and a trailer; :data:`COTAHIST_QUOTES` the quotes of the fixture
  ``tests/data/ingest/COTAHIST_D03022025.TXT`` (synthetic values, real layout).
- :func:`price_report_xml` a small B3 price report (BVBG.187.01) with the given messages.
- :func:`zipped` a zip holding one member.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data"
B3_FILE = DATA / "b3" / "SPRD250203.zip"
ANBIMA_FILE = DATA / "anbima" / "tpf_20260206.txt"
FIXTURES = DATA / "ingest"

#: B3's COTAHIST layout, 1-based inclusive positions, and the kind: "X" text (left-aligned,
#: blank-padded), "N" digits (right-aligned, zero-padded).
COTAHIST_POSITIONS = {
    "TIPREG": (1, 2, "N"), "DATPRE": (3, 10, "N"), "CODBDI": (11, 12, "X"),
    "CODNEG": (13, 24, "X"), "TPMERC": (25, 27, "N"), "NOMRES": (28, 39, "X"),
    "ESPECI": (40, 49, "X"), "PRAZOT": (50, 52, "X"), "MODREF": (53, 56, "X"),
    "PREABE": (57, 69, "N"), "PREMAX": (70, 82, "N"), "PREMIN": (83, 95, "N"),
    "PREMED": (96, 108, "N"), "PREULT": (109, 121, "N"), "PREOFC": (122, 134, "N"),
    "PREOFV": (135, 147, "N"), "TOTNEG": (148, 152, "N"), "QUATOT": (153, 170, "N"),
    "VOLTOT": (171, 188, "N"), "PREEXE": (189, 201, "N"), "INDOPC": (202, 202, "N"),
    "DATVEN": (203, 210, "N"), "FATCOT": (211, 217, "N"), "PTOEXE": (218, 230, "N"),
    "CODISI": (231, 242, "X"), "DISMES": (243, 245, "N"),
}
HEADER_POSITIONS = {"TIPREG": (1, 2, "N"), "NOMARQ": (3, 15, "X"), "CODORI": (16, 23, "X"),
                    "DATGER": (24, 31, "N")}
TRAILER_POSITIONS = {**HEADER_POSITIONS, "TOTREG": (32, 42, "N")}

#: The fixture's quote records (prices in centavos as B3 writes them: 2 implied decimals).
COTAHIST_QUOTES = [
    {"CODBDI": "02", "CODNEG": "PETR4", "TPMERC": "010", "NOMRES": "PETROBRAS",
     "ESPECI": "PN      N2", "PREABE": 3790, "PREMAX": 3831, "PREMIN": 3772, "PREMED": 3803,
     "PREULT": 3812, "PREOFC": 3811, "PREOFV": 3812, "TOTNEG": 41250, "QUATOT": 38_512_300,
     "VOLTOT": 146_462_276_900, "FATCOT": 1, "CODISI": "BRPETRACNPR6"},
    {"CODBDI": "02", "CODNEG": "VALE3", "TPMERC": "010", "NOMRES": "VALE",
     "ESPECI": "ON      NM", "PREABE": 5520, "PREMAX": 5571, "PREMIN": 5489, "PREMED": 5530,
     "PREULT": 5549, "PREOFC": 5548, "PREOFV": 5549, "TOTNEG": 30511, "QUATOT": 21_004_700,
     "VOLTOT": 116_156_000_100, "FATCOT": 1, "CODISI": "BRVALEACNOR0"},
    {"CODBDI": "14", "CODNEG": "BOVA11", "TPMERC": "010", "NOMRES": "ISHARES BOVA",
     "ESPECI": "CI", "PREABE": 12010, "PREMAX": 12150, "PREMIN": 11985, "PREMED": 12080,
     "PREULT": 12102, "PREOFC": 12101, "PREOFV": 12103, "TOTNEG": 9120, "QUATOT": 2_100_400,
     "VOLTOT": 25_372_832_000, "FATCOT": 1, "CODISI": "BRBOVACTF003"},
    {"CODBDI": "02", "CODNEG": "ABCD3", "TPMERC": "010", "NOMRES": "SYNTH MIL",
     "ESPECI": "ON", "PREABE": 251000, "PREMAX": 252500, "PREMIN": 250000, "PREMED": 251500,
     "PREULT": 252000, "PREOFC": 251900, "PREOFV": 252000, "TOTNEG": 12, "QUATOT": 40_000,
     "VOLTOT": 1_006_000_000, "FATCOT": 1000, "CODISI": "BRABCDACNOR1"},
    {"CODBDI": "96", "CODNEG": "PETR4F", "TPMERC": "020", "NOMRES": "PETROBRAS",
     "ESPECI": "PN      N2", "PREABE": 3791, "PREMAX": 3830, "PREMIN": 3771, "PREMED": 3802,
     "PREULT": 3813, "PREOFC": 3810, "PREOFV": 3813, "TOTNEG": 2210, "QUATOT": 61_230,
     "VOLTOT": 232_800_000, "FATCOT": 1, "CODISI": "BRPETRACNPR6"},
    {"CODBDI": "78", "CODNEG": "PETRB380", "TPMERC": "070", "NOMRES": "PETRE",
     "ESPECI": "PN      N2", "PREABE": 95, "PREMAX": 110, "PREMIN": 88, "PREMED": 99,
     "PREULT": 104, "PREOFC": 103, "PREOFV": 105, "TOTNEG": 1502, "QUATOT": 3_410_000,
     "VOLTOT": 337_590_000, "PREEXE": 3800, "DATVEN": 20250221, "FATCOT": 1,
     "CODISI": "BRPETRACNPR6"},
    {"CODBDI": "82", "CODNEG": "VALEN550", "TPMERC": "080", "NOMRES": "VALEE",
     "ESPECI": "ON      NM", "PREABE": 120, "PREMAX": 131, "PREMIN": 101, "PREMED": 117,
     "PREULT": 109, "PREOFC": 108, "PREOFV": 110, "TOTNEG": 611, "QUATOT": 1_002_000,
     "VOLTOT": 117_234_000, "PREEXE": 5500, "DATVEN": 20250221, "FATCOT": 1,
     "CODISI": "BRVALEACNOR0"},
]


def _record(values: dict[str, object], positions: dict[str, tuple[int, int, str]]) -> str:
    line = [" "] * 245
    for name, (first, last, kind) in positions.items():
        width = last - first + 1
        value = values.get(name, "" if kind == "X" else 0)
        text = str(value).ljust(width) if kind == "X" else str(value).rjust(width, "0")
        assert len(text) == width, (name, text)
        line[first - 1:last] = text
    return "".join(line)


def cotahist_record(day: str = "20250203", **fields: object) -> str:
    """One quote record (type 01); unset numbers are zeros, DATVEN 99991231 (no expiry)."""
    values = {"TIPREG": 1, "DATPRE": day, "MODREF": "R$", "DATVEN": 99991231, **fields}
    return _record(values, COTAHIST_POSITIONS)


def cotahist_file(records: list[str], day: str = "20250203", total: int | None = None,
                  newline: str = "\r\n") -> bytes:
    """Header, the records, trailer (TOTREG = all records unless ``total``), Latin-1."""
    header = _record({"TIPREG": 0, "NOMARQ": f"COTAHIST.{day[:4]}", "CODORI": "BOVESPA",
                      "DATGER": day}, HEADER_POSITIONS)
    trailer = _record({"TIPREG": 99, "NOMARQ": f"COTAHIST.{day[:4]}", "CODORI": "BOVESPA",
                       "DATGER": day, "TOTREG": len(records) + 2 if total is None else total},
                      TRAILER_POSITIONS)
    return newline.join([header, *records, trailer]).encode("latin-1") + newline.encode()


def fixture_cotahist() -> bytes:
    """The bytes of ``COTAHIST_D03022025.TXT``."""
    return cotahist_file([cotahist_record(**q) for q in COTAHIST_QUOTES])


def price_report_xml(messages: list[tuple[str, str, dict[str, str]]], *,
                     group: str = "BVBG.187.01", total: int | None = None,
                     namespace: str = "urn:bvmf.217.01.xsd") -> bytes:
    """A price report whose messages are (ticker, trade date, {FinInstrmAttrbts tag: text})."""
    body = []
    for ticker, day, attrs in messages:
        fields = "".join(f"<{k}>{v}</{k}>" for k, v in attrs.items())
        body.append(f'<BizGrp><Document xmlns="{namespace}"><PricRpt><TradDt><Dt>{day}</Dt>'
                    f"</TradDt><SctyId><TckrSymb>{ticker}</TckrSymb></SctyId>"
                    f"<FinInstrmAttrbts>{fields}</FinInstrmAttrbts></PricRpt></Document>"
                    "</BizGrp>")
    count = len(messages) if total is None else total
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<Document xmlns="urn:bvmf.052.01.xsd"><BizFileHdr><Xchg><BizGrpDesc><BizGrpDtls>'
            f"<TtlNbOfMsg>{count}</TtlNbOfMsg><BizGrpTp>{group}</BizGrpTp></BizGrpDtls>"
            "<MsgTpDef><MsgDefIdr>BVMF.217.01</MsgDefIdr></MsgTpDef></BizGrpDesc>"
            + "".join(body) + "</Xchg></BizFileHdr></Document>").encode()


DI1F26 = ("DI1F26", "2025-02-03", {"AdjstdQt": "88093.23", "AdjstdQtTax": "14.901"})
DOLH25 = ("DOLH25", "2025-02-03", {"AdjstdQt": "5847.377"})


def zipped(member: str, data: bytes) -> bytes:
    """A zip archive holding ``data`` as ``member``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, data)
    return buffer.getvalue()
