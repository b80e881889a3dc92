"""The roots Luigi builds: the two cron runs, and a chunk of a backfill.

``EndOfDay(D)`` at 18:00 BRT marks D and attributes it, and — when ``[pms_ingest]`` sources
feed D — reconciles D's landed prices (``Reconcile``; the marking itself consumes the
ingestion of D's files). ``PreOpen(D)`` at 06:00 BRT on trading day D sees the book at the
last close P: its MTM and attribution are last night's EOD outputs (skipped when EOD
succeeded, caught up when it did not); proposals and the pack are for D.
"""
from __future__ import annotations

import functools

import luigi

from pms_luigi.core import calendar
from pms_luigi.pipeline import context
from pms_luigi.pipeline.graph import FAMILIES
from pms_luigi.pipeline.params import BusinessDateParameter
from pms_luigi.pipeline.step import PmsTask, PmsWrapperTask
from pms_luigi.pipeline.steps.attribution import PerformanceAttribution
from pms_luigi.pipeline.steps.mark_to_market import MarkToMarket
from pms_luigi.pipeline.steps.morning_pack import MorningPack
from pms_luigi.pipeline.steps.proposals import TradeProposals
from pms_luigi.pipeline.steps.reconcile import Reconcile
from pms_luigi.store import markers as mk


class EndOfDay(PmsWrapperTask):
    date = BusinessDateParameter()

    def requires(self) -> list[luigi.Task]:
        steps: list[luigi.Task] = [MarkToMarket(date=self.date),
                                   PerformanceAttribution(date=self.date)]
        if context.current().settings.landing.needed(self.date):
            steps.append(Reconcile(date=self.date))
        return steps


class PreOpen(PmsWrapperTask):
    date = BusinessDateParameter()

    def requires(self) -> list[luigi.Task]:
        prev = calendar.previous_business_day(self.date)
        return [MarkToMarket(date=prev), TradeProposals(date=self.date),
                PerformanceAttribution(date=prev), MorningPack(date=self.date)]


class BackfillChunk(PmsWrapperTask):
    """One chunk of a backfill as a single root for ``luigi.build``.

    Luigi's worker walks the dependencies of every root passed to ``build`` separately (the
    ``seen`` set is per root), so passing the chunk's K dates as K roots walks the MTM chain
    K times: O(K²) completeness checks and scheduler calls per chunk. One root walks each
    step once. ``nonce`` makes the task id unique per backfill process, so two backfills of
    one range against luigid share the steps, never the wrapper.
    """

    steps = luigi.ListParameter(description="family@date keys of the steps to build")
    nonce = luigi.Parameter(description="unique per backfill process")

    def requires(self) -> list[PmsTask]:
        return self._steps

    @functools.cached_property
    def _steps(self) -> list[PmsTask]:
        """Built once: Luigi asks a root for its requirements several times per build."""
        return [FAMILIES[fam](date=on) for fam, on in map(mk.parse_upstream_key, self.steps)]
