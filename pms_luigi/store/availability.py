"""Is a date's input data loaded? The queries behind the pipeline's input checks.

Each check answers with what is missing — table, series and date, in the words an operator
needs to chase the feed (``fx_fixings: no PTAX USDBRL fixing dated 2026-12-07``) — and an
empty list when everything is there. Luigi asks at scheduling and again before a step runs,
for every date of a backfill, so each check is one statement per input; a backfill chunk
asks for all its dates at once (through the input window, ``store/window.py``).
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from pms_luigi.core import calendar
from pms_luigi.store import schema as s


def market_data_missing(conn: sa.Connection, on: date) -> list[str]:
    """What ``MarkToMarket(on)`` needs and does not find (see
    :func:`market_data_missing_between`)."""
    return _market_data_missing(conn, [on])[on]


def market_data_missing_between(conn: sa.Connection, start: date, end: date
                                ) -> dict[date, list[str]]:
    """:func:`market_data_missing` of every business day in [start, end], in three
    statements whatever the number of days: a backfill chunk asks once."""
    return _market_data_missing(conn, calendar.business_days(start, end))


def _market_data_missing(conn: sa.Connection, days: list[date]) -> dict[date, list[str]]:
    """Per day, one entry per absent input: settlement prices dated on it (only on a B3
    session: B3 publishes none on a day it is closed), the PTAX of the day, and the CDI
    fixing of the previous business day (the last one the day's correction factor
    compounds). One statement per input over the days' range."""
    if not days:
        return {}
    prev = {d: calendar.previous_business_day(d) for d in days}
    lo, hi = min(days), max(days)
    p, f, c = s.market_prices, s.fx_fixings, s.cdi_fixings
    priced = _dates(conn, sa.select(p.c.price_date).where(p.c.price_date.between(lo, hi)))
    ptax = _dates(conn, sa.select(f.c.fixing_date).where(f.c.fixing_date.between(lo, hi),
                                                          f.c.kind == "PTAX"))
    cdi = _dates(conn, sa.select(c.c.fixing_date).where(
        c.c.fixing_date.between(min(prev.values()), max(prev.values()))))
    out = {}
    for d in days:
        absent = []
        if calendar.is_b3_session(d) and d not in priced:
            absent.append(f"market_prices: no settlement price dated {d}")
        if d not in ptax:
            absent.append(f"fx_fixings: no PTAX USDBRL fixing dated {d}")
        if prev[d] not in cdi:
            absent.append(f"cdi_fixings: no CDI rate dated {prev[d]} (the previous business day)")
        out[d] = absent
    return out


def _dates(conn: sa.Connection, query: sa.Select) -> set[date]:
    """The distinct dates a one-column query returns."""
    return set(conn.execute(query.distinct()).scalars())


def signals_missing(conn: sa.Connection, on: date) -> list[str]:
    """``["signals: no strategy signal dated <on>"]`` when no signal of ``on`` is loaded,
    else ``[]`` (one EXISTS)."""
    query = sa.select(s.signals.c.signal_date).where(s.signals.c.signal_date == on)
    if conn.execute(sa.select(query.exists())).scalar_one():
        return []
    return [f"signals: no strategy signal dated {on}"]
