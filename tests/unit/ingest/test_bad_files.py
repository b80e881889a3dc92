"""Bad files, every parser: each is refused with InvalidInput whose message names the file,
the place (line, message, observation), the field and the value as written; the exception's
``table``/``row``/``field`` carry the same, and nothing is returned."""
from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial

import pytest

from pms_luigi.core.errors import InvalidInput
from pms_luigi.ingest import (
    read_cdi,
    read_cotahist,
    read_ipca,
    read_price_report,
    read_ptax,
    read_sgs,
    read_tpf,
)
from tests.unit.ingest.builders import (
    ANBIMA_FILE,
    B3_FILE,
    COTAHIST_QUOTES,
    DI1F26,
    DOLH25,
    FIXTURES,
    cotahist_file,
    cotahist_record,
    price_report_xml,
    zipped,
)

B3 = B3_FILE.read_bytes()
with zipfile.ZipFile(B3_FILE) as _archive:
    B3_XML = _archive.read(_archive.namelist()[0])
TPF = ANBIMA_FILE.read_bytes()
CDI = (FIXTURES / "bcb_sgs_12_cdi_20250203.json").read_bytes()
PTAX = (FIXTURES / "bcb_ptax_20250203.json").read_bytes()
QUOTES = [cotahist_record(**q) for q in COTAHIST_QUOTES]


@dataclass(frozen=True)
class Bad:
    """A bad file: how it is read, its name and bytes, and what the message must name."""

    read: Callable[..., object]
    name: str
    data: bytes
    where: str  # a regular expression for the place
    field: str
    problem: str  # a fragment of the problem's words


def _tpf(old: bytes, new: bytes, count: int = 1) -> bytes:
    assert old in TPF
    return TPF.replace(old, new, count)


def _two_members() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.xml", price_report_xml([DI1F26]))
        archive.writestr("b.xml", price_report_xml([DOLH25]))
    return buffer.getvalue()


def _bad_crc(archive: bytes) -> bytes:
    """The archive with its member's CRC-32 (central directory) changed: the XML reads to the
    end, then the check fails."""
    at = archive.index(b"PK\x01\x02") + 16
    return archive[:at] + bytes([archive[at] ^ 0xFF]) + archive[at + 1:]


def _di1(**attrs: str) -> tuple[str, str, dict[str, str]]:
    return ("DI1F26", "2025-02-03", {**DI1F26[2], **attrs})


def _ptax(quote: str) -> bytes:
    return f'{{"value": [{{{quote}}}]}}'.encode()


_GOOD_QUOTE = '"cotacaoCompra": 5.8263, "cotacaoVenda": 5.8269'
_STAMP = '"dataHoraCotacao": "2025-02-03 13:06:26.513"'
_PETR4 = COTAHIST_QUOTES[0]

CASES = {
    # ---------------------------------------------------------------- B3 price report
    "b3-empty": Bad(read_price_report, "SPRD250203.zip", b"", "line 1", "file", "empty"),
    "b3-truncated-zip": Bad(read_price_report, "SPRD250203.zip", B3[:len(B3) // 2],
                            "zip archive", "archive", "corrupt or truncated zip"),
    "b3-bad-checksum": Bad(read_price_report, "SPRD250203.zip", _bad_crc(B3), "zip archive",
                           "archive", "Bad CRC-32"),
    "b3-two-documents": Bad(read_price_report, "SPRD250203.zip", _two_members(),
                            "zip archive", "members", "expected one .xml document, found 2"),
    "b3-neither-zip-nor-xml": Bad(read_price_report, "SPRD250203.zip", b"DI1F26;88093,23\n",
                                  "byte 1", "file", "neither a zip archive nor XML"),
    "b3-another-schema": Bad(read_price_report, "SPRD250203.zip",
                             zipped("x.xml", price_report_xml([DI1F26], group="BVBG.086.01")),
                             r"header \(BizGrpDesc\)", "BizGrpTp", "not a price report"),
    "b3-not-a-b3-document": Bad(read_price_report, "report.xml", b"<report><row/></report>",
                                "header", "BizGrpDesc", "no header"),
    "b3-truncated-xml": Bad(read_price_report, "SPRD250203.zip",
                            zipped("x.xml", B3_XML[:len(B3_XML) // 3]), r"x\.xml line \d+",
                            "XML", "not well-formed XML"),
    "b3-mojibake": Bad(read_price_report, "SPRD250203.xml",
                       price_report_xml([DI1F26]).replace(b"DI1F26", b"DI1F\xe726"),
                       r"line 1, column \d+$", "XML", "not well-formed XML"),
    "b3-fewer-messages-than-announced": Bad(read_price_report, "SPRD250203.xml",
                                            price_report_xml([DI1F26, DOLH25], total=3),
                                            r"header \(BizGrpDesc\)", "TtlNbOfMsg",
                                            "holds 2 messages: truncated"),
    "b3-message-of-another-namespace": Bad(
        read_price_report, "SPRD250203.xml",
        price_report_xml([DI1F26], namespace="urn:bvmf.999.01.xsd"), "message 1", "PricRpt",
        "element of another schema"),
    "b3-day-first-trade-date": Bad(read_price_report, "SPRD250203.xml",
                                   price_report_xml([("DI1F26", "03/02/2025", DI1F26[2])]),
                                   r"message 1 \(DI1F26\)", "TradDt/Dt", "not an ISO date"),
    "b3-two-trade-dates": Bad(read_price_report, "SPRD250203.xml",
                              price_report_xml([DI1F26, ("DOLH25", "2025-02-04", DOLH25[2])]),
                              r"message 2 \(DOLH25\)", "TradDt/Dt", "another date"),
    "b3-duplicated-ticker": Bad(read_price_report, "SPRD250203.zip",
                                zipped("x.xml", B3_XML.replace(b">DI1F27<", b">DI1F26<")),
                                r"message \d+ \(DI1F26\)", "SctyId/TckrSymb",
                                r"duplicated (first at message 172 (DI1F26))"),
    "b3-decimal-comma": Bad(read_price_report, "SPRD250203.xml",
                            price_report_xml([_di1(AdjstdQtTax="14,901")]),
                            r"message 1 \(DI1F26\)", "AdjstdQtTax", "decimal point"),
    "b3-no-settlement-price": Bad(read_price_report, "SPRD250203.xml",
                                  price_report_xml([("DI1F26", "2025-02-03",
                                                     {"AdjstdQtTax": "14.901"})]),
                                  r"message 1 \(DI1F26\)", "AdjstdQt", "no settlement price"),
    "b3-pu-above-face": Bad(read_price_report, "SPRD250203.xml",
                            price_report_xml([_di1(AdjstdQt="188093.23")]),
                            r"message 1 \(DI1F26\)", "AdjstdQt", "out of range"),
    "b3-rate-out-of-range": Bad(read_price_report, "SPRD250203.xml",
                                price_report_xml([_di1(AdjstdQtTax="1490.1")]),
                                r"message 1 \(DI1F26\)", "AdjstdQtTax", "out of range"),
    # ---------------------------------------------------------------- ANBIMA
    "anbima-empty": Bad(read_tpf, "tpf_20260206.txt", b"", "line 1", "file", "empty"),
    "anbima-header-only": Bad(read_tpf, "tpf_20260206.txt", b"\r\n".join(TPF.split(b"\r\n")[:3]),
                              "line 4", "Titulo", "header only"),
    "anbima-no-title": Bad(read_tpf, "tpf_20260206.txt", b"\r\n".join(TPF.split(b"\r\n")[2:]),
                           "line 1", "title", "expected the title line"),
    "anbima-semicolons": Bad(read_tpf, "tpf_20260206.txt", TPF.replace(b"@", b";"), "line 3",
                             "header", "separated by ';'"),
    "anbima-utf8-mojibake": Bad(read_tpf, "tpf_20260206.txt",
                                TPF.decode("latin-1").encode("utf-8"), "line 1, column 17",
                                "encoding", "UTF-8 for 'ç', the file is not Latin-1"),
    "anbima-c1-control": Bad(read_tpf, "tpf_20260206.txt", _tpf(b"Calculado", b"Calcula\x93o"),
                             "line 4, column", "encoding", "a control byte"),
    "anbima-day-first-date": Bad(read_tpf, "tpf_20260206.txt",
                                 _tpf(b"LTN@20260206", b"LTN@06/02/2026"), "line 4",
                                 "Data Referencia", "not a date written YYYYMMDD"),
    "anbima-another-date": Bad(partial(read_tpf, expected_date=date(2026, 2, 9)),
                               "tpf_20260209.txt", TPF, "line 4", "Data Referencia",
                               "the file is for 2026-02-06, expected 2026-02-09"),
    "anbima-decimal-point": Bad(read_tpf, "tpf_20260206.txt", _tpf(b"@980,58076@", b"@980.58076@"),
                                "line 4", "PU", "decimal comma"),
    "anbima-missing-field": Bad(read_tpf, "tpf_20260206.txt",
                                _tpf(b"@14,7216@14,7071", b"@14,7216"),
                                "line 4", "Titulo", "expected 15 fields"),
    "anbima-duplicated-bond": Bad(read_tpf, "tpf_20260206.txt",
                                  _tpf(b"20260701@14,2351", b"20260401@14,2351"), "line 5",
                                  "Data Vencimento", "'20260401': duplicated (first at line 4)"),
    "anbima-ltn-above-face": Bad(read_tpf, "tpf_20260206.txt",
                                 _tpf(b"@980,58076@", b"@1980,58076@"),
                                 "line 4", "PU", "out of range"),
    "anbima-matured": Bad(read_tpf, "tpf_20260206.txt", _tpf(b"@20260401@", b"@20260101@"),
                          "line 4", "Data Vencimento", "matures on or before"),
    # ---------------------------------------------------------------- BCB SGS
    "sgs-error-answer": Bad(read_sgs, "sgs12.json", b'{"error": "Not found", "status": 404}',
                            "line 1", "JSON", "expected an array"),
    "sgs-empty-array": Bad(read_sgs, "sgs12.json", b"[]", "line 1", "JSON", "no observation"),
    "sgs-truncated-json": Bad(read_sgs, "sgs12.json", CDI[:-10], r"line 1, column \d+", "JSON",
                              "not valid JSON"),
    "sgs-not-utf8": Bad(read_sgs, "sgs12.json", CDI.replace(b"0.045513", b"0.04\xe9513", 1),
                        "line 1, column 36", "encoding", "not valid utf-8"),
    "sgs-iso-date": Bad(read_sgs, "sgs12.json", b'[{"data": "2025-02-03", "valor": "0.049037"}]',
                        "observation 1", "data", "not a date written dd/mm/yyyy"),
    "sgs-decimal-comma": Bad(read_sgs, "sgs12.json", b'[{"data": "03/02/2025", "valor": "0,049"}]',
                             "observation 1", "valor", "decimal point"),
    "sgs-no-valor": Bad(read_sgs, "sgs12.json", b'[{"data": "03/02/2025"}]', "observation 1",
                        "valor", "absent or not text"),
    "cdi-holiday": Bad(read_cdi, "sgs12.json", b'[{"data": "25/12/2024", "valor": "0.045513"}]',
                       "observation 1", "data", "not an ANBIMA business day"),
    "cdi-percent-a-year": Bad(read_cdi, "sgs12.json", b'[{"data": "03/02/2025", "valor": "13.15"}]',
                              "observation 1", "valor", "out of range"),
    "cdi-typo": Bad(read_cdi, "sgs12.json", CDI.replace(b"0.049037", b"0.049937", 1),
                    "observation 4", "valor", "not the daily factor"),
    "cdi-duplicated-day": Bad(read_cdi, "sgs12.json", CDI.replace(b"28/01/2025", b"27/01/2025"),
                              "observation 2", "data",
                              "'27/01/2025': duplicated (first at observation 1)"),
    "cdi-date-missing": Bad(partial(read_cdi, expected_date=date(2025, 2, 4)), "sgs12.json", CDI,
                            "observation 6", "data", "no observation for its date 2025-02-04"),
    "ipca-not-first-of-month": Bad(read_ipca, "sgs433.json",
                                   b'[{"data": "15/01/2025", "valor": "0.16"}]',
                                   "observation 1", "data", "dated on the 1st"),
    # ---------------------------------------------------------------- BCB PTAX
    "ptax-no-value": Bad(read_ptax, "ptax.json", b'{"d": []}', "line 1", "value",
                         "expected an object with a 'value' array"),
    "ptax-empty-value": Bad(read_ptax, "ptax.json", b'{"value": []}', "line 1", "value",
                            "no quote"),
    "ptax-text-rate": Bad(read_ptax, "ptax.json",
                          _ptax(f'"cotacaoCompra": "5,8263", "cotacaoVenda": 5.8269, {_STAMP}'),
                          "observation 1", "cotacaoCompra", "not a number"),
    "ptax-day-first-stamp": Bad(read_ptax, "ptax.json",
                                _ptax(f'{_GOOD_QUOTE}, "dataHoraCotacao": "03/02/2025 13:06:26"'),
                                "observation 1", "dataHoraCotacao", "not a time stamp"),
    "ptax-another-date": Bad(partial(read_ptax, expected_date=date(2025, 2, 4)), "ptax.json",
                             PTAX, "observation 1", "dataHoraCotacao",
                             "the file is for 2025-02-03, expected 2025-02-04"),
    "ptax-buy-above-sell": Bad(read_ptax, "ptax.json",
                               _ptax(f'"cotacaoCompra": 5.8369, "cotacaoVenda": 5.8269, {_STAMP}'),
                               "observation 1", "cotacaoCompra", "above the sell rate"),
    "ptax-out-of-range": Bad(read_ptax, "ptax.json",
                             _ptax(f'"cotacaoCompra": 5.8263, "cotacaoVenda": 58269, {_STAMP}'),
                             "observation 1", "cotacaoVenda", "out of range"),
    # ---------------------------------------------------------------- COTAHIST
    "cotahist-empty": Bad(read_cotahist, "COTAHIST.TXT", b"", "line 1", "file", "empty"),
    "cotahist-short-record": Bad(read_cotahist, "COTAHIST.TXT",
                                 cotahist_file([QUOTES[0][:200], *QUOTES[1:]]), "line 2",
                                 "record", "not a 245-character record"),
    "cotahist-no-trailer": Bad(read_cotahist, "COTAHIST.TXT",
                               b"\r\n".join(cotahist_file(QUOTES).split(b"\r\n")[:-2]),
                               "line 8", "TIPREG", "expected the trailer record 99"),
    "cotahist-no-header": Bad(read_cotahist, "COTAHIST.TXT",
                              b"\r\n".join(cotahist_file(QUOTES).split(b"\r\n")[1:]), "line 1",
                              "TIPREG/NOMARQ", "expected the header record"),
    "cotahist-wrong-count": Bad(read_cotahist, "COTAHIST.TXT", cotahist_file(QUOTES, total=12),
                                "line 9", "TOTREG", "holds 9 records"),
    "cotahist-price-not-digits": Bad(read_cotahist, "COTAHIST.TXT",
                                     cotahist_file([cotahist_record(**_PETR4).replace(
                                         "0000000003812", "        38.12")]),
                                     "line 2", "PREULT", "not digits"),
    "cotahist-day-first-date": Bad(read_cotahist, "COTAHIST.TXT",
                                   cotahist_file([cotahist_record(day="03022025", **_PETR4)]),
                                   "line 2", "DATPRE", "not a calendar date"),
    "cotahist-another-date": Bad(partial(read_cotahist, expected_date=date(2025, 2, 4)),
                                 "COTAHIST.TXT", cotahist_file(QUOTES), "line 2", "DATPRE",
                                 "expected 2025-02-04"),
    "cotahist-duplicated-ticker": Bad(read_cotahist, "COTAHIST.TXT",
                                      cotahist_file([QUOTES[0], QUOTES[0]]), "line 3", "CODNEG",
                                      "duplicated (first at line 2)"),
    "cotahist-mojibake": Bad(read_cotahist, "COTAHIST.TXT",
                             cotahist_file(QUOTES).replace(b"PETROBRAS  ", "PETROBRÁS".encode()
                                                           + b" ", 1),
                             "line 2, column 35", "encoding", "UTF-8 for 'Á'"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_bad_file_is_refused_naming_file_place_and_field(case: Bad) -> None:
    with pytest.raises(InvalidInput) as caught:
        case.read(case.data, case.name)
    error = caught.value
    message = str(error)
    assert message.startswith(f"{case.name}: "), message
    assert re.match(case.where, error.row), (case.where, error.row)
    assert f": {error.row}: field {case.field}" in message, message
    assert error.table == case.name and error.field == case.field
    assert case.problem in message, message
    assert "np." not in message and "dtype" not in message, message


def test_there_are_at_least_25_bad_files() -> None:
    assert len(CASES) >= 25
