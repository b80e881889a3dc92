"""Signed business-day counts: ANBIMA's ``du`` and the B3 session count, vectorized.

Callers use them as ``calendar.du`` and ``calendar.b3_session_count``:
:mod:`pms_luigi.core.calendar` re-exports both and stays the one module to import. They live
here to keep the calendar under the project's module size, and they are the part that splits
off cleanly: the calendar's only functions that take arrays (dates, ``datetime64`` arrays and
pandas Series broadcast; ``as_of`` may give one reference date per pair), with their own
conversion (:func:`_days`) and bulk range check (:func:`_check_count_range`). The rest of the
calendar takes one date at a time and uses none of this. The two share only what
:mod:`~pms_luigi.core.calendar_versions` provides: the calendar versions and the range
``FIRST_DAY``..``LAST_DAY``.

Pure, like the calendar: the standard library, numpy and
:mod:`~pms_luigi.core.calendar_versions`; no clock.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from pms_luigi.core.calendar_versions import (
    FIRST_DAY,
    FIRST_YEAR,
    LAST_DAY,
    LAST_YEAR,
    numbered_version,
    version,
    version_numbers,
)

__all__ = ["b3_session_count", "du"]

_END_DAY: Final = LAST_DAY + np.timedelta64(1, "D")  # a half-open count may end on this day


def du(start: Any, end: Any, *, as_of: Any = None) -> Any:
    """ANBIMA business days in ``[start, end)``, counted as of ``as_of``: the ``du`` of every
    rate <-> PU conversion.

    The ANBIMA/Tesouro convention counts from settlement inclusive to maturity exclusive, so
    a maturity on a holiday counts correctly without rolling:
    ``du(2024-01-01, 2025-01-01) == 253``. The count is the market's on the reference date
    ``as_of``: a DI1 or bond priced on date D from its published rate uses ``as_of=D``.

    The count is signed. With F(x) = the business days before x in one calendar version,
    ``du(start, end) = F(end) − F(start)``: for ``end < start`` it is minus the business days
    in ``[end, start)``. Hence, for one ``as_of``, du is antisymmetric,
    ``du(a, b) == -du(b, a)``, and additive, ``du(a, b) + du(b, c) == du(a, c)`` for any order
    of a, b, c. (``numpy.busday_count`` alone returns minus the days in ``(end, start]``:
    ``busday_count(2025-01-01, 2024-12-31)`` is 0 while ``du(2024-12-31, 2025-01-01)`` is 1,
    so it is neither.) Counts made on different reference dates are not additive: with a rule
    switch between a and b, ``du(a, b, as_of=a) + du(b, c, as_of=b)`` differs from
    ``du(a, c, as_of=a)`` by the rule's holidays in ``[b, c)``.

    Args:
        start, end: ``datetime.date`` values, or array-likes of them (lists, numpy
            ``datetime64`` arrays, pandas Series/Index); they broadcast against each other.
        as_of: the reference date of the count; None (default) is today's calendar. It may
            also be an array-like broadcasting with ``start``/``end`` (one reference date per
            pair, e.g. each row's price date); each calendar version present is one vectorized
            count. It may be any date, inside the calendar range or not.

    Returns:
        ``int`` when every argument is a scalar, else an ``np.ndarray`` of ``int64``.

    Raises:
        ValueError: a missing date (NaT), or ``start``/``end`` outside the calendar range.

    Examples:
        DI1F28 (maturing 2028-01-03) seen on 2023-06-01: three Nov 20 holidays (2024-2026, on
        weekdays) did not exist yet on that reference date.

        >>> du(date(2023, 6, 1), date(2028, 1, 3), as_of=date(2023, 6, 1))
        1154
        >>> du(date(2023, 6, 1), date(2028, 1, 3))
        1151
        >>> du(date(2024, 12, 31), date(2025, 1, 1)), du(date(2025, 1, 1), date(2024, 12, 31))
        (1, -1)
        >>> starts = np.array(["2023-12-22", "2023-12-26"], dtype="datetime64[D]")
        >>> du(starts, date(2025, 1, 1), as_of=starts).tolist()
        [259, 257]
    """
    return _count(start, end, as_of, "du", "anbima")


def b3_session_count(start: Any, end: Any, *, as_of: Any = None) -> Any:
    """B3 sessions in ``[start, end)``: :func:`du` on the B3 calendar (same arguments, signs
    and identities), e.g. how many sessions old a settlement price is.

    Examples:
        >>> b3_session_count(date(2025, 1, 1), date(2026, 1, 1)), du(date(2025, 1, 1),
        ...                                                         date(2026, 1, 1))
        (250, 252)
    """
    return _count(start, end, as_of, "b3_session_count", "b3")


def _days(x: Any) -> npt.NDArray[np.datetime64]:
    """Dates, datetime64 values, ISO strings or array-likes of them as a datetime64[D] array.

    numpy converts object arrays of ``date``/``datetime``/``pd.Timestamp`` itself; a scalar
    datetime contributes its own calendar date. Time-zone-aware datetimes inside arrays are
    converted to UTC by numpy, so pass dates (or naive local datetimes) there.
    """
    if isinstance(x, datetime):
        x = x.date()
    return np.asarray(x).astype("datetime64[D]")


def _check_count_range(arr: npt.NDArray[np.datetime64], what: str) -> None:
    """``[a, b)`` touches only days in the calendar when both ends lie in [first, last + 1]."""
    if arr.size == 0:
        return
    lo, hi = (arr[()], arr[()]) if arr.ndim == 0 else (arr.min(), arr.max())
    if np.isnat(lo):  # min and max propagate NaT
        raise ValueError(f"{what} contains a missing date (NaT)")
    if lo < FIRST_DAY or hi > _END_DAY:
        bad = lo if lo < FIRST_DAY else hi
        raise ValueError(f"{what} {bad} is outside the calendar range {FIRST_YEAR}..{LAST_YEAR}")


def _count(start: Any, end: Any, as_of: Any, what: str, which: str) -> Any:
    """The signed count of :func:`du` / :func:`b3_session_count` on calendar ``which``."""
    s, e = _days(start), _days(end)
    _check_count_range(s, f"{what}: start")
    _check_count_range(e, f"{what}: end")
    if as_of is None or isinstance(as_of, date):
        counts = _signed_count(s, e, getattr(version(as_of), which))
    else:
        counts = _count_by_version(s, e, _days(as_of), what, which)
    if np.ndim(counts) == 0:
        return int(counts)
    return np.asarray(counts, dtype=np.int64)


def _count_by_version(s: npt.NDArray[np.datetime64], e: npt.NDArray[np.datetime64],
                      as_of: npt.NDArray[np.datetime64], what: str, which: str) -> Any:
    """Counts with one reference date per pair: one vectorized count per version present."""
    if np.isnat(as_of).any():
        raise ValueError(f"{what}: as_of contains a missing date (NaT)")
    numbers = version_numbers(as_of)
    if numbers.size == 0 or numbers.min() == numbers.max():  # the usual case: one version
        first = int(numbers.flat[0]) if numbers.size else 0
        s, e, _ = np.broadcast_arrays(s, e, as_of)
        return _signed_count(s, e, getattr(numbered_version(first), which))
    s, e, numbers = np.broadcast_arrays(s, e, numbers)
    counts = np.zeros(numbers.shape, dtype=np.int64)
    for k in range(int(numbers.min()), int(numbers.max()) + 1):
        rows = numbers == k
        if rows.any():
            counts[rows] = _signed_count(s[rows], e[rows], getattr(numbered_version(k), which))
    return counts


def _signed_count(s: npt.NDArray[np.datetime64], e: npt.NDArray[np.datetime64],
                  cal: np.busdaycalendar) -> Any:
    """F(e) − F(s): business days in [s, e), or minus those in [e, s) when e < s."""
    backward = e < s
    if not backward.any():
        return np.busday_count(s, e, busdaycal=cal)
    counts = np.busday_count(np.minimum(s, e), np.maximum(s, e), busdaycal=cal)
    return np.where(backward, -counts, counts)
