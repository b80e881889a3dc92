"""Is a date's input data loaded? The queries behind the pipeline's input checks.

Each check answers with what is missing — table, series and date, in the words an operator
needs to chase the feed (``fx_fixings: no PTAX USDBRL fixing dated 2026-12-07``) — and an
empty list when everything is there. Luigi asks at scheduling and again before a step runs,
for every date of a backfill, so each check is one statement.
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from pms_luigi.core import calendar
from pms_luigi.store import schema as s


def market_data_missing(conn: sa.Connection, on: date) -> list[str]:
    """What ``MarkToMarket(on)`` needs and does not find.

    Args:
        conn: an open connection.
        on: the business date to mark.

    Returns:
        One entry per absent input: settlement prices dated ``on`` (only on a B3 session:
        B3 publishes none on a day it is closed), the PTAX of ``on``, and the CDI fixing of
        the previous business day (the last one the day's correction factor compounds).
        One statement of up to three EXISTS.
    """
    prev = calendar.previous_business_day(on)
    needs = {
        f"fx_fixings: no PTAX USDBRL fixing dated {on}": sa.select(s.fx_fixings.c.fixing_date)
        .where(s.fx_fixings.c.fixing_date == on, s.fx_fixings.c.kind == "PTAX"),
        f"cdi_fixings: no CDI rate dated {prev} (the previous business day)": sa.select(
            s.cdi_fixings.c.fixing_date).where(s.cdi_fixings.c.fixing_date == prev),
    }
    if calendar.is_b3_session(on):
        needs = {f"market_prices: no settlement price dated {on}": sa.select(
            s.market_prices.c.price_date).where(s.market_prices.c.price_date == on), **needs}
    found = conn.execute(sa.select(*(q.exists() for q in needs.values()))).one()
    return [what for what, ok in zip(needs, found, strict=True) if not ok]


def signals_missing(conn: sa.Connection, on: date) -> list[str]:
    """``["signals: no strategy signal dated <on>"]`` when no signal of ``on`` is loaded,
    else ``[]`` (one EXISTS)."""
    query = sa.select(s.signals.c.signal_date).where(s.signals.c.signal_date == on)
    if conn.execute(sa.select(query.exists())).scalar_one():
        return []
    return [f"signals: no strategy signal dated {on}"]
