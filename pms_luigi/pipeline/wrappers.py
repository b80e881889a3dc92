"""The two cron runs as WrapperTasks (DESIGN.md §3).

``EndOfDay(D)`` at 18:00 BRT marks D and attributes it. ``PreOpen(D)`` at 06:00 BRT on
trading day D sees the book at the last close P: its MTM and attribution are last night's
EOD outputs (skipped when EOD succeeded, caught up when it did not); proposals and the pack
are for D.
"""
from __future__ import annotations

import luigi

from pms_luigi.core import calendar
from pms_luigi.pipeline.steps.attribution import PerformanceAttribution
from pms_luigi.pipeline.step import BusinessDateParameter, PmsWrapperTask
from pms_luigi.pipeline.steps.mark_to_market import MarkToMarket
from pms_luigi.pipeline.steps.morning_pack import MorningPack
from pms_luigi.pipeline.steps.proposals import TradeProposals


class EndOfDay(PmsWrapperTask):
    date = BusinessDateParameter()

    def requires(self) -> list[luigi.Task]:
        return [MarkToMarket(date=self.date), PerformanceAttribution(date=self.date)]


class PreOpen(PmsWrapperTask):
    date = BusinessDateParameter()

    def requires(self) -> list[luigi.Task]:
        prev = calendar.previous_business_day(self.date)
        return [MarkToMarket(date=prev), TradeProposals(date=self.date),
                PerformanceAttribution(date=prev), MorningPack(date=self.date)]
