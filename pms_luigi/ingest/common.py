"""What every parser shares: the bytes, the text, the one error message, numbers and dates.

A bad file is reported the same way whichever publisher sent it: :class:`InvalidInput` whose
message names the file, where in it (``line 7``, ``message 12 (DI1F26)``, ``observation 3``),
the field and the value exactly as written (quoted text, never a numpy repr), then the
problem::

    tpf_20260206.txt: line 7: field PU '980.58076': not a number with a decimal comma

``InvalidInput.table`` holds the file name, ``row`` the place and ``field`` the field, so a
caller (the landing stage, a data-quality table) can file the problem without parsing text.

The column helpers (:func:`numbers`, :func:`dates`, :func:`check`, :func:`unique`) work on
a whole column at once and report the first offending row, with how many more there are.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date
from types import MappingProxyType
from typing import IO, Any, Final

import numpy as np
import pandas as pd

from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.frames import as_date

#: What a parser reads: the file's bytes, or a binary file object positioned at its start.
Source = bytes | bytearray | memoryview | IO[bytes]

#: A value shown in a message: at most this many characters of it.
_SHOWN: Final = 60
_ABSENT: Final = object()

#: Number patterns (no thousands separators: none of the publishers uses them).
_NUMBER: Final = MappingProxyType({".": r"[-+]?\d+(?:\.\d+)?", ",": r"[-+]?\d+(?:,\d+)?"})
#: Date layouts: strptime format -> (pattern, how the message names it).
_DATE: Final = MappingProxyType({
    "%Y-%m-%d": (r"\d{4}-\d{2}-\d{2}", "an ISO date (YYYY-MM-DD)"),
    "%Y%m%d": (r"\d{8}", "a date written YYYYMMDD"),
    "%d/%m/%Y": (r"\d{2}/\d{2}/\d{4}", "a date written dd/mm/yyyy"),
})
#: A Latin-1 letter written as UTF-8 is two bytes, the first of them Â .. ß (0xC2-0xDF) and
#: the second a UTF-8 continuation byte; Latin-1 text never holds C1 control bytes (0x80-0x9F).
#: Either means the file is not in Latin-1 and its accented text would read as mojibake.
_NOT_LATIN1: Final = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\x80-\x9f]")


def written(value: object) -> str:
    """A value as the file wrote it, for a message: quoted text, shortened when long.

    >>> written("14,901"), written(None), written(b"\\xc3\\xa7")
    ("'14,901'", '(absent)', "b'\\\\xc3\\\\xa7'")
    """
    if value is None:
        return "(absent)"
    text = value if isinstance(value, str | bytes) else str(value)
    shown = repr(text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "...")
    return shown


def invalid(file_name: str, where: str, field: str, problem: str,
            value: object = _ABSENT) -> InvalidInput:
    """The one error of a bad file (returned, for the caller to ``raise``).

    Args:
        file_name: the file as received (its name, for the message).
        where: the place in it: ``line 7``, ``message 12 (DI1F26)``, ``observation 3``.
        field: the field (column, XML element, JSON key) at fault.
        problem: what is wrong, in words operations can act on.
        value: the value as written; omitted for problems of the whole file.

    >>> str(invalid("tpf.txt", "line 7", "PU", "not a number", "9,8,1"))
    "tpf.txt: line 7: field PU '9,8,1': not a number"
    >>> str(invalid("tpf.txt", "line 1", "file", "the file is empty"))
    'tpf.txt: line 1: field file: the file is empty'
    """
    shown = "" if value is _ABSENT else f" {written(value)}"
    return InvalidInput(f"{file_name}: {where}: field {field}{shown}: {problem}",
                        table=file_name, row=where, field=field)


def read_bytes(source: Source, file_name: str) -> bytes:
    """The whole file, refusing an empty one.

    Raises:
        InvalidInput: the file is empty.
        TypeError: ``source`` is neither bytes nor a binary file object.

    >>> read_bytes(b"", "x.txt")
    Traceback (most recent call last):
    ...
    pms_luigi.core.errors.InvalidInput: x.txt: line 1: field file: the file is empty
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    else:
        data = source.read()
        if not isinstance(data, bytes):
            raise TypeError(f"{file_name}: open the file in binary mode ('rb')")
    if not data:
        raise invalid(file_name, "line 1", "file", "the file is empty")
    return data


def position(data: bytes, offset: int) -> str:
    """``line L, column C`` (both from 1) of a byte offset.

    >>> position(b"ab\\ncd", 4)
    'line 2, column 2'
    """
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def decode(data: bytes, file_name: str, encoding: str) -> str:
    """The file's text in its declared encoding, refusing bytes that are not valid in it.

    For Latin-1 (where every byte decodes) it refuses C1 control bytes and UTF-8 pairs: both
    mean the file was saved in another encoding and its accented text would be mojibake.

    Raises:
        InvalidInput: naming the line and column of the first bad bytes.

    >>> decode("Associação".encode("latin-1"), "t.txt", "latin-1")
    'Associação'
    >>> decode("Associação".encode("utf-8"), "t.txt", "latin-1")
    Traceback (most recent call last):
    ...
    pms_luigi.core.errors.InvalidInput: t.txt: line 1, column 8: field encoding b'\\xc3\\xa7': \
UTF-8 for 'ç', the file is not Latin-1
    """
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise invalid(file_name, position(data, exc.start), "encoding",
                      f"not valid {encoding}", data[exc.start:exc.end]) from exc
    if encoding.lower().replace("_", "-") in ("latin-1", "iso-8859-1", "latin1"):
        bad = _NOT_LATIN1.search(data)
        if bad is not None:
            found = bad.group()
            why = (f"UTF-8 for {found.decode('utf-8')!r}, the file is not Latin-1"
                   if len(found) == 2
                   else "a control byte: the file is in another encoding than Latin-1")
            raise invalid(file_name, position(data, bad.start()), "encoding", why, found)
    return text


def read_json(source: Source, file_name: str) -> Any:
    """The file's JSON (UTF-8), or :class:`InvalidInput` naming the line and column.

    >>> read_json(b'{"value": [1,]}', "ptax.json")
    Traceback (most recent call last):
    ...
    pms_luigi.core.errors.InvalidInput: ptax.json: line 1, column 14: field JSON ']}': not \
valid JSON (Expecting value)
    """
    data = read_bytes(source, file_name)
    text = decode(data, file_name, "utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise invalid(file_name, f"line {exc.lineno}, column {exc.colno}", "JSON",
                      f"not valid JSON ({exc.msg})", text[exc.pos:exc.pos + 20]) from exc


def expected(value: object, what: str = "expected_date") -> date | None:
    """The optional date a caller expects the file to be for (None: no check)."""
    return None if value is None else as_date(value, what)


def _first(bad: np.ndarray, where: Sequence[str], values: Sequence[object], file_name: str,
           field: str, problem: str) -> InvalidInput | None:
    """The error for the first True of ``bad`` (with how many more rows share it), or None."""
    hits = np.flatnonzero(bad)
    if hits.size == 0:
        return None
    i = int(hits[0])
    more = f" (and {hits.size - 1} more row(s))" if hits.size > 1 else ""
    return invalid(file_name, where[i], field, problem + more, values[i])


def check(ok: np.ndarray | pd.Series, where: Sequence[str], values: Sequence[object],
          file_name: str, field: str, problem: str) -> None:
    """Raise for the first row where ``ok`` is False: ``values`` are the texts as written.

    >>> check(np.array([True, False]), ["line 4", "line 5"], ["1", "-3"], "f.txt", "PU",
    ...       "must be > 0")
    Traceback (most recent call last):
    ...
    pms_luigi.core.errors.InvalidInput: f.txt: line 5: field PU '-3': must be > 0
    """
    error = _first(~np.asarray(ok, dtype=bool), where, values, file_name, field, problem)
    if error is not None:
        raise error


def numbers(texts: Sequence[str | None], where: Sequence[str], file_name: str, field: str,
            *, decimal: str = ".", optional: bool = False) -> np.ndarray:
    """A column of numbers written as text (``decimal`` point or comma), as float64.

    Args:
        texts: the values as written; None (or empty) where the file has none.
        where: the place of each row, for the message.
        file_name, field: for the message.
        decimal: ``"."`` or ``","``; the other separator is refused (no thousands marks).
        optional: absent values become NaN instead of an error.

    Raises:
        InvalidInput: the first value that is not a number in that layout.

    >>> numbers(["14,7216", "-0,0264"], ["line 4", "line 5"], "f.txt", "Tx", decimal=",")
    array([14.7216, -0.0264])
    >>> numbers(["14.7216"], ["line 4"], "f.txt", "Tx. Indicativas", decimal=",")
    Traceback (most recent call last):
    ...
    pms_luigi.core.errors.InvalidInput: f.txt: line 4: field Tx. Indicativas '14.7216': not a \
number written with a decimal comma
    """
    s = pd.Series(list(texts), dtype=object)
    absent = s.isna() | (s == "")
    text = s.where(~absent, "").astype(str)
    good = text.str.fullmatch(_NUMBER[decimal]).to_numpy(dtype=bool)
    mark = "comma" if decimal == "," else "point"
    check(good | (absent.to_numpy() & optional), where, s.tolist(), file_name, field,
          f"not a number written with a decimal {mark}")
    values = np.full(len(s), np.nan)
    values[good] = text[good].str.replace(",", ".", regex=False).astype(float).to_numpy()
    return values


def dates(texts: Sequence[str | None], where: Sequence[str], file_name: str, field: str,
          layout: str) -> np.ndarray:
    """A column of dates written as text in one ``layout`` (a strptime format of
    :data:`_DATE`), as an object array of ``datetime.date``.

    Only that layout is read: a day-first ``03/02/2025`` in an ISO field is an error, never a
    silent reinterpretation.

    >>> dates(["20260206"], ["line 4"], "f.txt", "Data Referencia", "%Y%m%d").tolist()
    [datetime.date(2026, 2, 6)]
    >>> dates(["03/02/2025"], ["message 1"], "f.zip", "TradDt/Dt", "%Y-%m-%d")
    Traceback (most recent call last):
    ...
    pms_luigi.core.errors.InvalidInput: f.zip: message 1: field TradDt/Dt '03/02/2025': not \
an ISO date (YYYY-MM-DD)
    """
    pattern, name = _DATE[layout]
    s = pd.Series(list(texts), dtype=object)
    text = s.where(s.notna(), "").astype(str)
    check(text.str.fullmatch(pattern).to_numpy(dtype=bool), where, s.tolist(), file_name, field,
          f"not {name}")
    parsed = pd.to_datetime(text, format=layout, errors="coerce")
    check(parsed.notna().to_numpy(), where, s.tolist(), file_name, field,
          "not a calendar date")
    return np.array(parsed.dt.date.tolist(), dtype=object)


def unique(keys: Sequence[object], where: Sequence[str], file_name: str, field: str,
           shown: Sequence[object] | None = None) -> None:
    """Raise when a key repeats, naming the second place and the first.

    Args:
        keys: one key per row (a value or a tuple of values).
        where, file_name, field: for the message.
        shown: the values as written, for the message (default: the keys).

    >>> unique(["DI1F26", "DI1F27", "DI1F26"], ["message 1", "message 2", "message 3"],
    ...        "f.zip", "TckrSymb")
    Traceback (most recent call last):
    ...
    pms_luigi.core.errors.InvalidInput: f.zip: message 3: field TckrSymb 'DI1F26': duplicated \
(first at message 1)
    """
    s = pd.Series(list(keys), dtype=object)
    again = s.duplicated(keep="first").to_numpy()
    if again.any():
        i = int(np.flatnonzero(again)[0])
        first = next(j for j, key in enumerate(keys) if key == keys[i])
        raise invalid(file_name, where[i], field, f"duplicated (first at {where[first]})",
                      (keys if shown is None else shown)[i])


def same_date(found: np.ndarray, texts: Sequence[str | None], where: Sequence[str],
              file_name: str, field: str, want: date | None) -> date:
    """The one date every row carries, checked against the date the caller expects.

    Raises:
        InvalidInput: a row carries another date than the first row, or the file's date is
            not ``want`` (a file landed under the wrong date).

    >>> d = np.array([date(2025, 2, 3)] * 2, dtype=object)
    >>> same_date(d, ["2025-02-03"] * 2, ["message 1", "message 2"], "f.zip", "Dt",
    ...           date(2025, 2, 4))
    Traceback (most recent call last):
    ...
    pms_luigi.core.errors.InvalidInput: f.zip: message 1: field Dt '2025-02-03': the file is \
for 2025-02-03, expected 2025-02-04
    """
    day = found[0]
    check(found == day, where, texts, file_name, field,
          f"another date than the file's {day.isoformat()} (first row)")
    if want is not None and day != want:
        raise invalid(file_name, where[0], field,
                      f"the file is for {day.isoformat()}, expected {want.isoformat()}", texts[0])
    return day


def percent_to_decimal(values: np.ndarray) -> np.ndarray:
    """Rates published in percent as the decimals the store holds (14.901 -> 0.14901).

    Rounded to 12 decimals: the published percent has at most 6, so this is the double
    nearest the exact decimal (a plain ``/ 100`` is one ulp off for about a quarter of them).

    >>> percent_to_decimal(np.array([14.901, -3.179])).tolist()
    [0.14901, -0.03179]
    """
    return np.round(np.asarray(values, dtype=float) / 100.0, 12)


def lines_of(text: str) -> list[str]:
    """The text's lines (CRLF or LF), without the trailing empty ones."""
    lines = re.split(r"\r?\n", text)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines
