"""Tests for pms_luigi.core.calendar against published, known-correct vectors.

Sources: the published ANBIMA and B3 holiday tables, du counts and DI1 maturities (ANBIMA's
national calendar, B3's yearly holiday circulars and contract specs), historical B3 checks,
and tests/data/calendar_golden.csv, the weekday closures of ANBIMA 2000-2099
(bizdays' ANBIMA file) and B3 2000-2040 (bizdays' B3 file to 2009, exchange-calendars BVMF
2010-2040; the two agree on 2010-2026), generated once with those libraries as oracles.

Point in time: Lei 14.759 (published 2023-12-22) made Nov 20 national from 2024; ANBIMA and
B3 counts switched on reference date 2023-12-26. du(2023-06-01, 2028-01-03) as of 2023-06-01
is 1,154 (1,151 with today's calendar).
"""
from __future__ import annotations

import ast
import csv
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pms_luigi.core import calendar as cal
from pms_luigi.core import calendar_counts, calendar_versions, pricing

D = date.fromisoformat
GOLDEN = Path(__file__).parents[1] / "data" / "calendar_golden.csv"


def b3_closure_name(d: date) -> str | None:
    found = cal.b3_holidays_between(d, d)
    return found[0][1] if found else None


# --------------------------------------------------------------------------------------------
# yearly counts


@pytest.mark.parametrize(
    ("year", "anbima", "b3"), [(2024, 253, 251), (2025, 252, 250), (2026, 249, 247)]
)
def test_business_days_per_year(year: int, anbima: int, b3: int) -> None:
    assert len(cal.business_days(date(year, 1, 1), date(year, 12, 31))) == anbima
    assert len(cal.b3_sessions(date(year, 1, 1), date(year, 12, 31))) == b3
    assert cal.du(date(year, 1, 1), date(year + 1, 1, 1)) == anbima


def test_business_days_2024_to_2026() -> None:
    assert len(cal.business_days(D("2024-01-01"), D("2026-12-31"))) == 754
    assert len(cal.b3_sessions(D("2024-01-01"), D("2026-12-31"))) == 748


def test_business_days_is_inclusive_and_ordered() -> None:
    days = cal.business_days(D("2025-02-28"), D("2025-03-06"))
    assert days == [D("2025-02-28"), D("2025-03-05"), D("2025-03-06")]
    assert all(type(d) is date for d in days)
    assert cal.business_days(D("2025-03-06"), D("2025-03-06")) == [D("2025-03-06")]
    assert cal.business_days(D("2025-03-03"), D("2025-03-04")) == []
    assert cal.business_days(D("2025-03-07"), D("2025-03-06")) == []


# --------------------------------------------------------------------------------------------
# Published holiday tables: (date, en_US name from holidays or None, ANBIMA closed, B3 closed)

HOLIDAYS_2025 = [
    ("2025-01-01", "Universal Fraternization Day", True, True),
    ("2025-03-03", "Carnival", True, True),
    ("2025-03-04", "Carnival", True, True),
    ("2025-03-05", None, False, False),  # Ash Wednesday: business day, late B3 open
    ("2025-04-18", "Good Friday", True, True),
    ("2025-04-21", "Tiradentes' Day", True, True),
    ("2025-05-01", "Worker's Day", True, True),
    ("2025-06-19", "Corpus Christi", True, True),
    ("2025-11-20", "National Day of Zumbi and Black Awareness", True, True),
    ("2025-12-24", None, False, True),  # Christmas Eve: ANBIMA business day, B3 closed
    ("2025-12-25", "Christmas Day", True, True),
    ("2025-12-31", None, False, True),  # last business day: ANBIMA business day, B3 closed
]

HOLIDAYS_2026 = [
    ("2026-01-01", "Universal Fraternization Day", True, True),
    ("2026-02-16", "Carnival", True, True),
    ("2026-02-17", "Carnival", True, True),
    ("2026-02-18", None, False, False),
    ("2026-04-03", "Good Friday", True, True),
    ("2026-04-21", "Tiradentes' Day", True, True),
    ("2026-05-01", "Worker's Day", True, True),
    ("2026-06-04", "Corpus Christi", True, True),
    ("2026-09-07", "Independence Day", True, True),
    ("2026-10-12", "Our Lady of Aparecida", True, True),
    ("2026-11-02", "All Souls' Day", True, True),
    ("2026-11-20", "National Day of Zumbi and Black Awareness", True, True),
    ("2026-12-24", None, False, True),
    ("2026-12-25", "Christmas Day", True, True),
    ("2026-12-31", None, False, True),
]


@pytest.mark.parametrize(
    ("day", "name", "anbima_closed", "b3_closed"), HOLIDAYS_2025 + HOLIDAYS_2026
)
def test_holiday_tables(day: str, name: str | None, anbima_closed: bool, b3_closed: bool) -> None:
    d = D(day)
    assert d.weekday() < 5
    assert cal.is_business_day(d) is (not anbima_closed)
    assert cal.is_b3_session(d) is (not b3_closed)
    assert cal.holiday_name(d) == name
    b3_name = b3_closure_name(d)
    if b3_closed:
        assert b3_name  # non-empty
        if anbima_closed:
            assert b3_name == name
    else:
        assert b3_name is None


def test_b3_only_closure_names() -> None:
    assert cal.b3_holidays_between(D("2025-12-22"), D("2026-01-02")) == [
        (D("2025-12-24"), "Christmas Eve"),
        (D("2025-12-25"), "Christmas Day"),
        (D("2025-12-31"), "Last Business Day of the Year"),
        (D("2026-01-01"), "Universal Fraternization Day"),
    ]
    assert cal.b3_holidays_between(D("2026-01-02"), D("2026-01-01")) == []


@pytest.mark.parametrize(
    ("day", "name"),
    [
        ("2025-09-07", "Independence Day"),  # Sunday
        ("2025-10-12", "Our Lady of Aparecida"),  # Sunday
        ("2025-11-02", "All Souls' Day"),  # Sunday
        ("2025-11-15", "Republic Proclamation Day"),  # Saturday
        ("2026-11-15", "Republic Proclamation Day"),  # Sunday
        ("2025-03-08", "Saturday"),
        ("2025-03-09", "Sunday"),
        ("2000-04-21", "Good Friday; Tiradentes' Day"),  # coinciding holidays
    ],
)
def test_holiday_name_on_weekends_and_coincidences(day: str, name: str) -> None:
    assert not cal.is_business_day(D(day))
    assert cal.holiday_name(D(day)) == name


def test_weekend_holidays_are_not_b3_closures() -> None:
    # Only weekdays are reported: the morning pack lists closures that change the week.
    assert cal.b3_holidays_between(D("2025-09-06"), D("2025-09-07")) == []


def test_2027_anchors() -> None:
    for day in ("2027-02-08", "2027-02-09", "2027-03-26", "2027-05-27"):
        assert not cal.is_business_day(D(day))
    assert cal.is_business_day(D("2027-02-10"))  # Ash Wednesday


# --------------------------------------------------------------------------------------------
# Published du counts: (from, to, ANBIMA du, B3 sessions)

DU_TABLE = [
    ("2024-01-01", "2025-01-01", 253, 251),
    ("2025-01-01", "2026-01-01", 252, 250),
    ("2026-01-01", "2027-01-01", 249, 247),
    ("2024-01-01", "2027-01-01", 754, 748),
    ("2025-01-02", "2026-01-02", 252, 250),
    ("2025-02-28", "2025-03-06", 2, 2),
    ("2025-11-19", "2025-11-21", 1, 1),
    ("2026-02-13", "2026-02-19", 2, 2),
    ("2026-11-27", "2027-01-04", 24, 22),
]


@pytest.mark.parametrize(("start", "end", "anbima", "b3"), DU_TABLE)
def test_du_table(start: str, end: str, anbima: int, b3: int) -> None:
    result = cal.du(D(start), D(end))
    assert result == anbima
    assert type(result) is int
    assert cal.b3_session_count(D(start), D(end)) == b3


def test_du_table_vectorized() -> None:
    starts = np.array([row[0] for row in DU_TABLE], dtype="datetime64[D]")
    ends = np.array([row[1] for row in DU_TABLE], dtype="datetime64[D]")
    result = cal.du(starts, ends)
    assert isinstance(result, np.ndarray)
    assert result.dtype == np.int64
    assert result.tolist() == [row[2] for row in DU_TABLE]


def test_du_to_a_holiday_maturity() -> None:
    # Jan 1 LTN/NTN-F maturities: ANBIMA counts [from, to) without rolling the maturity.
    assert cal.du(D("2024-01-01"), D("2025-01-01")) == 253
    assert cal.du(D("2024-01-02"), D("2025-01-01")) == 253
    assert cal.du(D("2025-01-01"), D("2025-01-01")) == 0
    assert cal.du(D("2025-01-01"), D("2025-01-02")) == 0
    assert cal.du(D("2025-01-02"), D("2025-01-03")) == 1


def test_du_is_antisymmetric() -> None:
    assert cal.du(D("2025-01-01"), D("2024-01-01")) == -253
    # One end on a holiday: numpy alone counts minus the days in (end, start], here 0, not -1.
    assert cal.du(D("2024-12-31"), D("2025-01-01")) == 1
    assert cal.du(D("2025-01-01"), D("2024-12-31")) == -1
    assert np.busday_count(np.datetime64("2025-01-01"), np.datetime64("2024-12-31"),
                           busdaycal=cal.ANBIMA) == 0
    backward = cal.du(np.array(["2025-01-01", "2025-01-03"], dtype="datetime64[D]"),
                      np.array(["2024-12-31", "2025-01-06"], dtype="datetime64[D]"))
    assert backward.tolist() == [-1, 1]
    assert cal.b3_session_count(D("2026-01-01"), D("2025-12-30")) == -1  # [Dec 30, Jan 1)


# --------------------------------------------------------------------------------------------
# du on arrays equals du on scalars


def test_du_vectorized_equals_scalar() -> None:
    rng = np.random.default_rng(20261127)
    base = np.datetime64("2020-01-01")
    starts = base + rng.integers(0, 3650, size=500).astype("timedelta64[D]")
    ends = starts + rng.integers(0, 4000, size=500).astype("timedelta64[D]")
    vector = cal.du(starts, ends)
    scalar = [cal.du(s.item(), e.item()) for s, e in zip(starts, ends, strict=True)]
    assert vector.tolist() == scalar


def test_du_accepts_lists_pandas_and_broadcasts() -> None:
    maturities = [D("2026-01-02"), D("2026-07-01"), D("2027-01-04")]
    expected = [cal.du(D("2025-11-27"), m) for m in maturities]
    assert cal.du(D("2025-11-27"), maturities).tolist() == expected
    series = pd.Series(pd.to_datetime(maturities))  # datetime64[ns]
    assert cal.du(D("2025-11-27"), series).tolist() == expected
    assert cal.du(pd.Timestamp("2025-11-27"), pd.DatetimeIndex(series)).tolist() == expected
    assert cal.du(D("2025-11-27"), pd.Series(maturities, dtype=object)).tolist() == expected
    grid = cal.du(
        np.array(["2025-01-02", "2026-01-02"], dtype="datetime64[D]")[:, None],
        np.array(maturities, dtype="datetime64[D]")[None, :],
    )
    assert grid.shape == (2, 3)
    assert grid[0, 0] == 252


def test_du_rejects_missing_and_out_of_range_dates() -> None:
    with pytest.raises(ValueError, match="NaT"):
        cal.du(D("2025-01-02"), np.array(["2026-01-02", "NaT"], dtype="datetime64[D]"))
    with pytest.raises(ValueError, match="outside the calendar range"):
        cal.du(D("2025-01-02"), D("2100-01-04"))
    # A maturity on the first day after the range still counts only covered days.
    assert cal.du(D("2099-12-31"), D("2100-01-01")) == 1  # Thursday Dec 31 counts


# --------------------------------------------------------------------------------------------
# DI1 maturities: first business day of the contract month


@pytest.mark.parametrize(
    ("code", "maturity"),
    [
        ("F26", "2026-01-02"),
        ("N26", "2026-07-01"),
        ("F27", "2027-01-04"),
        ("F28", "2028-01-03"),
        ("F29", "2029-01-02"),
        ("F30", "2030-01-02"),
        ("F31", "2031-01-02"),
        ("F33", "2033-01-03"),
        ("F35", "2035-01-02"),
    ],
)
def test_di1_maturities(code: str, maturity: str) -> None:
    month = "FGHJKMNQUVXZ".index(code[0]) + 1
    assert cal.first_business_day_of_month(2000 + int(code[1:]), month) == D(maturity)


# --------------------------------------------------------------------------------------------
# historical B3 and the Nov 20 switch


@pytest.mark.parametrize(
    "day", ["2021-01-25", "2021-07-09", "2019-11-20", "2014-06-12", "2017-12-29", "2016-12-30"]
)
def test_historical_b3_closed(day: str) -> None:
    d = D(day)
    assert cal.is_business_day(d)  # all of these were ANBIMA business days
    assert not cal.is_b3_session(d)
    assert b3_closure_name(d)


@pytest.mark.parametrize(
    "day", ["2020-07-09", "2020-11-20", "2022-01-25", "2023-01-25", "2024-01-25", "2025-07-09"]
)
def test_historical_b3_open(day: str) -> None:
    assert cal.is_business_day(D(day))
    assert cal.is_b3_session(D(day))


def test_historical_closure_table_is_weekday_b3_only_data() -> None:
    days = [d for d, _ in cal.B3_HISTORICAL_CLOSURES]
    assert days == sorted(set(days))
    closures = cal.B3_HISTORICAL_CLOSURES
    assert all(d.weekday() < 5 and d.year <= 2021 and name for d, name in closures)
    assert all(cal.is_business_day(d) and not cal.is_b3_session(d) for d in days)


def test_nov_20_is_national_from_2024() -> None:
    assert cal.is_business_day(D("2023-11-20"))
    assert cal.holiday_name(D("2023-11-20")) is None
    assert cal.is_b3_session(D("2023-11-20"))
    assert not cal.is_business_day(D("2024-11-20"))
    assert cal.holiday_name(D("2024-11-20")) == "National Day of Zumbi and Black Awareness"


@pytest.mark.parametrize("day", ["2024-02-14", "2025-03-05", "2026-02-18"])
def test_ash_wednesday_is_a_business_day_and_session(day: str) -> None:
    assert cal.is_business_day(D(day))
    assert cal.is_b3_session(D(day))


def test_holy_thursday_closed_through_1999() -> None:
    # CMN Resolução 2.516/1998, as encoded by holidays.
    assert cal.holiday_name(D("1999-04-01")) == "Holy Thursday"
    assert cal.is_business_day(D("2001-04-12"))


def test_b3_sessions_are_anbima_business_days() -> None:
    days = np.arange(np.datetime64("1990-01-01"), np.datetime64("2100-01-01"))
    sessions = np.is_busday(days, busdaycal=cal.B3)
    assert np.all(np.is_busday(days[sessions], busdaycal=cal.ANBIMA))


def test_golden_lists() -> None:
    with GOLDEN.open(newline="") as f:
        rows = list(csv.DictReader(f))
    expected = {
        name: {D(r["date"]) for r in rows if r["calendar"] == name} for name in ("ANBIMA", "B3")
    }
    ranges = {"ANBIMA": (2000, 2099), "B3": (2000, 2040)}
    for name, busdaycal in (("ANBIMA", cal.ANBIMA), ("B3", cal.B3)):
        first, last = ranges[name]
        days = np.arange(np.datetime64(f"{first}-01-01"), np.datetime64(f"{last + 1}-01-01"))
        weekdays = days[np.is_busday(days)]
        closed = set(weekdays[~np.is_busday(weekdays, busdaycal=busdaycal)].tolist())
        assert closed == expected[name], name
    assert len(expected["ANBIMA"]) == 1023
    assert len(expected["B3"]) == 523


# --------------------------------------------------------------------------------------------
# point in time: the count the market made on the reference date

BEFORE, AFTER = D("2023-06-01"), D("2024-06-03")  # reference dates on each side of the switch
SWITCH = D("2023-12-26")
NOV_20_WEEKDAYS = [date(y, 11, 20) for y in range(2024, 2100) if date(y, 11, 20).weekday() < 5]


def test_point_in_time_example() -> None:
    assert cal.du(BEFORE, D("2028-01-03"), as_of=BEFORE) == 1154
    assert cal.du(BEFORE, D("2028-01-03")) == 1151
    assert cal.du(BEFORE, D("2028-01-03"), as_of=AFTER) == 1151
    assert type(cal.du(BEFORE, D("2028-01-03"), as_of=BEFORE)) is int


@pytest.mark.parametrize(("as_of", "counted_as_holiday"), [
    ("2023-12-21", False), ("2023-12-22", False),  # the law's publication date: not yet
    ("2023-12-23", False), ("2023-12-24", False), ("2023-12-25", False),  # no business day
    ("2023-12-26", True), ("2023-12-27", True), ("2024-11-19", True), ("2099-12-31", True),
    ("1980-01-01", False), ("2150-01-01", True),  # any date is a valid reference date
])
def test_switch_boundary(as_of: str, counted_as_holiday: bool) -> None:
    ref = D(as_of)
    assert cal.is_business_day(D("2024-11-20"), as_of=ref) is not counted_as_holiday
    assert cal.is_b3_session(D("2024-11-20"), as_of=ref) is not counted_as_holiday
    assert cal.du(D("2024-11-20"), D("2024-11-21"), as_of=ref) == (0 if counted_as_holiday else 1)
    assert cal.du(BEFORE, D("2028-01-03"), as_of=ref) == (1151 if counted_as_holiday else 1154)
    late = datetime.combine(ref, datetime.max.time())  # a datetime counts as its date
    assert cal.du(BEFORE, D("2028-01-03"), as_of=late) == cal.du(BEFORE, D("2028-01-03"),
                                                                  as_of=ref)


def test_the_rule_table() -> None:
    (rule,) = cal.HOLIDAY_RULES
    assert rule.applied_from == SWITCH == cal.next_business_day(D("2023-12-22"))
    assert cal.holiday_name(D("2024-11-20")) == rule.holiday
    assert "14.759" in rule.source


def test_nov_20_2023_was_never_a_national_holiday() -> None:
    for ref in (None, BEFORE, D("2023-11-20"), SWITCH):
        assert cal.is_business_day(D("2023-11-20"), as_of=ref)
        assert cal.is_b3_session(D("2023-11-20"), as_of=ref)  # B3 opens on SP holidays from 2022
        assert cal.holiday_name(D("2023-11-20"), as_of=ref) is None


def _closed(busdaycal: np.busdaycalendar) -> set[date]:
    days = np.arange(np.datetime64("1990-01-01"), np.datetime64("2100-01-01"))
    weekdays = days[np.is_busday(days)]
    return set(weekdays[~np.is_busday(weekdays, busdaycal=busdaycal)].tolist())


def test_the_earlier_version_differs_only_by_nov_20() -> None:
    for today, before in ((cal.anbima_calendar(), cal.anbima_calendar(as_of=BEFORE)),
                          (cal.b3_calendar(), cal.b3_calendar(as_of=BEFORE))):
        assert _closed(today) - _closed(before) == set(NOV_20_WEEKDAYS)
        assert _closed(before) <= _closed(today)
    assert cal.calendar_fingerprint(as_of=BEFORE) != cal.calendar_fingerprint()


def test_todays_calendar_is_every_date_after_the_switch() -> None:
    """Every reference date from the switch on (and None) gets today's calendar, the one the
    golden file checks; every earlier one gets the other version, built once."""
    refs = np.arange(np.datetime64("1990-01-01"), np.datetime64("2100-01-01"))
    after = refs >= np.datetime64(SWITCH)
    numbers = calendar_versions.version_numbers(refs)
    assert (numbers[after] == numbers[-1]).all() and (numbers[~after] == numbers[0]).all()
    assert numbers[0] != numbers[-1]
    today = calendar_versions.version(None)
    assert calendar_versions.numbered_version(int(numbers[-1])) is today
    for ref in [*refs[after][::97].tolist(), SWITCH, D("2099-12-31")]:
        assert calendar_versions.version(ref) is today
        assert cal.anbima_calendar(as_of=ref) is cal.ANBIMA
        assert cal.b3_calendar(as_of=ref) is cal.B3
    assert cal.anbima_calendar(as_of=BEFORE) is cal.anbima_calendar(as_of=D("2023-12-25"))


TODAY, PAST = "today", "past"  # expected results without as_of / as of BEFORE
FUNCTIONS = [
    ("is_business_day", lambda **kw: cal.is_business_day(D("2024-11-20"), **kw), False, True),
    ("is_b3_session", lambda **kw: cal.is_b3_session(D("2025-11-20"), **kw), False, True),
    ("holiday_name", lambda **kw: cal.holiday_name(D("2026-11-20"), **kw),
     "National Day of Zumbi and Black Awareness", None),
    ("b3_holidays_between",
     lambda **kw: cal.b3_holidays_between(D("2024-11-19"), D("2024-11-21"), **kw),
     [(D("2024-11-20"), "National Day of Zumbi and Black Awareness")], []),
    ("previous_business_day", lambda **kw: cal.previous_business_day(D("2024-11-21"), **kw),
     D("2024-11-19"), D("2024-11-20")),
    ("previous_business_day n", lambda **kw: cal.previous_business_day(D("2024-11-22"), 2, **kw),
     D("2024-11-19"), D("2024-11-20")),
    ("next_business_day", lambda **kw: cal.next_business_day(D("2025-11-19"), **kw),
     D("2025-11-21"), D("2025-11-20")),
    ("previous_b3_session", lambda **kw: cal.previous_b3_session(D("2026-11-23"), **kw),
     D("2026-11-19"), D("2026-11-20")),
    ("next_b3_session", lambda **kw: cal.next_b3_session(D("2024-11-19"), 2, **kw),
     D("2024-11-22"), D("2024-11-21")),
    ("add_business_days", lambda **kw: cal.add_business_days(D("2024-11-19"), 1, **kw),
     D("2024-11-21"), D("2024-11-20")),
    ("add_business_days back", lambda **kw: cal.add_business_days(D("2024-11-21"), -1, **kw),
     D("2024-11-19"), D("2024-11-20")),
    ("following", lambda **kw: cal.following(D("2024-11-20"), **kw),
     D("2024-11-21"), D("2024-11-20")),
    # Nov 20 is never the first of a month: DI1 maturities are the same on both calendars.
    ("first_business_day_of_month", lambda **kw: cal.first_business_day_of_month(2024, 11, **kw),
     D("2024-11-01"), D("2024-11-01")),
    ("business_days", lambda **kw: len(cal.business_days(D("2024-01-01"), D("2026-12-31"), **kw)),
     754, 757),
    ("b3_sessions", lambda **kw: len(cal.b3_sessions(D("2024-01-01"), D("2026-12-31"), **kw)),
     748, 751),
    ("du", lambda **kw: cal.du(D("2024-01-01"), D("2025-01-01"), **kw), 253, 254),
    ("du array", lambda **kw: cal.du(D("2024-01-01"), [D("2025-01-01"), D("2024-11-20")],
                                     **kw).tolist(), [253, 225], [254, 225]),
    ("b3_session_count", lambda **kw: cal.b3_session_count(D("2025-01-01"), D("2026-01-01"),
                                                           **kw), 250, 251),
    ("anbima_calendar", lambda **kw: bool(np.is_busday(np.datetime64("2024-11-20"),
                                                       busdaycal=cal.anbima_calendar(**kw))),
     False, True),
    ("b3_calendar", lambda **kw: bool(np.is_busday(np.datetime64("2024-11-20"),
                                                   busdaycal=cal.b3_calendar(**kw))),
     False, True),
]


@pytest.mark.parametrize(("call", "today", "past"), [f[1:] for f in FUNCTIONS],
                         ids=[f[0] for f in FUNCTIONS])
def test_every_function_takes_as_of(call: Callable[..., object], today: object, past: object
                                     ) -> None:
    assert call() == today
    assert call(as_of=None) == today
    assert call(as_of=AFTER) == today
    assert call(as_of=BEFORE) == past


def test_every_public_function_is_covered() -> None:
    """Every public function of the module but today_brt takes ``as_of`` (keyword only)."""
    import inspect

    functions = {n for n in cal.__all__ if inspect.isfunction(getattr(cal, n))} - {"today_brt"}
    for name in functions:
        parameter = inspect.signature(getattr(cal, name)).parameters["as_of"]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default is None
    covered_names = {f[0].split()[0] for f in FUNCTIONS} | {"calendar_fingerprint"}
    assert functions == covered_names


def test_add_business_days_refuses_by_the_version() -> None:
    with pytest.raises(ValueError, match="2024-11-20 is not an ANBIMA business day: National"):
        cal.add_business_days(D("2024-11-20"), 1)
    assert cal.add_business_days(D("2024-11-20"), 1, as_of=BEFORE) == D("2024-11-21")


def test_as_of_must_be_a_date() -> None:
    with pytest.raises(TypeError, match="as_of"):
        cal.is_business_day(D("2025-03-05"), as_of="2023-06-01")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="as_of contains a missing date"):
        cal.du(BEFORE, D("2028-01-03"), as_of=np.array(["2023-06-01", "NaT"], "datetime64[D]"))


def test_du_with_one_reference_date_per_pair() -> None:
    """An array ``as_of`` (e.g. each row's price date) equals the scalar counts row by row."""
    rng = np.random.default_rng(20231226)
    starts = np.datetime64("2022-01-01") + rng.integers(0, 1000, 400).astype("timedelta64[D]")
    ends = starts + rng.integers(-500, 2500, 400).astype("timedelta64[D]")
    vector = cal.du(starts, ends, as_of=starts)
    assert vector.dtype == np.int64
    assert vector.tolist() == [cal.du(s, e, as_of=s) for s, e in
                               zip(starts.tolist(), ends.tolist(), strict=True)]
    b3 = cal.b3_session_count(starts, ends, as_of=starts)
    assert b3.tolist() == [cal.b3_session_count(s, e, as_of=s) for s, e in
                           zip(starts.tolist(), ends.tolist(), strict=True)]
    # One pair seen from many reference dates broadcasts; a pandas Series works too.
    refs = pd.Series(pd.to_datetime(["2023-06-01", "2023-12-22", "2023-12-26", "2025-01-02"]))
    assert cal.du(BEFORE, D("2028-01-03"), as_of=refs).tolist() == [1154, 1154, 1151, 1151]
    assert cal.du(BEFORE, D("2028-01-03"), as_of=np.datetime64("2023-06-01")) == 1154


def test_counts_on_different_reference_dates_are_not_additive() -> None:
    a, b, c = BEFORE, D("2024-01-02"), D("2025-01-02")  # the switch between a and b
    split = cal.du(a, b, as_of=a) + cal.du(b, c, as_of=b)
    assert split == cal.du(a, c, as_of=a) - 1  # Nov 20 2024, in [b, c), counted once only
    assert cal.du(a, b, as_of=a) + cal.du(b, c, as_of=a) == cal.du(a, c, as_of=a)


def test_di1_priced_on_each_side_of_the_switch() -> None:
    """DI1F28 (maturing 2028-01-03), PU = 100 000/(1 + r)^(du/252), du counted on the pricing
    date: on 2023-06-01 the three weekday Nov 20s of 2024-2026 are business days, on
    2024-06-03 they are holidays."""
    maturity, rate = cal.first_business_day_of_month(2028, 1), 0.1050
    assert maturity == D("2028-01-03")
    du_2023 = cal.du(BEFORE, maturity, as_of=BEFORE)
    pu_2023 = round(float(pricing.di1_pu(rate, du_2023)), 2)
    assert du_2023 == 1154
    assert pu_2023 == round(100_000 / 1.105 ** (1154 / 252), 2)
    # The same published PU read with today's count misses the published rate.
    assert round(float(pricing.di1_rate(pu_2023, du_2023)), 6) == rate
    assert abs(float(pricing.di1_rate(pu_2023, cal.du(BEFORE, maturity))) - rate) > 1e-4
    today_count = round(float(pricing.di1_pu(rate, cal.du(BEFORE, maturity))), 2)
    assert 0.1 < (today_count / pu_2023 - 1) * 100 < 0.13  # % error of the current calendar

    du_2024 = cal.du(AFTER, maturity, as_of=AFTER)
    assert du_2024 == cal.du(AFTER, maturity) == cal.du(AFTER, maturity, as_of=BEFORE) - 3
    pu_2024 = round(float(pricing.di1_pu(rate, du_2024)), 2)
    assert pu_2024 == round(100_000 / 1.105 ** (du_2024 / 252), 2)
    assert round(float(pricing.di1_dv01(rate, du_2024)), 4) < round(
        float(pricing.di1_dv01(rate, cal.du(AFTER, maturity, as_of=BEFORE))), 4)


# --------------------------------------------------------------------------------------------
# stepping


def test_stepping_examples() -> None:
    assert cal.previous_business_day(D("2025-03-05")) == D("2025-02-28")  # over Carnival
    assert cal.next_business_day(D("2025-02-28")) == D("2025-03-05")
    assert cal.next_business_day(D("2025-03-03")) == D("2025-03-05")  # from a holiday
    assert cal.previous_business_day(D("2025-03-04")) == D("2025-02-28")
    assert cal.previous_business_day(D("2025-03-07"), 3) == D("2025-02-28")
    assert cal.next_business_day(D("2025-12-30")) == D("2025-12-31")
    assert cal.next_b3_session(D("2025-12-30")) == D("2026-01-02")
    # Pre-open on Ash Wednesday 2026 covers everything since Friday's close.
    assert cal.previous_b3_session(D("2026-02-18")) == D("2026-02-13")
    assert cal.previous_b3_session(D("2026-01-02")) == D("2025-12-30")
    assert cal.business_days(D("2025-12-30"), D("2026-01-01")) == [D("2025-12-30"), D("2025-12-31")]
    assert cal.following(D("2026-01-01")) == D("2026-01-02")
    assert cal.following(D("2026-01-02")) == D("2026-01-02")
    assert cal.add_business_days(D("2025-02-28"), 1) == D("2025-03-05")
    assert cal.add_business_days(D("2025-03-05"), -1) == D("2025-02-28")
    assert cal.add_business_days(D("2025-03-05"), 0) == D("2025-03-05")
    assert type(cal.next_business_day(D("2025-02-28"))) is date


def test_datetime_inputs_use_their_calendar_date() -> None:
    assert cal.is_business_day(datetime(2025, 3, 5, 18, 0))
    assert cal.next_business_day(pd.Timestamp("2025-02-28 18:00")) == D("2025-03-05")


def test_refusals() -> None:
    with pytest.raises(ValueError, match="2025-03-04 is not an ANBIMA business day: Carnival"):
        cal.add_business_days(D("2025-03-04"), 1)
    with pytest.raises(ValueError, match="positive"):
        cal.next_business_day(D("2025-03-05"), 0)
    with pytest.raises(ValueError, match="outside the calendar range"):
        cal.is_business_day(D("1989-12-29"))
    with pytest.raises(ValueError, match="outside the calendar range"):
        cal.next_business_day(D("2099-12-31"))
    with pytest.raises(TypeError):
        cal.is_business_day("2025-03-05")  # type: ignore[arg-type]


def test_holiday_name_none_on_business_day() -> None:
    assert cal.holiday_name(D("2025-03-05")) is None
    assert cal.holiday_name(D("2025-12-24")) is None  # B3-only closure


# --------------------------------------------------------------------------------------------
# properties

covered = st.dates(min_value=date(1991, 1, 1), max_value=date(2098, 12, 31))
property_settings = settings(max_examples=300, deadline=None, database=None)


reference_dates = st.one_of(st.none(), st.dates(min_value=date(1980, 1, 1),
                                                max_value=date(2120, 12, 31)))


@property_settings
@given(covered, covered, covered, reference_dates)
def test_du_is_additive_and_antisymmetric(a: date, b: date, c: date, as_of: date | None
                                          ) -> None:
    """For one reference date, in any order of a, b, c (the du docstring's identities)."""
    def du(x: date, y: date) -> int:
        return int(cal.du(x, y, as_of=as_of))

    assert du(a, b) + du(b, c) == du(a, c)
    assert du(a, b) == -du(b, a)
    lo, hi = min(a, c), max(a, c)
    inclusive = len(cal.business_days(lo, hi, as_of=as_of))
    assert abs(du(a, c)) == inclusive - (1 if cal.is_business_day(hi, as_of=as_of) else 0)
    assert int(cal.b3_session_count(a, b, as_of=as_of)) == \
        -int(cal.b3_session_count(b, a, as_of=as_of))


@property_settings
@given(covered)
def test_previous_and_next_business_day(d: date) -> None:
    p, n = cal.previous_business_day(d), cal.next_business_day(d)
    assert p < d < n
    assert cal.is_business_day(p) and cal.is_business_day(n)
    assert cal.du(p, d) == 1  # nothing business between p and d
    assert cal.du(d, n) == (1 if cal.is_business_day(d) else 0)
    assert cal.next_business_day(p) == cal.following(d)
    assert cal.previous_business_day(n) == (d if cal.is_business_day(d) else p)
    assert cal.previous_business_day(d, 2) == cal.previous_business_day(p)
    assert cal.next_business_day(d, 2) == cal.next_business_day(n)


@property_settings
@given(covered)
def test_previous_and_next_b3_session(d: date) -> None:
    p, n = cal.previous_b3_session(d), cal.next_b3_session(d)
    assert p < d < n
    assert cal.is_b3_session(p) and cal.is_b3_session(n)
    assert cal.b3_sessions(p + timedelta(days=1), d - timedelta(days=1)) == []
    assert cal.previous_b3_session(n) == (d if cal.is_b3_session(d) else p)


@property_settings
# 300 business days are about 14 months: start a year inside the covered range on each side
# so the move itself stays in 1990..2099 (a step past the range is refused, as tested above).
@given(st.dates(min_value=date(1992, 1, 1), max_value=date(2097, 12, 31)),
       st.integers(min_value=-300, max_value=300))
def test_add_business_days_round_trip(d: date, n: int) -> None:
    start = cal.following(d)
    moved = cal.add_business_days(start, n)
    assert cal.is_business_day(moved)
    assert cal.du(start, moved) == n
    assert cal.add_business_days(moved, -n) == start


# --------------------------------------------------------------------------------------------
# module hygiene


def _imports(path: str) -> set[str]:
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m for m in found if m.split(".")[0] not in (*sys.stdlib_module_names, "__future__")}


def test_calendar_module_is_pure() -> None:
    """Only stdlib, numpy and holidays: the pure modules import no luigi/sqlalchemy/redis/pandas."""
    assert _imports(cal.__file__) == {"numpy", "pms_luigi.core.calendar_counts",
                                      "pms_luigi.core.calendar_versions"}
    assert _imports(calendar_counts.__file__) == {"numpy", "numpy.typing",
                                                  "pms_luigi.core.calendar_versions"}
    assert _imports(calendar_versions.__file__) == {"numpy", "numpy.typing", "holidays"}
    for module in (cal, calendar_counts, calendar_versions):
        assert "today(" not in Path(module.__file__).read_text(encoding="utf-8")


def test_today_brt_is_a_sao_paulo_date() -> None:
    before = datetime.now(cal.TIMEZONE).date()
    today = cal.today_brt()
    after = datetime.now(cal.TIMEZONE).date()
    assert type(today) is date
    assert before <= today <= after


def test_calendar_fingerprint_names_the_library_version() -> None:
    import holidays

    fingerprint = cal.calendar_fingerprint()
    assert fingerprint.startswith(f"holidays-{holidays.__version__}/1990-2099/")
    assert fingerprint == cal.calendar_fingerprint()
