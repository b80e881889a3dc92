"""External tasks: input data that other systems load (prices, fixings, signals) or land
(the publishers' files).

They have no ``run()``: when their data is absent Luigi reports the step's dependency as
missing, and the run ends with the missing-data exit code (3), the one cron's
``--wait-until`` keeps polling on. When Luigi finds one missing it fires
``DEPENDENCY_MISSING``; the handler below then logs one line naming what is absent —
table, series and date (:mod:`pms_luigi.store.availability`), or the file expected and
where — instead of Luigi's "Data for … does not exist (yet?)" (which the logging filter
drops for these tasks).
"""
from __future__ import annotations

import abc
import logging
from collections.abc import Callable
from datetime import date

import luigi
import sqlalchemy as sa

from pms_luigi.core.errors import ExitCode
from pms_luigi.pipeline import context, landing, retry
from pms_luigi.pipeline.params import BusinessDateParameter
from pms_luigi.pipeline.targets import DataReadyTarget
from pms_luigi.store import availability, ingested, window
from pms_luigi.store.markers import STORE_ERRORS

log = logging.getLogger("pms_luigi")


def _ask(query: Callable[[sa.Connection, date], list[str]], on: date) -> list[str]:
    """What ``query`` finds missing on ``on``, under the ``[pms_retry]`` policy: a database
    blip while Luigi checks the inputs is retried like every other store access, instead of
    failing the scheduling (exit 7)."""
    def ask() -> list[str]:
        with context.current().stores.engine.connect() as conn:
            return query(conn, on)
    return retry.call(context.current().settings.retry, "status", {}, ask)


class InputsReady(luigi.ExternalTask):
    """Input data of one business date is loaded: complete when :meth:`missing` is empty."""

    task_namespace = "pms"
    date = BusinessDateParameter()

    @abc.abstractmethod
    def missing(self) -> list[str]:
        """What is absent, one entry per table and series (empty when all is loaded)."""

    def output(self) -> DataReadyTarget:
        return DataReadyTarget(self.missing)


class MarketDataReady(InputsReady):
    """The market data of the date: prices, PTAX and CDI loaded (manual loads), or — when
    ``[pms_ingest]`` sources feed the date — every file they land for it
    (:meth:`pms_luigi.pipeline.landing.Landing.needed`). With sources, ``MarkToMarket(D)`` consumes
    the ``Ingest`` steps of those files instead (each requires its :class:`LandedFile`)."""

    def missing(self) -> list[str]:
        files = context.current().settings.landing.needed(self.date)
        if files:
            return [f for s, d in files for f in LandedFile(date=d, source=s.name).missing()]
        held = context.current().window  # a backfill chunk: one question for its dates
        return _ask(lambda conn, on: window.per_date(
            held, "market_data_missing", on,
            lambda lo, hi: availability.market_data_missing_between(conn, lo, hi)), self.date)


class PricesReady(InputsReady):
    """Prices dated on the date are loaded (what a reconciliation of loaded data needs)."""

    def missing(self) -> list[str]:
        return _ask(ingested.prices_missing, self.date)


class LandedFile(InputsReady):
    """A publisher's file of one date in the landing folder: ``<landing>/<source>/
    <YYYY-MM-DD>/<file>`` (:mod:`pms_luigi.pipeline.landing`)."""

    source = luigi.ChoiceParameter(choices=list(landing.SOURCES), var_type=str)

    def output(self) -> luigi.LocalTarget:  # type: ignore[override]
        return luigi.LocalTarget(str(context.current().settings.landing.path(self.source,
                                                                             self.date)))

    def missing(self) -> list[str]:
        path = context.current().settings.landing.path(self.source, self.date)
        if path.is_file():
            return []
        publisher = landing.SOURCES[self.source].publisher
        return [f"{self.source}: {path} has not landed (the {publisher} file of {self.date})"]


class SignalsReady(InputsReady):
    """Strategy signals dated on the date are loaded."""

    def missing(self) -> list[str]:
        return _ask(availability.signals_missing, self.date)


@InputsReady.event_handler(luigi.Event.DEPENDENCY_MISSING)
def _say_what_is_missing(task: InputsReady) -> None:
    """One ERROR line per missing input task: ``missing data for pms.MarketDataReady(...):
    fx_fixings: no PTAX USDBRL fixing dated … [exit 3 MISSING_DATA]``. Luigi also fires this
    event when the completeness check itself failed (a database outage): Luigi's own line,
    made one line by the logging filter, reports that."""
    try:
        absent = task.missing()
    except STORE_ERRORS:
        return
    if absent:
        log.error("missing data for %s: %s %s", task, "; ".join(absent),
                  ExitCode.MISSING_DATA.tag)
