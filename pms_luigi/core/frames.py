"""The small helpers every pure module shares: column checks, dates, JSON-safe values.

One copy of each rule, so a message, a date conversion or a JSON value is the same whichever
step produced it:

- :func:`require` — a frame has the columns a function reads, or :class:`InvalidInput` names
  the table and the first missing field;
- :func:`as_date` / :func:`to_days` — one date, or a column of dates, from what the drivers
  and callers hand over (``datetime.date``, ``datetime``, ``pd.Timestamp``, ``datetime64``,
  ISO text);
- :func:`json_safe` — plain JSON types (what a JSON column stores and Redis serves): numpy
  scalars to ``int``/``float``/``bool``, NaN and ±inf to ``None`` (PostgreSQL's JSONB
  rejects NaN), dates to ISO text;
- :func:`canonical_json` — the one text form of a payload (sorted keys, no spaces), over
  which digests are taken.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final

import numpy as np
import pandas as pd

from pms_luigi.core.errors import InvalidInput

_NAT: Final = np.datetime64("NaT", "D")
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()


def require(frame: Any, columns: Sequence[str], table: str) -> None:
    """Raise :class:`InvalidInput` unless ``frame`` is a DataFrame with every column named.

    The message names the table and the missing columns; ``field`` is the first of them.

    >>> require(pd.DataFrame({"a": [1]}), ["a", "b"], "trades")
    Traceback (most recent call last):
    ...
    pms_luigi.core.errors.InvalidInput: trades: missing column(s) b
    """
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(f"{table}: expected a DataFrame, got {type(frame).__name__}",
                           table=table)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(f"{table}: missing column(s) {', '.join(missing)}", table=table,
                           field=missing[0])


def as_date(value: Any, what: str) -> date:
    """One calendar date from a date, datetime, Timestamp, datetime64 or ISO text.

    >>> as_date("2026-02-06", "on"), as_date(pd.Timestamp("2026-02-06 15:00"), "on")
    (datetime.date(2026, 2, 6), datetime.date(2026, 2, 6))
    """
    if isinstance(value, datetime):  # pd.Timestamp is a datetime
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, np.datetime64 | str):
        try:
            ts = pd.Timestamp(value)
        except ValueError as exc:
            raise InvalidInput(f"{what} must be a date, got {value!r}", field=what) from exc
        if not pd.isna(ts):
            return ts.date()
    raise InvalidInput(f"{what} must be a date, got {value!r}", field=what)


def to_days(values: Any) -> np.ndarray:
    """Dates (date objects, naive Timestamps, datetime64, ISO text, None) as ``datetime64[D]``.

    ``datetime.date`` objects — what the database drivers return — convert through
    ``date.toordinal`` in a C loop; anything else goes through pandas' parser and is floored
    to the day. None becomes NaT.

    >>> to_days([date(2026, 2, 6), None, "2026-02-09"]).tolist()
    [datetime.date(2026, 2, 6), None, datetime.date(2026, 2, 9)]
    """
    arr = values.to_numpy() if isinstance(values, pd.Series | pd.Index) else np.asarray(values)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[D]")
    if len(arr) == 0:
        return np.array([], dtype="datetime64[D]")
    if arr.dtype == object and pd.api.types.infer_dtype(arr, skipna=True) == "date":
        ok = pd.notna(arr)
        out = np.full(len(arr), _NAT)
        out[ok] = np.fromiter(map(date.toordinal, arr[ok]), np.int64, int(ok.sum())) \
            - _EPOCH_ORDINAL
        return out
    return pd.to_datetime(pd.Series(arr, dtype=object)).to_numpy().astype("datetime64[D]")


def json_safe(obj: Any) -> Any:
    """A plain-Python, JSON-able copy of ``obj``.

    Mappings (keys as text), lists and tuples recurse; ``bool``/``int``/``float`` and their
    numpy kinds become Python scalars, with NaN and ±inf as ``None``; a ``date`` becomes ISO
    text, a ``datetime``/``Timestamp`` its ``isoformat()`` (ISO date when it is a naive
    midnight, i.e. a date held as a timestamp); ``None`` and text pass; any other missing
    value becomes ``None`` and anything else its ``str``.

    >>> json_safe({"a": np.float64("nan"), "b": [np.int64(2), np.bool_(True)],
    ...            "c": pd.Timestamp("2026-02-06"), "d": date(2026, 2, 9)})
    {'a': None, 'b': [2, True], 'c': '2026-02-06', 'd': '2026-02-09'}
    """
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.datetime64):
        obj = pd.Timestamp(obj)
    if isinstance(obj, datetime):
        if pd.isna(obj):
            return None
        midnight = obj.tzinfo is None and obj.time() == datetime.min.time()
        return obj.date().isoformat() if midnight else obj.isoformat()
    if isinstance(obj, date):
        return obj.isoformat()
    if pd.isna(obj):
        return None
    return str(obj)


def canonical_json(payload: object) -> str:
    """Deterministic JSON text (sorted keys, no spaces): the digests are taken over it.

    >>> canonical_json({"b": 1, "a": [1.5, None]})
    '{"a":[1.5,null],"b":1}'
    """
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
