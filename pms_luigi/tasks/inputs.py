"""External tasks: input data that other systems load (prices, fixings, signals).

They have no ``run()``: when their data is absent Luigi reports the step's dependency as
missing, and ``[retcode] missing_data`` turns that into a distinct exit code.
"""
from __future__ import annotations

import luigi
import sqlalchemy as sa

from pms_luigi import calendar
from pms_luigi.store import schema as s
from pms_luigi.targets import DataReadyTarget
from pms_luigi.tasks.base import BusinessDateParameter, get_stores


def market_data_missing(conn: sa.Connection, on: sa.Date) -> list[str]:
    """What MarkToMarket(on) needs and does not find: settlement prices on a B3 session,
    the PTAX of the day, and the CDI fixing of the previous business day (the last one
    the correction factor compounds)."""
    missing = []
    if calendar.is_b3_session(on):
        n = conn.execute(sa.select(sa.func.count()).select_from(s.market_prices)
                         .where(s.market_prices.c.price_date == on)).scalar_one()
        if not n:
            missing.append(f"market_prices.price on {on}")
    ptax = conn.execute(sa.select(sa.func.count()).select_from(s.fx_fixings).where(
        s.fx_fixings.c.fixing_date == on, s.fx_fixings.c.kind == "PTAX")).scalar_one()
    if not ptax:
        missing.append(f"fx_fixings PTAX on {on}")
    prev = calendar.previous_business_day(on)
    cdi = conn.execute(sa.select(sa.func.count()).select_from(s.cdi_fixings)
                       .where(s.cdi_fixings.c.fixing_date == prev)).scalar_one()
    if not cdi:
        missing.append(f"cdi_fixings.rate on {prev}")
    return missing


class MarketDataReady(luigi.ExternalTask):
    """Prices, PTAX and CDI for the date are loaded."""

    task_namespace = "pms"
    date = BusinessDateParameter()

    def output(self) -> DataReadyTarget:
        def check() -> bool:
            with get_stores().engine.connect() as conn:
                return not market_data_missing(conn, self.date)

        return DataReadyTarget(check)


class SignalsReady(luigi.ExternalTask):
    """Strategy signals dated on the date are loaded."""

    task_namespace = "pms"
    date = BusinessDateParameter()

    def output(self) -> DataReadyTarget:
        def check() -> bool:
            with get_stores().engine.connect() as conn:
                n = conn.execute(sa.select(sa.func.count()).select_from(s.signals)
                                 .where(s.signals.c.signal_date == self.date)).scalar_one()
            return n > 0

        return DataReadyTarget(check)
