"""ANBIMA business days and B3 trading sessions: the fund's two Brazilian calendars.

Why two calendars:

* **ANBIMA** ("dias úteis", the national calendar of the financial market) decides the fund's
  business dates, CDI accrual, NAV days and every ``du`` used in rate <-> PU conversions.
  Non-business days: weekends, national holidays, Carnival Monday and Tuesday, Good Friday and
  Corpus Christi (plus Holy Thursday through 1999, CMN Resolução 2.516/1998). Ash Wednesday,
  Dec 24 and Dec 31 *are* business days. Nov 20 is national from 2024 (Lei 14.759/2023).
* **B3 sessions** decide which days have settlement prices ("ajustes"). B3 = ANBIMA + Dec 24 +
  the last business day of the year, plus, before 2022, São Paulo city/state closures that
  the ``holidays`` library does not model (:data:`B3_HISTORICAL_CLOSURES`).

Both are derived from the maintained ``holidays`` package (``financial_holidays("BVMF")``),
never from a hand-written list: ANBIMA = BVMF minus {"Christmas Eve", "Last Business Day of
the Year"} (identical to bizdays' ANBIMA file for 2000-2099). Only the historical exceptions
the library lacks are kept as data, in :mod:`pms_luigi.core.calendar_versions`.

**Point in time.** The market counts with the holidays in force on the day the count is
made: for any reference date up to 2023-12-22, Nov 20 of 2024 and later is a business day;
from 2023-12-26 on, a holiday (Lei 14.759/2023). Every function takes that reference date as
the keyword ``as_of`` (None: today's calendar, every rule of :data:`HOLIDAY_RULES` in force).
Each set of rules in force is one version, a pair of numpy calendars built once per process.

Arithmetic is vectorized with :class:`numpy.busdaycalendar`; the calendars cover the years
:data:`FIRST_YEAR`..:data:`LAST_YEAR` and every function refuses a date outside them rather
than silently treating a holiday as a business day.

This module is pure: it imports only the standard library, numpy and holidays (through
:mod:`~pms_luigi.core.calendar_versions`), and it never reads the clock except in
:func:`today_brt`; ``as_of=None`` is the current law, not a reading of the clock.
"""
from __future__ import annotations

from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from pms_luigi.core.calendar_versions import (
    B3_HISTORICAL_CLOSURES,
    FIRST_YEAR,
    HOLIDAY_RULES,
    LAST_YEAR,
    HolidayRule,
    numbered_version,
    version,
    version_numbers,
)

__all__ = [
    "ANBIMA",
    "B3",
    "B3_HISTORICAL_CLOSURES",
    "FIRST_YEAR",
    "HOLIDAY_RULES",
    "LAST_YEAR",
    "TIMEZONE",
    "HolidayRule",
    "add_business_days",
    "anbima_calendar",
    "b3_calendar",
    "b3_holidays_between",
    "b3_session_count",
    "b3_sessions",
    "business_days",
    "calendar_fingerprint",
    "du",
    "first_business_day_of_month",
    "following",
    "holiday_name",
    "is_b3_session",
    "is_business_day",
    "next_b3_session",
    "next_business_day",
    "previous_b3_session",
    "previous_business_day",
    "today_brt",
]

#: The fund's time zone. Brazil has had no DST since 2019 (UTC-3 all year).
TIMEZONE: Final = ZoneInfo("America/Sao_Paulo")

_WEEKEND_NAMES: Final = MappingProxyType({5: "Saturday", 6: "Sunday"})
_MIN_DAY: Final = np.datetime64(f"{FIRST_YEAR}-01-01", "D")
_MAX_DAY: Final = np.datetime64(f"{LAST_YEAR}-12-31", "D")
_ONE_DAY: Final = np.timedelta64(1, "D")
_END_DAY: Final = _MAX_DAY + _ONE_DAY  # a half-open count may end on the day after the range

# Today's calendars, built on first use (PEP 562 ``__getattr__`` below). Annotated here so
# that type checkers and readers see them as plain attributes.
ANBIMA: np.busdaycalendar
B3: np.busdaycalendar


def __getattr__(name: str) -> Any:
    """Serve ``ANBIMA`` and ``B3`` lazily so that importing the module stays cheap."""
    if name == "ANBIMA":
        return version(None).anbima
    if name == "B3":
        return version(None).b3
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def anbima_calendar(*, as_of: date | None = None) -> np.busdaycalendar:
    """The ANBIMA :class:`numpy.busdaycalendar` of reference date ``as_of`` (None: today's).

    For vectorized ``np.is_busday`` / ``np.busday_offset`` over many dates seen from one
    reference date; :data:`ANBIMA` is ``anbima_calendar()``. Immutable, shared by every caller.

    Examples:
        >>> days = np.array(["2024-11-19", "2024-11-20"], dtype="datetime64[D]")
        >>> np.is_busday(days, busdaycal=anbima_calendar()).tolist()
        [True, False]
        >>> np.is_busday(days, busdaycal=anbima_calendar(as_of=date(2023, 6, 1))).tolist()
        [True, True]
    """
    return version(as_of).anbima


def b3_calendar(*, as_of: date | None = None) -> np.busdaycalendar:
    """The B3 session :class:`numpy.busdaycalendar` of reference date ``as_of``; :data:`B3`
    is ``b3_calendar()``.

    Examples:
        >>> bool(np.is_busday(np.datetime64("2024-11-20"), busdaycal=b3_calendar()))
        False
    """
    return version(as_of).b3


# --------------------------------------------------------------------------------------------
# conversions and guards


def _day(d: date) -> np.datetime64:
    """A ``datetime.date`` (or datetime, whose calendar date is taken) as datetime64[D]."""
    if isinstance(d, datetime):
        d = d.date()
    if not isinstance(d, date):
        raise TypeError(f"expected datetime.date, got {type(d).__name__}: {d!r}")
    if not FIRST_YEAR <= d.year <= LAST_YEAR:
        raise ValueError(f"{d} is outside the calendar range {FIRST_YEAR}..{LAST_YEAR}")
    return np.datetime64(d, "D")


def _to_date(day: np.datetime64) -> date:
    if not _MIN_DAY <= day <= _MAX_DAY:
        raise ValueError(f"{day} is outside the calendar range {FIRST_YEAR}..{LAST_YEAR}")
    result: date = day.item()
    return result


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
    if lo < _MIN_DAY or hi > _END_DAY:
        bad = lo if lo < _MIN_DAY else hi
        raise ValueError(f"{what} {bad} is outside the calendar range {FIRST_YEAR}..{LAST_YEAR}")


def _positive(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return int(n)


# --------------------------------------------------------------------------------------------
# predicates and names


def is_business_day(d: date, *, as_of: date | None = None) -> bool:
    """True when ``d`` is an ANBIMA business day, i.e. a valid business date for the fund.

    ``as_of`` is the reference date of the question (None: today's calendar).

    Examples:
        >>> is_business_day(date(2024, 11, 20)), is_business_day(date(2023, 11, 20))
        (False, True)
        >>> is_business_day(date(2024, 11, 20), as_of=date(2023, 12, 22))
        True
    """
    return bool(np.is_busday(_day(d), busdaycal=version(as_of).anbima))


def is_b3_session(d: date, *, as_of: date | None = None) -> bool:
    """True when B3 holds a session on ``d``, so settlement prices exist for that date.

    Examples:
        >>> is_b3_session(date(2025, 12, 24)), is_b3_session(date(2025, 12, 23))
        (False, True)
        >>> is_b3_session(date(2024, 11, 20)), is_b3_session(date(2024, 11, 20),
        ...                                                  as_of=date(2023, 6, 1))
        (False, True)
    """
    return bool(np.is_busday(_day(d), busdaycal=version(as_of).b3))


def holiday_name(d: date, *, as_of: date | None = None) -> str | None:
    """Why ``d`` is not an ANBIMA business day, or None when it is one.

    Returns the holiday's name from ``holidays`` (``en_US``, e.g. "Carnival", "Good Friday";
    coinciding holidays are joined with "; "), else "Saturday"/"Sunday" for a weekend. A holiday
    that falls on a weekend is reported by its holiday name. Used to refuse non-business dates
    with a message operations can act on.

    Examples:
        >>> holiday_name(date(2024, 11, 20))
        'National Day of Zumbi and Black Awareness'
        >>> print(holiday_name(date(2024, 11, 20), as_of=date(2023, 6, 1)))
        None
        >>> holiday_name(date(2025, 3, 8))
        'Saturday'
    """
    day = _day(d).item()
    name = version(as_of).anbima_names.get(day)
    if name is not None:
        return name
    return _WEEKEND_NAMES.get(day.weekday())


def b3_holidays_between(start: date, end: date, *, as_of: date | None = None
                        ) -> list[tuple[date, str]]:
    """Weekdays in ``[start, end]`` (both inclusive) without a B3 session, with their names.

    Includes ANBIMA holidays and the B3-only closures (Dec 24, last business day of the year,
    historical São Paulo closures). The morning pack uses it to say "B3 closed tomorrow".

    Examples:
        >>> b3_holidays_between(date(2025, 12, 23), date(2025, 12, 24))
        [(datetime.date(2025, 12, 24), 'Christmas Eve')]
        >>> b3_holidays_between(date(2024, 11, 18), date(2024, 11, 22), as_of=date(2023, 6, 1))
        []
    """
    s, e = _day(start), _day(end)
    if e < s:
        return []
    cals = version(as_of)
    days = np.arange(s, e + _ONE_DAY, dtype="datetime64[D]")
    closed = days[np.is_busday(days) & ~np.is_busday(days, busdaycal=cals.b3)]
    return [(day, cals.b3_names[day]) for day in closed.tolist()]


# --------------------------------------------------------------------------------------------
# stepping


def previous_business_day(d: date, n: int = 1, *, as_of: date | None = None) -> date:
    """The ``n``-th ANBIMA business day strictly before ``d`` (``d`` may be a holiday).

    Examples:
        >>> previous_business_day(date(2025, 3, 5))  # over Carnival
        datetime.date(2025, 2, 28)
        >>> previous_business_day(date(2024, 11, 21), as_of=date(2023, 6, 1))
        datetime.date(2024, 11, 20)
    """
    return _step(d, -_positive(n), version(as_of).anbima)


def next_business_day(d: date, n: int = 1, *, as_of: date | None = None) -> date:
    """The ``n``-th ANBIMA business day strictly after ``d`` (``d`` may be a holiday).

    Examples:
        >>> next_business_day(date(2024, 11, 19)), next_business_day(date(2024, 11, 19), 2)
        (datetime.date(2024, 11, 21), datetime.date(2024, 11, 22))
        >>> next_business_day(date(2024, 11, 19), as_of=date(2023, 6, 1))
        datetime.date(2024, 11, 20)
    """
    return _step(d, _positive(n), version(as_of).anbima)


def previous_b3_session(d: date, n: int = 1, *, as_of: date | None = None) -> date:
    """The ``n``-th B3 session strictly before ``d``: where the last settlement prices are.

    Examples:
        >>> previous_b3_session(date(2026, 1, 2))  # Dec 31 is an ANBIMA day, not a session
        datetime.date(2025, 12, 30)
    """
    return _step(d, -_positive(n), version(as_of).b3)


def next_b3_session(d: date, n: int = 1, *, as_of: date | None = None) -> date:
    """The ``n``-th B3 session strictly after ``d``.

    Examples:
        >>> next_b3_session(date(2024, 11, 19)), next_b3_session(date(2024, 11, 19),
        ...                                                      as_of=date(2023, 6, 1))
        (datetime.date(2024, 11, 21), datetime.date(2024, 11, 20))
    """
    return _step(d, _positive(n), version(as_of).b3)


def _step(d: date, n: int, cal: np.busdaycalendar) -> date:
    # Rolling against the direction of travel first makes the step "strictly after/before d"
    # whether or not d itself is a business day.
    roll = "forward" if n < 0 else "backward"
    return _to_date(np.busday_offset(_day(d), n, roll=roll, busdaycal=cal))


def add_business_days(d: date, n: int, *, as_of: date | None = None) -> date:
    """``d`` moved by ``n`` ANBIMA business days (``n`` may be zero or negative).

    ``d`` must itself be a business day (as of ``as_of``), because "D+1 from a holiday" is
    ambiguous (roll first, or count the holiday?). Use :func:`following` first if rolling is
    what you mean.

    Raises:
        ValueError: naming the holiday when ``d`` is not a business day.

    Examples:
        >>> add_business_days(date(2024, 11, 19), 1), add_business_days(date(2025, 3, 5), -1)
        (datetime.date(2024, 11, 21), datetime.date(2025, 2, 28))
        >>> add_business_days(date(2024, 11, 20), 1, as_of=date(2023, 6, 1))
        datetime.date(2024, 11, 21)
    """
    day, cal = _day(d), version(as_of).anbima
    if not np.is_busday(day, busdaycal=cal):
        raise ValueError(f"{d} is not an ANBIMA business day: {holiday_name(d, as_of=as_of)}")
    return _to_date(np.busday_offset(day, int(n), roll="raise", busdaycal=cal))


def following(d: date, *, as_of: date | None = None) -> date:
    """``d`` if it is an ANBIMA business day, else the next one ("following" convention).

    Examples:
        >>> following(date(2024, 11, 20)), following(date(2024, 11, 20), as_of=date(2023, 6, 1))
        (datetime.date(2024, 11, 21), datetime.date(2024, 11, 20))
    """
    return _to_date(np.busday_offset(_day(d), 0, roll="forward", busdaycal=version(as_of).anbima))


def first_business_day_of_month(year: int, month: int, *, as_of: date | None = None) -> date:
    """First ANBIMA business day of the month: the maturity of a DI1 contract [B3 DI1 spec].

    Examples:
        >>> first_business_day_of_month(2028, 1)  # DI1F28
        datetime.date(2028, 1, 3)
    """
    return following(date(year, month, 1), as_of=as_of)


# --------------------------------------------------------------------------------------------
# ranges and counts


def business_days(start: date, end: date, *, as_of: date | None = None) -> list[date]:
    """ANBIMA business days in ``[start, end]``, **both ends inclusive**, in order.

    Inclusive because callers ask "which dates do I run/backfill between these two dates";
    for counting use :func:`du`, which is half-open. Empty when ``end < start``.

    Examples:
        >>> len(business_days(date(2024, 11, 18), date(2024, 11, 22)))
        4
        >>> len(business_days(date(2024, 11, 18), date(2024, 11, 22), as_of=date(2023, 6, 1)))
        5
    """
    return _sessions(start, end, version(as_of).anbima)


def b3_sessions(start: date, end: date, *, as_of: date | None = None) -> list[date]:
    """B3 session dates in ``[start, end]``, both ends inclusive, in order.

    Examples:
        >>> b3_sessions(date(2025, 12, 23), date(2025, 12, 26))
        [datetime.date(2025, 12, 23), datetime.date(2025, 12, 26)]
    """
    return _sessions(start, end, version(as_of).b3)


def _sessions(start: date, end: date, cal: np.busdaycalendar) -> list[date]:
    s, e = _day(start), _day(end)
    if e < s:
        return []
    days = np.arange(s, e + _ONE_DAY, dtype="datetime64[D]")
    result: list[date] = days[np.is_busday(days, busdaycal=cal)].tolist()
    return result


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


# --------------------------------------------------------------------------------------------
# provenance and the clock


def calendar_fingerprint(*, as_of: date | None = None) -> str:
    """A short id of both holiday lists of a version and the ``holidays`` release behind them.

    An id to store beside results computed on the calendar, so that a silent change of the
    library's lists can be told apart from a change of the data.

    Examples:
        >>> calendar_fingerprint() == calendar_fingerprint(as_of=date(2023, 6, 1))
        False
    """
    return version(as_of).fingerprint


def today_brt() -> date:
    """Today's date in America/Sao_Paulo: the only place in the library that reads the clock.

    Only cron entry points (``run_eod.sh`` / ``run_preopen.sh`` via the CLI) may call it, to
    pick the business date to run; everything else receives the date as a parameter, so every
    computation stays point-in-time and reproducible.
    """
    return datetime.now(TIMEZONE).date()
