"""One read per input table for a backfill chunk, instead of one per date.

Each MTM step of D reads a window of input rows ending at D: a year of prices and FX,
every trade dated on or before D, the instruments. In a backfill the next date reads the
same rows shifted by one day, so re-reading them per date costs a large share of the step
and rebuilds the same Python objects again.

While the run context holds an :class:`InputWindow` (``RunContext.input_window``, which the
runner opens around each chunk's ``luigi.build``), the readers given it serve such a request
from rows read once for the whole chunk: the first request for a table reads from its start
to the chunk's last date; later requests that fall inside are sliced from it (same rows,
same order, same values as their own query would give — both are the same ``ORDER BY`` over
the same rows). A request outside (an earlier start, a date after the chunk) reads the
database as usual.

What it means for consistency: a step of the chunk sees the input tables as they were when
the chunk's first step read them — at most one chunk earlier, as if the step had run then.
Inputs are loaded in whole transactions, and a marker never recorded which input rows a step
read, so nothing that was true before stops being true: a correction loaded while a backfill
runs is, with or without the window, picked up by the ``rerun`` the correction calls for.
Only *input* tables go through here: the steps' own outputs (marks, books), which change
from step to step within a chunk, are always read from the database.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

#: A read of [start, end] from the database (start None: from the beginning of the table).
Read = Callable[[date | None, date], pd.DataFrame]


@dataclass
class _Rows:
    """Rows of one request kind from ``start`` (None: the table's first row) to the window's
    last date, ordered by ``day`` (day numbers)."""

    start: date | None
    frame: pd.DataFrame
    day: np.ndarray

    def covers(self, start: date | None) -> bool:
        return self.start is None or (start is not None and start >= self.start)

    def slice(self, start: date | None, end: date) -> pd.DataFrame:
        lo = 0 if start is None else int(np.searchsorted(self.day, start.toordinal(), "left"))
        hi = int(np.searchsorted(self.day, end.toordinal(), "right"))
        return self.frame.iloc[lo:hi].reset_index(drop=True)


@dataclass
class InputWindow:
    """The chunk's last date and the rows read so far, per request kind."""

    last: date
    rows: dict[str, _Rows] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # read whole
    answers: dict[str, tuple[date, dict[date, Any]]] = field(default_factory=dict)  # per date
    reads: int = 0  # database reads made (a test's and a benchmark's measure)

    def between(self, kind: str, date_column: str, start: date | None, end: date,
                read: Read) -> pd.DataFrame:
        """The rows ``read(start, end)`` returns, sliced from one read up to ``last`` when
        they fall inside it (``kind`` names the query: table and selected columns)."""
        if end > self.last:
            return read(start, end)
        held = self.rows.get(kind)
        if held is None or not held.covers(start):
            frame = read(start, self.last)
            self.reads += 1
            day = np.fromiter(map(date.toordinal, frame[date_column]), np.int64, len(frame))
            if len(day) > 1 and (np.diff(day) < 0).any():  # pragma: no cover - query contract
                raise AssertionError(f"{kind}: rows not ordered by {date_column}")
            held = self.rows[kind] = _Rows(start, frame, day)
        return held.slice(start, end)

    def whole(self, kind: str, read: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """A small table read whole (instruments), once per chunk."""
        if kind not in self.tables:
            self.tables[kind] = read()
            self.reads += 1
        return self.tables[kind]

    def per_date(self, kind: str, on: date, read: Callable[[date, date], dict[date, Any]]
                 ) -> Any:
        """``read(on, on)[on]``, answered from one ``read(on, last)`` for the first date of
        the chunk asked (a question per date, such as "which inputs of D are missing")."""
        if on > self.last:
            return read(on, on)[on]
        held = self.answers.get(kind)
        if held is None or on < held[0]:
            held = self.answers[kind] = (on, read(on, self.last))
            self.reads += 1
        return held[1][on]


def per_date(window: InputWindow | None, kind: str, on: date,
             read: Callable[[date, date], dict[date, Any]]) -> Any:
    """``read(on, on)[on]`` — served by ``window`` when there is one (see
    :meth:`InputWindow.per_date`)."""
    return read(on, on)[on] if window is None else window.per_date(kind, on, read)


def between(window: InputWindow | None, kind: str, date_column: str, start: date | None,
            end: date, read: Read) -> pd.DataFrame:
    """``read(start, end)`` — served by ``window`` when there is one (see
    :meth:`InputWindow.between`), else straight from the database."""
    return read(start, end) if window is None else window.between(kind, date_column, start,
                                                                  end, read)


def whole(window: InputWindow | None, kind: str, read: Callable[[], pd.DataFrame]
          ) -> pd.DataFrame:
    """``read()`` of a small table — once per window, else every time."""
    return read() if window is None else window.whole(kind, read)
