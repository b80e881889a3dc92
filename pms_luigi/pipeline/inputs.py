"""External tasks: input data that other systems load (prices, fixings, signals).

They have no ``run()``: when their data is absent Luigi reports the step's dependency as
missing, and ``[retcode] missing_data`` turns that into a distinct exit code.
"""
from __future__ import annotations

import luigi
import sqlalchemy as sa

from pms_luigi.core import calendar
from pms_luigi.pipeline import context
from pms_luigi.pipeline.params import BusinessDateParameter
from pms_luigi.pipeline.targets import DataReadyTarget
from pms_luigi.store import schema as s


def market_data_missing(conn: sa.Connection, on: sa.Date) -> list[str]:
    """What MarkToMarket(on) needs and does not find: settlement prices on a B3 session,
    the PTAX of the day, and the CDI fixing of the previous business day (the last one
    the correction factor compounds). One statement of three EXISTS (Luigi asks this at
    scheduling and again before the step runs, for every date of a backfill)."""
    prev = calendar.previous_business_day(on)
    needs = {
        f"fx_fixings PTAX on {on}": sa.select(s.fx_fixings.c.fixing_date).where(
            s.fx_fixings.c.fixing_date == on, s.fx_fixings.c.kind == "PTAX"),
        f"cdi_fixings.rate on {prev}": sa.select(s.cdi_fixings.c.fixing_date).where(
            s.cdi_fixings.c.fixing_date == prev),
    }
    if calendar.is_b3_session(on):
        needs = {f"market_prices.price on {on}": sa.select(s.market_prices.c.price_date).where(
            s.market_prices.c.price_date == on), **needs}
    found = conn.execute(sa.select(*(q.exists() for q in needs.values()))).one()
    return [what for what, ok in zip(needs, found, strict=True) if not ok]


class MarketDataReady(luigi.ExternalTask):
    """Prices, PTAX and CDI for the date are loaded."""

    task_namespace = "pms"
    date = BusinessDateParameter()

    def output(self) -> DataReadyTarget:
        def check() -> bool:
            with context.current().stores.engine.connect() as conn:
                return not market_data_missing(conn, self.date)

        return DataReadyTarget(check)


class SignalsReady(luigi.ExternalTask):
    """Strategy signals dated on the date are loaded."""

    task_namespace = "pms"
    date = BusinessDateParameter()

    def output(self) -> DataReadyTarget:
        def check() -> bool:
            with context.current().stores.engine.connect() as conn:
                n = conn.execute(sa.select(sa.func.count()).select_from(s.signals)
                                 .where(s.signals.c.signal_date == self.date)).scalar_one()
            return n > 0

        return DataReadyTarget(check)
