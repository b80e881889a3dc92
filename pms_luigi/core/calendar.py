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
the Year"} (identical to bizdays' ANBIMA file for 2000-2099).
Only the historical B3 exceptions the library lacks are kept here as data.

Arithmetic is vectorized with :class:`numpy.busdaycalendar`; the calendars cover the years
:data:`FIRST_YEAR`..:data:`LAST_YEAR` and every function refuses a date outside them rather
than silently treating a holiday as a business day.

This module is pure: it imports only the standard library, numpy and holidays, and it never
reads the clock except in :func:`today_brt`.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import numpy.typing as npt

__all__ = [
    "ANBIMA",
    "B3",
    "B3_HISTORICAL_CLOSURES",
    "FIRST_YEAR",
    "LAST_YEAR",
    "TIMEZONE",
    "add_business_days",
    "b3_holidays_between",
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

#: First and last calendar years covered. 1990 reaches back past any backfill the fund needs;
#: 2099 is where ANBIMA's published list ends and covers the longest bond maturities.
FIRST_YEAR: Final = 1990
LAST_YEAR: Final = 2099

#: The fund's time zone. Brazil has had no DST since 2019 (UTC-3 all year).
TIMEZONE: Final = ZoneInfo("America/Sao_Paulo")

#: Names (``language="en_US"``) of the two BVMF entries that are exchange-only closures, not
#: ANBIMA holidays. B3 Ofício Circular 021/2017-DO, as encoded in ``holidays`` from 2018.
CHRISTMAS_EVE: Final = "Christmas Eve"
LAST_BUSINESS_DAY_OF_YEAR: Final = "Last Business Day of the Year"
_B3_ONLY_NAMES: Final = frozenset({CHRISTMAS_EVE, LAST_BUSINESS_DAY_OF_YEAR})

_SP_CITY_ANNIVERSARY: Final = "São Paulo City Anniversary"
_SP_CONSTITUTIONALIST_REVOLUTION: Final = "Constitutionalist Revolution (São Paulo State)"
_SP_BLACK_AWARENESS: Final = "Black Awareness Day (São Paulo City)"
_WORLD_CUP_2014: Final = "FIFA World Cup Opening Match in São Paulo"

#: Weekday B3 closures before 2022 that ``holidays.financial_holidays("BVMF")`` lacks.
#:
#: Source: the difference between exchange-calendars 4.13.2 ``BVMF`` (which agrees with
#: bizdays' B3 file for 2010-2026) and ``holidays`` BVMF; the underlying rules are B3's
#: yearly holiday circulars.
#: Until 2021 B3 also closed on São Paulo holidays:
#:
#: * Jan 25, São Paulo city anniversary: every year through 2021 (B3 opened from 2022);
#: * Jul 9, São Paulo state holiday (Lei estadual 9.497/1997): 1998-2019 and 2021;
#: * Nov 20, São Paulo city Black Awareness Day (Lei municipal 13.707/2004): 2004-2019;
#: * 2014-06-12, World Cup opening match in São Paulo (ad hoc).
#:
#: In 2020 B3 **opened** on Jul 9 and Nov 20 (São Paulo moved those holidays during the
#: pandemic), so 2020 has neither date here. Weekend dates are left out: they close anyway.
#: Frozen data: B3 no longer closes on municipal holidays, so this table never grows.
B3_HISTORICAL_CLOSURES: Final[tuple[tuple[date, str], ...]] = (
    (date(1990, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(1991, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(1993, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(1994, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(1995, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(1996, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(1998, 7, 9), _SP_CONSTITUTIONALIST_REVOLUTION),
    (date(1999, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(1999, 7, 9), _SP_CONSTITUTIONALIST_REVOLUTION),
    (date(2000, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(2001, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(2001, 7, 9), _SP_CONSTITUTIONALIST_REVOLUTION),
    (date(2002, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(2002, 7, 9), _SP_CONSTITUTIONALIST_REVOLUTION),
    (date(2003, 7, 9), _SP_CONSTITUTIONALIST_REVOLUTION),
    (date(2004, 7, 9), _SP_CONSTITUTIONALIST_REVOLUTION),
    (date(2005, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(2006, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(2006, 11, 20), _SP_BLACK_AWARENESS),
    (date(2007, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(2007, 7, 9), _SP_CONSTITUTIONALIST_REVOLUTION),
    (date(2007, 11, 20), _SP_BLACK_AWARENESS),
    (date(2008, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(2008, 7, 9), _SP_CONSTITUTIONALIST_REVOLUTION),
    (date(2008, 11, 20), _SP_BLACK_AWARENESS),
    (date(2009, 7, 9), _SP_CONSTITUTIONALIST_REVOLUTION),
    (date(2009, 11, 20), _SP_BLACK_AWARENESS),
    (date(2010, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(2010, 7, 9), _SP_CONSTITUTIONALIST_REVOLUTION),
    (date(2011, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(2012, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(2012, 7, 9), _SP_CONSTITUTIONALIST_REVOLUTION),
    (date(2012, 11, 20), _SP_BLACK_AWARENESS),
    (date(2013, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(2013, 7, 9), _SP_CONSTITUTIONALIST_REVOLUTION),
    (date(2013, 11, 20), _SP_BLACK_AWARENESS),
    (date(2014, 6, 12), _WORLD_CUP_2014),
    (date(2014, 7, 9), _SP_CONSTITUTIONALIST_REVOLUTION),
    (date(2014, 11, 20), _SP_BLACK_AWARENESS),
    (date(2015, 7, 9), _SP_CONSTITUTIONALIST_REVOLUTION),
    (date(2015, 11, 20), _SP_BLACK_AWARENESS),
    (date(2016, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(2017, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(2017, 11, 20), _SP_BLACK_AWARENESS),
    (date(2018, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(2018, 7, 9), _SP_CONSTITUTIONALIST_REVOLUTION),
    (date(2018, 11, 20), _SP_BLACK_AWARENESS),
    (date(2019, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(2019, 7, 9), _SP_CONSTITUTIONALIST_REVOLUTION),
    (date(2019, 11, 20), _SP_BLACK_AWARENESS),
    (date(2021, 1, 25), _SP_CITY_ANNIVERSARY),
    (date(2021, 7, 9), _SP_CONSTITUTIONALIST_REVOLUTION),
)

_WEEKEND_NAMES: Final = {5: "Saturday", 6: "Sunday"}
_MIN_DAY: Final = np.datetime64(f"{FIRST_YEAR}-01-01", "D")
_MAX_DAY: Final = np.datetime64(f"{LAST_YEAR}-12-31", "D")
_ONE_DAY: Final = np.timedelta64(1, "D")

# Module-level calendars, built on first use (PEP 562 ``__getattr__`` below). Annotated here
# so that type checkers and readers see them as plain attributes.
ANBIMA: np.busdaycalendar
B3: np.busdaycalendar


@dataclass(frozen=True)
class _Calendars:
    anbima: np.busdaycalendar
    b3: np.busdaycalendar
    anbima_names: dict[date, str]  # every ANBIMA holiday, weekends included
    b3_names: dict[date, str]  # every weekday B3 closure
    fingerprint: str


@functools.cache
def _calendars() -> _Calendars:
    """Build both calendars once per process: immutable tables derived from ``holidays``."""
    years = range(FIRST_YEAR, LAST_YEAR + 1)
    bvmf = holidays.financial_holidays("BVMF", years=years, language="en_US")

    anbima_names: dict[date, str] = {}
    for day in bvmf:
        names = [n for n in bvmf.get_list(day) if n not in _B3_ONLY_NAMES]
        if names:
            anbima_names[day] = "; ".join(names)
    # Guard against a library release that renames the entries filtered on: ANBIMA has no
    # holiday on Dec 24 or Dec 26-31, so anything there means the filter stopped matching.
    leaked = sorted(d for d in anbima_names if d.month == 12 and (d.day == 24 or d.day >= 26))
    if leaked:
        raise RuntimeError(
            f"holidays {holidays.__version__} BVMF entry {anbima_names[leaked[0]]!r} on "
            f"{leaked[0]} survived the ANBIMA filter: update _B3_ONLY_NAMES"
        )
    anbima_weekdays = sorted(d for d in anbima_names if d.weekday() < 5)
    anbima = np.busdaycalendar(holidays=np.array(anbima_weekdays, dtype="datetime64[D]"))

    b3_names = {d: anbima_names[d] for d in anbima_weekdays}

    def close(day: date, name: str) -> None:
        if day.weekday() < 5:
            b3_names[day] = f"{b3_names[day]}; {name}" if day in b3_names else name

    # Dec 24 and the last ANBIMA business day of the year, for every year: holidays only
    # encodes them from 2018 (Ofício Circular 021/2017-DO), but B3 closed on them before too
    # (bizdays' B3 file from 2000, exchange-calendars BVMF).
    last_days = np.busday_offset(
        np.array([f"{y}-12-31" for y in years], dtype="datetime64[D]"), 0,
        roll="backward", busdaycal=anbima,
    ).tolist()
    for year, last_day in zip(years, last_days):
        close(date(year, 12, 24), CHRISTMAS_EVE)
        close(last_day, LAST_BUSINESS_DAY_OF_YEAR)
    for day, name in B3_HISTORICAL_CLOSURES:
        close(day, name)
    b3 = np.busdaycalendar(holidays=np.array(sorted(b3_names), dtype="datetime64[D]"))

    digest = hashlib.sha256()
    for label, days in (("ANBIMA", anbima_weekdays), ("B3", sorted(b3_names))):
        digest.update(label.encode())
        digest.update(",".join(d.isoformat() for d in days).encode())
    fingerprint = (
        f"holidays-{holidays.__version__}/{FIRST_YEAR}-{LAST_YEAR}/{digest.hexdigest()[:16]}"
    )
    return _Calendars(anbima, b3, anbima_names, b3_names, fingerprint)


def __getattr__(name: str) -> Any:
    """Serve ``ANBIMA`` and ``B3`` lazily so that importing the module stays cheap."""
    if name == "ANBIMA":
        return _calendars().anbima
    if name == "B3":
        return _calendars().b3
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    if np.isnat(arr).any():
        raise ValueError(f"du: {what} contains a missing date (NaT)")
    lo, hi = arr.min(), arr.max()
    if lo < _MIN_DAY or hi > _MAX_DAY + _ONE_DAY:
        bad = lo if lo < _MIN_DAY else hi
        raise ValueError(
            f"du: {what} {bad} is outside the calendar range {FIRST_YEAR}..{LAST_YEAR}"
        )


def _positive(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return int(n)


# --------------------------------------------------------------------------------------------
# predicates and names


def is_business_day(d: date) -> bool:
    """True when ``d`` is an ANBIMA business day, i.e. a valid business date for the fund."""
    return bool(np.is_busday(_day(d), busdaycal=_calendars().anbima))


def is_b3_session(d: date) -> bool:
    """True when B3 holds a session on ``d``, so settlement prices exist for that date."""
    return bool(np.is_busday(_day(d), busdaycal=_calendars().b3))


def holiday_name(d: date) -> str | None:
    """Why ``d`` is not an ANBIMA business day, or None when it is one.

    Returns the holiday's name from ``holidays`` (``en_US``, e.g. "Carnival", "Good Friday";
    coinciding holidays are joined with "; "), else "Saturday"/"Sunday" for a weekend. A holiday
    that falls on a weekend is reported by its holiday name. Used to refuse non-business dates
    with a message operations can act on.
    """
    day = _day(d).item()
    name = _calendars().anbima_names.get(day)
    if name is not None:
        return name
    return _WEEKEND_NAMES.get(day.weekday())


def b3_holidays_between(start: date, end: date) -> list[tuple[date, str]]:
    """Weekdays in ``[start, end]`` (both inclusive) without a B3 session, with their names.

    Includes ANBIMA holidays and the B3-only closures (Dec 24, last business day of the year,
    historical São Paulo closures). The morning pack uses it to say "B3 closed tomorrow".
    """
    s, e = _day(start), _day(end)
    if e < s:
        return []
    days = np.arange(s, e + _ONE_DAY, dtype="datetime64[D]")
    closed = days[np.is_busday(days) & ~np.is_busday(days, busdaycal=_calendars().b3)]
    names = _calendars().b3_names
    return [(day, names[day]) for day in closed.tolist()]


# --------------------------------------------------------------------------------------------
# stepping


def previous_business_day(d: date, n: int = 1) -> date:
    """The ``n``-th ANBIMA business day strictly before ``d`` (``d`` may be a holiday)."""
    return _step(d, -_positive(n), _calendars().anbima)


def next_business_day(d: date, n: int = 1) -> date:
    """The ``n``-th ANBIMA business day strictly after ``d`` (``d`` may be a holiday)."""
    return _step(d, _positive(n), _calendars().anbima)


def previous_b3_session(d: date, n: int = 1) -> date:
    """The ``n``-th B3 session strictly before ``d``: where the last settlement prices are."""
    return _step(d, -_positive(n), _calendars().b3)


def next_b3_session(d: date, n: int = 1) -> date:
    """The ``n``-th B3 session strictly after ``d``."""
    return _step(d, _positive(n), _calendars().b3)


def _step(d: date, n: int, cal: np.busdaycalendar) -> date:
    # Rolling against the direction of travel first makes the step "strictly after/before d"
    # whether or not d itself is a business day.
    roll = "forward" if n < 0 else "backward"
    return _to_date(np.busday_offset(_day(d), n, roll=roll, busdaycal=cal))


def add_business_days(d: date, n: int) -> date:
    """``d`` moved by ``n`` ANBIMA business days (``n`` may be zero or negative).

    ``d`` must itself be a business day, because "D+1 from a holiday" is ambiguous (roll
    first, or count the holiday?). Use :func:`following` first if rolling is what you mean.

    Raises:
        ValueError: naming the holiday when ``d`` is not a business day.
    """
    day = _day(d)
    if not np.is_busday(day, busdaycal=_calendars().anbima):
        raise ValueError(f"{d} is not an ANBIMA business day: {holiday_name(d)}")
    return _to_date(np.busday_offset(day, int(n), roll="raise", busdaycal=_calendars().anbima))


def following(d: date) -> date:
    """``d`` if it is an ANBIMA business day, else the next one ("following" convention)."""
    return _to_date(np.busday_offset(_day(d), 0, roll="forward", busdaycal=_calendars().anbima))


def first_business_day_of_month(year: int, month: int) -> date:
    """First ANBIMA business day of the month: the maturity of a DI1 contract [B3 DI1 spec]."""
    return following(date(year, month, 1))


# --------------------------------------------------------------------------------------------
# ranges and counts


def business_days(start: date, end: date) -> list[date]:
    """ANBIMA business days in ``[start, end]``, **both ends inclusive**, in order.

    Inclusive because callers ask "which dates do I run/backfill between these two dates";
    for counting use :func:`du`, which is half-open. Empty when ``end < start``.
    """
    return _sessions(start, end, _calendars().anbima)


def b3_sessions(start: date, end: date) -> list[date]:
    """B3 session dates in ``[start, end]``, both ends inclusive, in order."""
    return _sessions(start, end, _calendars().b3)


def _sessions(start: date, end: date, cal: np.busdaycalendar) -> list[date]:
    s, e = _day(start), _day(end)
    if e < s:
        return []
    days = np.arange(s, e + _ONE_DAY, dtype="datetime64[D]")
    result: list[date] = days[np.is_busday(days, busdaycal=cal)].tolist()
    return result


def du(start: Any, end: Any) -> Any:
    """ANBIMA business days in ``[start, end)``: the ``du`` of every rate <-> PU conversion.

    The ANBIMA/Tesouro convention counts from settlement inclusive to maturity exclusive, so
    a maturity on a holiday counts correctly without rolling:
    ``du(2024-01-01, 2025-01-01) == 253``. ``du(a, b) == -du(b, a)`` (numpy's convention), hence
    ``du(a, b) + du(b, c) == du(a, c)`` for any order.

    Args:
        start, end: ``datetime.date`` values, or array-likes of them (lists, numpy
            ``datetime64`` arrays, pandas Series/Index); they broadcast against each other.

    Returns:
        ``int`` when both arguments are scalars, else an ``np.ndarray`` of ``int64``.
    """
    s, e = _days(start), _days(end)
    _check_count_range(s, "start")
    _check_count_range(e, "end")
    counts = np.busday_count(s, e, busdaycal=_calendars().anbima)
    if s.ndim == 0 and e.ndim == 0:
        return int(counts)
    return np.asarray(counts, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# provenance and the clock


def calendar_fingerprint() -> str:
    """A short id of both holiday lists and the ``holidays`` version that produced them.

    Runs record it, so a silent change of the library's lists shows up in the run history.
    """
    return _calendars().fingerprint


def today_brt() -> date:
    """Today's date in America/Sao_Paulo: the only place in the library that reads the clock.

    Only cron entry points (``run_eod.sh`` / ``run_preopen.sh`` via the CLI) may call it, to
    pick the business date to run; everything else receives the date as a parameter, so every
    computation stays point-in-time and reproducible.
    """
    return datetime.now(TIMEZONE).date()
