"""How an input cell is read: the text a file holds -> its column's type, strictly.

A CSV cell is text; what it may say depends on its column's kind (:class:`Column`) and on
what the file declares about itself (:class:`TextFormat`). The rules never guess between two
readings of the same text:

- **date**: ISO ``YYYY-MM-DD``. A file declared day-first (``--dayfirst``) writes the
  Brazilian ``dd/mm/yyyy`` and only that: ``03/11/2026`` is 3 November there, and an error
  (not 11 March, not 3 November) in an ISO file.
- **number**: a decimal point, optional sign and exponent (``-1234.5``, ``1e-05``, what a
  program writes); a file declared with decimal commas (``--decimal-comma``) writes
  ``-1234,5`` instead. Thousands separators are never read: ``1.234`` and ``1,234`` are one
  thousand or about one depending on the locale, so the declared decimal mark decides and
  the other mark is an error.
- **integer**: digits with an optional sign.
- **boolean**: ``true``/``false`` or ``1``/``0``, in any case (``True``, ``TRUE`` as
  Python and spreadsheets write them). ``yes``/``no``, ``t``/``f``, ``sim``/``não`` are
  refused: a flag column has one spelling per value, not a vocabulary.
- **json**: a JSON array or object.
- **text**: as written.

An empty or blank cell is missing (its column's default, if it has one). A cell typed
already (a frame built in code: ``datetime.date``, float, bool, list) is taken as it is.
Then every value must **fit** its column: text no longer than ``VARCHAR(n)``, numbers with at
most p − s digits before the decimal point of ``NUMERIC(p, s)`` (extra decimals are rounded
to s by the database, as documented for each kind in the schema), integers within 32 bits.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd

__all__ = ["KINDS", "PLAIN", "Column", "TextFormat", "is_empty", "read_column", "written"]

KINDS: Final = ("text", "date", "number", "integer", "boolean", "json")
#: The largest value of a 32-bit INTEGER column.
INT_MAX: Final = 2**31 - 1
#: A value shown in a message: at most this many characters of it.
SHOWN: Final = 60

_ISO: Final = (r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d")
_DAYFIRST: Final = (r"\d{2}/\d{2}/\d{4}", "%d/%m/%Y")
_SLASHED: Final = r"\d{1,2}/\d{1,2}/\d{2,4}"
#: Decimal mark -> a number written with it (no thousands separators).
_NUMBER: Final = MappingProxyType({
    ".": r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?",
    ",": r"[+-]?(?:\d+,?\d*|,\d+)(?:[eE][+-]?\d+)?"})
_TRUE: Final = frozenset({"true", "1"})
_FALSE: Final = frozenset({"false", "0"})


@dataclass(frozen=True)
class Column:
    """One column of an input table, as its cells are read and fitted.

    Attributes:
        name: the column.
        kind: one of :data:`KINDS`.
        required: a value must be given (an empty cell is refused).
        length: text: the most characters the column holds (``VARCHAR(n)``).
        precision: number: p of the column's ``NUMERIC(p, s)``.
        scale: number: s of ``NUMERIC(p, s)``.
        default: the text an empty cell stands for (the schema's server default), or None.
    """

    name: str
    kind: str = "text"
    required: bool = False
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    default: str | None = None

    def describe(self) -> str:
        """The type as the loader's help shows it.

        >>> Column("price", "number", precision=24, scale=8).describe()
        'decimal NUMERIC(24, 8)'
        >>> Column("trade_id", length=64).describe(), Column("d", "date").describe()
        ('text (at most 64)', 'date YYYY-MM-DD')
        """
        if self.kind == "text":
            return f"text (at most {self.length})" if self.length else "text"
        if self.kind == "number":
            return f"decimal NUMERIC({self.precision}, {self.scale})" \
                if self.precision is not None else "decimal"
        return {"date": "date YYYY-MM-DD", "integer": "integer",
                "boolean": "true/false (or 1/0)", "json": "JSON"}[self.kind]


@dataclass(frozen=True)
class TextFormat:
    """What a file declares about how it writes values.

    Attributes:
        dayfirst: dates are ``dd/mm/yyyy`` (and only that), not ISO.
        decimal_comma: numbers use a decimal comma (``0,1425``), not a decimal point.
    """

    dayfirst: bool = False
    decimal_comma: bool = False


#: What a file is unless it declares otherwise: ISO dates, a decimal point.
PLAIN: Final = TextFormat()


def written(value: object, quoted: bool = True) -> str:
    """A value as a message shows it: the text as written (quoted), a typed value in its
    plain form (never a numpy repr), ``(empty)`` for a missing one; long text shortened.

    >>> written("03/11/2026"), written(np.float64(-98.5)), written(None), written(["carry"])
    ("'03/11/2026'", "'-98.5'", '(empty)', '\\'["carry"]\\'')
    >>> written(date(2026, 9, 30), quoted=False), written(np.int64(3), quoted=False)
    ('2026-09-30', '3')
    """
    if isinstance(value, list | tuple | dict | np.ndarray):
        text = json.dumps(value.tolist() if isinstance(value, np.ndarray) else value)
    elif value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return "(empty)"
    elif isinstance(value, pd.Timestamp | date):
        text = value.date().isoformat() if isinstance(value, pd.Timestamp) \
            else value.isoformat()
    elif isinstance(value, bool | np.bool_):
        text = str(bool(value))
    elif isinstance(value, float | np.floating):
        text = repr(float(value))
    elif isinstance(value, int | np.integer):
        text = str(int(value))
    else:
        text = str(value)
    if len(text) > SHOWN:
        text = text[:SHOWN - 3] + "..."
    return repr(text) if quoted else text


def _is_text(values: pd.Series) -> np.ndarray:
    return np.fromiter((isinstance(v, str) for v in values), bool, len(values))


def is_empty(values: pd.Series) -> pd.Series:
    """The missing cells of a column: None/NaN, or text that is blank.

    >>> is_empty(pd.Series(["a", "", "  ", None, 1.5])).tolist()
    [False, True, True, True, False]
    """
    text = _is_text(values)
    blank = np.zeros(len(values), bool)
    blank[text] = pd.Series(values.to_numpy(dtype=object)[text]).str.strip().eq("").to_numpy()
    return pd.Series(values.isna().to_numpy() | blank, index=values.index)


def read_column(values: pd.Series, column: Column,
                fmt: TextFormat = PLAIN) -> tuple[pd.Series, pd.Series]:
    """The column's cells typed by ``column.kind``, and why each cell that cannot be read
    or does not fit is refused.

    Args:
        values: the cells (text as written, or typed values).
        column: the column's kind, size and default.
        fmt: how text cells write dates and numbers.

    Returns:
        ``(typed, why)`` on ``values``' index: typed values (dates as ``datetime.date``,
        numbers float64, integers and booleans as Python objects, JSON parsed; missing
        where empty or refused) and the reason per cell (None where fine).

    Examples:
        >>> typed, why = read_column(pd.Series(["2026-11-03", "03/11/2026", ""]),
        ...                          Column("d", "date"))
        >>> typed.tolist()
        [datetime.date(2026, 11, 3), None, None]
        >>> print(why[1])
        not an ISO date (YYYY-MM-DD); a day-first date (dd/mm/yyyy) needs --dayfirst
        >>> read_column(pd.Series(["0,15", "1.5"]), Column("r", "number"),
        ...             TextFormat(decimal_comma=True))[1].tolist()
        [None, 'not a number with a decimal comma (the file declares --decimal-comma)']
    """
    cells = pd.Series(values.to_numpy(dtype=object))
    empty = is_empty(cells).to_numpy()
    if column.default is not None and empty.any():
        cells[empty] = column.default
        empty = np.zeros(len(cells), bool)
    text = _is_text(cells) & ~empty
    given = ~text & ~empty
    stripped = pd.Series(cells.where(text).to_numpy(dtype=object)).str.strip()
    typed, why = _READERS[column.kind](cells, stripped, text, given, fmt)
    why = why.where(why.notna(), _fit(typed, column))
    refused = why.notna().to_numpy()
    if refused.any():
        typed = typed.copy()
        typed[refused] = None if typed.dtype == object else np.nan
    return typed.set_axis(values.index), why.set_axis(values.index)


def _reasons(n: int) -> pd.Series:
    return pd.Series([None] * n, dtype=object)


def _dates(cells: pd.Series, text_cells: pd.Series, text: np.ndarray, given: np.ndarray,
           fmt: TextFormat) -> tuple[pd.Series, pd.Series]:
    pattern, form = _DAYFIRST if fmt.dayfirst else _ISO
    shaped = text & text_cells.str.fullmatch(pattern).fillna(False).to_numpy(bool)
    stamps = pd.to_datetime(text_cells.where(shaped), format=form, errors="coerce")
    datelike = given & np.fromiter((isinstance(v, date | np.datetime64) for v in cells), bool,
                                   len(cells))
    stamps[datelike] = pd.to_datetime(cells[datelike], errors="coerce")
    why = _reasons(len(cells))
    if fmt.dayfirst:
        why[text & ~shaped] = "not a day-first date (dd/mm/yyyy), as --dayfirst declares"
    else:
        slashed = text_cells.str.fullmatch(_SLASHED).fillna(False).to_numpy(bool)
        why[text & ~shaped] = "not an ISO date (YYYY-MM-DD)"
        why[text & ~shaped & slashed] = ("not an ISO date (YYYY-MM-DD); a day-first date "
                                         "(dd/mm/yyyy) needs --dayfirst")
    why[shaped & stamps.isna().to_numpy()] = "not a date (no such day)"
    why[given & ~datelike] = "not a date"
    ok = stamps.notna()
    return stamps.dt.date.where(ok, None).astype(object), why


def _numbers(cells: pd.Series, text_cells: pd.Series, text: np.ndarray, given: np.ndarray,
             fmt: TextFormat) -> tuple[pd.Series, pd.Series]:
    mark, other = (",", ".") if fmt.decimal_comma else (".", ",")
    shaped = text & text_cells.str.fullmatch(_NUMBER[mark]).fillna(False).to_numpy(bool)
    numbers = pd.to_numeric(text_cells.where(shaped).str.replace(",", ".", regex=False),
                            errors="coerce").astype(float)
    numbers[given] = pd.to_numeric(cells[given], errors="coerce").astype(float)
    why = _reasons(len(cells))
    has_other = text_cells.str.contains(other, regex=False).fillna(False).to_numpy(bool)
    other_ok = text_cells.str.fullmatch(_NUMBER[other]).fillna(False).to_numpy(bool)
    why[text & ~shaped] = "not a number"
    if fmt.decimal_comma:
        why[text & ~shaped & has_other] = ("not a number with a decimal comma (the file "
                                           "declares --decimal-comma)")
    else:
        why[text & ~shaped & has_other & other_ok] = ("not a number; a decimal comma needs "
                                                       "--decimal-comma")
    why[text & ~shaped & has_other & ~other_ok & text_cells.str.contains(
        mark, regex=False).fillna(False).to_numpy(bool)] = ("not a number (thousands "
                                                             "separators are not read)")
    why[given & numbers.isna().to_numpy()] = "not a number"
    why[np.isinf(numbers.to_numpy())] = "infinite"
    return numbers, why


def _integers(cells: pd.Series, text_cells: pd.Series, text: np.ndarray, given: np.ndarray,
              fmt: TextFormat) -> tuple[pd.Series, pd.Series]:
    numbers, why = _numbers(cells, text_cells, text, given, fmt)
    whole = numbers.notna() & (numbers == numbers.round())
    why[numbers.notna().to_numpy() & ~whole.to_numpy()] = "not an integer"
    return pd.Series([int(v) if ok else None for v, ok in zip(numbers, whole, strict=True)],
                     dtype=object), why


def _booleans(cells: pd.Series, text_cells: pd.Series, text: np.ndarray, given: np.ndarray,
              fmt: TextFormat) -> tuple[pd.Series, pd.Series]:
    lower = text_cells.str.lower()
    flags = np.full(len(cells), None, dtype=object)
    flags[text & lower.isin(_TRUE).to_numpy()] = True
    flags[text & lower.isin(_FALSE).to_numpy()] = False
    typed = given & np.fromiter((isinstance(v, bool | np.bool_) or (
        isinstance(v, int | float | np.number) and v in (0, 1)) for v in cells), bool,
        len(cells))
    flags[typed] = [bool(v) for v in cells[typed]]
    why = _reasons(len(cells))
    why[(text | given) & pd.isna(flags)] = "not a boolean (true/false or 1/0)"
    return pd.Series(flags, dtype=object), why


def _json(cells: pd.Series, text_cells: pd.Series, text: np.ndarray, given: np.ndarray,
          fmt: TextFormat) -> tuple[pd.Series, pd.Series]:
    values: list[object] = [None] * len(cells)
    why = _reasons(len(cells))
    for i in np.flatnonzero(text | given):
        value = cells.iloc[i]
        if text[i]:
            try:
                value = json.loads(value)
            except ValueError as exc:
                why.iloc[i] = f"not JSON ({exc.msg} at character {exc.pos + 1})"
                continue
        if isinstance(value, tuple | np.ndarray):
            value = list(value)
        if isinstance(value, list | dict):
            values[i] = value
        else:
            why.iloc[i] = "not a JSON array or object"
    return pd.Series(values, dtype=object), why


def _texts(cells: pd.Series, text_cells: pd.Series, text: np.ndarray, given: np.ndarray,
           fmt: TextFormat) -> tuple[pd.Series, pd.Series]:
    kept = np.where(text | given, cells.to_numpy(dtype=object), None)
    return pd.Series(kept, dtype=object), _reasons(len(cells))


_READERS: Final = MappingProxyType({
    "date": _dates, "number": _numbers, "integer": _integers, "boolean": _booleans,
    "json": _json, "text": _texts})


def _fit(typed: pd.Series, column: Column) -> pd.Series:
    """Why a value read fine does not fit its column (None where it does)."""
    why = _reasons(len(typed))
    if column.kind == "text" and column.length is not None:
        lengths = typed.map(lambda v: len(v) if isinstance(v, str) else 0).to_numpy()
        long = lengths > column.length
        why[long] = [f"longer than {column.length} characters ({n})" for n in lengths[long]]
    elif column.kind == "number" and column.precision is not None:
        digits = column.precision - (column.scale or 0)
        size = np.round(np.abs(typed.to_numpy(float)), column.scale or 0)
        why[~np.isnan(size) & (size >= 10.0 ** digits)] = (
            f"too large for NUMERIC({column.precision}, {column.scale}): at most {digits} "
            "digits before the decimal point")
    elif column.kind == "integer":
        why[[v is not None and abs(v) > INT_MAX for v in typed]] = \
            f"too large for an INTEGER (at most {INT_MAX})"
    return why
