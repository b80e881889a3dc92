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

This module is the calendar's public face: callers import it alone. On its own it answers
questions about one date at a time (is it a business day, which is the next, which dates lie
between two); two sibling modules hold the rest, and what callers need from them is
re-exported here:

* :mod:`~pms_luigi.core.calendar_versions`: the holiday data, the calendar range and the
  versions built from them, read by this module and the counts alike (:data:`HOLIDAY_RULES`,
  :data:`B3_HISTORICAL_CLOSURES`, :data:`FIRST_YEAR` and :data:`LAST_YEAR` come from there);
* :mod:`~pms_luigi.core.calendar_counts`: :func:`du` and :func:`b3_session_count`, the signed
  counts over arrays (one reference date per pair allowed), with their own conversion and
  range check; kept apart so that no calendar module outgrows the project's size limit.

This module is pure: it imports only the standard library, numpy and holidays (through
those two modules), and it never reads the clock except in :func:`today_brt`;
``as_of=None`` is the current law, not a reading of the clock.
"""
from __future__ import annotations

from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np

from pms_luigi.core.calendar_counts import b3_session_count, du
from pms_luigi.core.calendar_versions import (
    B3_HISTORICAL_CLOSURES,
    FIRST_DAY,
    FIRST_YEAR,
    HOLIDAY_RULES,
    LAST_DAY,
    LAST_YEAR,
    HolidayRule,
    version,
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
_ONE_DAY: Final = np.timedelta64(1, "D")

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
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"{day} is outside the calendar range {FIRST_YEAR}..{LAST_YEAR}")
    result: date = day.item()
    return result


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
# ranges (the counts du and b3_session_count are in calendar_counts)


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
