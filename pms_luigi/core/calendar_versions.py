"""Calendar versions: the ANBIMA and B3 holiday tables under each set of holiday rules in force.

:mod:`pms_luigi.core.calendar` and :mod:`pms_luigi.core.calendar_counts` count with what
this module builds and check dates against its range (:data:`FIRST_DAY`..:data:`LAST_DAY`).
Both calendars are derived from the maintained ``holidays`` package
(``financial_holidays("BVMF")``), never from a hand-written list; only what the library lacks
is kept here as data:

* :data:`B3_HISTORICAL_CLOSURES`: São Paulo closures of B3 before 2022;
* :data:`HOLIDAY_RULES`: holidays created by law, each with the reference date from which the
  market counted it. A count made before that date treats the holiday as a business day.

A *version* is the pair of :class:`numpy.busdaycalendar` (ANBIMA, B3) under one set of rules
in force. Rules are applied in the order of their ``applied_from`` dates, so there are at most
``len(HOLIDAY_RULES) + 1`` versions; all of them are built together on first use, from one
read of ``holidays``, and kept for the life of the process (a :func:`functools.cache` without
arguments), immutable and shared.
"""
from __future__ import annotations

import bisect
import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Final

import holidays
import numpy as np
import numpy.typing as npt

__all__ = [
    "B3_HISTORICAL_CLOSURES",
    "CHRISTMAS_EVE",
    "FIRST_DAY",
    "FIRST_YEAR",
    "HOLIDAY_RULES",
    "LAST_BUSINESS_DAY_OF_YEAR",
    "LAST_DAY",
    "LAST_YEAR",
    "Calendars",
    "HolidayRule",
    "numbered_version",
    "version",
    "version_numbers",
]

#: First and last calendar years covered. 1990 reaches back past any backfill the fund needs;
#: 2099 is where ANBIMA's published list ends and covers the longest bond maturities.
FIRST_YEAR: Final = 1990
LAST_YEAR: Final = 2099
#: The same range as days (datetime64[D]): the bounds every date is checked against.
FIRST_DAY: Final = np.datetime64(f"{FIRST_YEAR}-01-01", "D")
LAST_DAY: Final = np.datetime64(f"{LAST_YEAR}-12-31", "D")

#: Names (``language="en_US"``) of the two BVMF entries that are exchange-only closures, not
#: ANBIMA holidays. B3 Ofício Circular 021/2017-DO, as encoded in ``holidays`` from 2018.
CHRISTMAS_EVE: Final = "Christmas Eve"
LAST_BUSINESS_DAY_OF_YEAR: Final = "Last Business Day of the Year"
_B3_ONLY_NAMES: Final = frozenset({CHRISTMAS_EVE, LAST_BUSINESS_DAY_OF_YEAR})


@dataclass(frozen=True)
class HolidayRule:
    """A holiday of ``holidays`` that counts made before ``applied_from`` did not include.

    Attributes:
        holiday: the ``en_US`` name of its BVMF entries in ``holidays``; for a reference date
            before ``applied_from`` every entry of that name is a business day (ANBIMA and B3).
        applied_from: the first reference date whose counts include the holiday: the first
            business day on which ANBIMA and B3 applied the law, not the law's date.
        source: the law and the market's switch, for the record.
    """

    holiday: str
    applied_from: date
    source: str


#: Holidays created by law, with the reference date from which the market counted them.
#:
#: Lei 14.759 (published 2023-12-22) made Nov 20 national from 2024; ANBIMA and B3 counted
#: Nov 20 of 2024 and later as a business day on every reference date up to 2023-12-22 and as
#: a holiday from 2023-12-26 on (Dec 23-25 were not business days). Nov 20 of 2023 was not a
#: national holiday under any version: only São Paulo city's Black Awareness Day, on which B3
#: has opened since 2022 (:data:`B3_HISTORICAL_CLOSURES` has the years it closed).
HOLIDAY_RULES: Final[tuple[HolidayRule, ...]] = (
    HolidayRule(
        holiday="National Day of Zumbi and Black Awareness",
        applied_from=date(2023, 12, 26),
        source="Lei 14.759/2023, published 2023-12-22: Nov 20 national from 2024; ANBIMA and "
               "B3 counts include it from reference date 2023-12-26",
    ),
)

#: Reference dates on which the calendar changes, in order. Version k (0 .. len) applies the
#: rules of the first k switches, so the version of reference date d is
#: ``bisect_right(_SWITCHES, d)`` and the last one is today's law.
_SWITCHES: Final = tuple(sorted({rule.applied_from for rule in HOLIDAY_RULES}))
_IN_FORCE: Final = tuple(
    frozenset(rule for rule in HOLIDAY_RULES if rule.applied_from in _SWITCHES[:k])
    for k in range(len(_SWITCHES) + 1)
)

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


@dataclass(frozen=True)
class Calendars:
    """One calendar version: both calendars under one set of rules in force.

    Attributes:
        in_force: the rules of :data:`HOLIDAY_RULES` applied; the holidays of the others are
            business days in this version.
        anbima, b3: the ANBIMA business days and the B3 sessions (weekday closures as
            holidays); immutable: numpy hands out copies of their ``holidays``.
        anbima_names: every ANBIMA holiday (weekends included) -> its name(s), "; "-joined.
        b3_names: every weekday without a B3 session -> its name(s).
        fingerprint: ``holidays-<release>/<years>/<sha256 of both closure lists, 16 hex>``.
    """

    in_force: frozenset[HolidayRule]
    anbima: np.busdaycalendar
    b3: np.busdaycalendar
    anbima_names: Mapping[date, str]
    b3_names: Mapping[date, str]
    fingerprint: str


def version(as_of: date | None) -> Calendars:
    """The calendars the market counted with on reference date ``as_of`` (None: today's law).

    ``as_of`` may be any date, inside the calendar range or not; a datetime counts as its date.

    Raises:
        TypeError: ``as_of`` is neither a date nor None.
    """
    if as_of is None:
        return _versions()[-1]
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    if not isinstance(as_of, date):
        raise TypeError(f"as_of: expected datetime.date or None, got "
                        f"{type(as_of).__name__}: {as_of!r}")
    return _versions()[bisect.bisect_right(_SWITCHES, as_of)]


def version_numbers(as_of: npt.NDArray[np.datetime64]) -> npt.NDArray[np.intp]:
    """The version number (0 = no rule in force .. today's) of each reference date, vectorized.

    ``as_of`` must hold no NaT (numpy sorts NaT last, which would read as today's law).
    """
    return np.searchsorted(np.array(_SWITCHES, dtype="datetime64[D]"), as_of, side="right")


def numbered_version(k: int) -> Calendars:
    """Version number ``k`` of :func:`version_numbers`."""
    return _versions()[k]


@functools.cache
def _versions() -> tuple[Calendars, ...]:
    """Every version, by number, built once per process from one read of ``holidays``."""
    bvmf = _bvmf()
    return tuple(_build(bvmf, in_force) for in_force in _IN_FORCE)


def _bvmf() -> dict[date, tuple[str, ...]]:
    """Every BVMF entry of ``holidays`` (``en_US`` names) in the calendar's years."""
    bvmf = holidays.financial_holidays(
        "BVMF", years=range(FIRST_YEAR, LAST_YEAR + 1), language="en_US")
    entries = {day: tuple(bvmf.get_list(day)) for day in bvmf}
    # Guard against a library release that renames an entry a rule names: the rule would
    # silently stop applying and every version would equal today's.
    names = {name for day_names in entries.values() for name in day_names}
    for rule in HOLIDAY_RULES:
        if rule.holiday not in names:
            raise RuntimeError(f"holidays {holidays.__version__} BVMF has no entry named "
                               f"{rule.holiday!r}: update HOLIDAY_RULES")
    return entries


def _build(bvmf: Mapping[date, tuple[str, ...]], in_force: frozenset[HolidayRule]
           ) -> Calendars:
    """One version from the BVMF entries: immutable tables, the rules ``in_force`` applied."""
    dropped = _B3_ONLY_NAMES | {r.holiday for r in HOLIDAY_RULES if r not in in_force}
    anbima_names: dict[date, str] = {}
    for day, entries in bvmf.items():
        names = [n for n in entries if n not in dropped]
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
    b3_names = _b3_closures(anbima, anbima_names, anbima_weekdays)
    b3 = np.busdaycalendar(holidays=np.array(sorted(b3_names), dtype="datetime64[D]"))

    digest = hashlib.sha256()
    for label, days in (("ANBIMA", anbima_weekdays), ("B3", sorted(b3_names))):
        digest.update(label.encode())
        digest.update(",".join(d.isoformat() for d in days).encode())
    fingerprint = (
        f"holidays-{holidays.__version__}/{FIRST_YEAR}-{LAST_YEAR}/{digest.hexdigest()[:16]}"
    )
    return Calendars(in_force, anbima, b3, MappingProxyType(anbima_names),
                     MappingProxyType(b3_names), fingerprint)


def _b3_closures(anbima: np.busdaycalendar, anbima_names: Mapping[date, str],
                 anbima_weekdays: list[date]) -> dict[date, str]:
    """Every weekday without a B3 session, named: ANBIMA's weekday holidays plus B3's own."""
    b3_names = {d: anbima_names[d] for d in anbima_weekdays}

    def close(day: date, name: str) -> None:
        if day.weekday() < 5:
            b3_names[day] = f"{b3_names[day]}; {name}" if day in b3_names else name

    # Dec 24 and the last ANBIMA business day of the year, for every year: holidays only
    # encodes them from 2018 (Ofício Circular 021/2017-DO), but B3 closed on them before too
    # (bizdays' B3 file from 2000, exchange-calendars BVMF).
    years = range(FIRST_YEAR, LAST_YEAR + 1)
    last_days = np.busday_offset(
        np.array([f"{y}-12-31" for y in years], dtype="datetime64[D]"), 0,
        roll="backward", busdaycal=anbima,
    ).tolist()
    for year, last_day in zip(years, last_days, strict=True):
        close(date(year, 12, 24), CHRISTMAS_EVE)
        close(last_day, LAST_BUSINESS_DAY_OF_YEAR)
    for day, name in B3_HISTORICAL_CLOSURES:
        close(day, name)
    return b3_names
