"""``pms.PerformanceAttribution(D)``: daily/WTD/MTD/QTD/YTD/ITD P&L by every dimension."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import luigi
import pandas as pd
import sqlalchemy as sa

from pms_luigi import attribution
from pms_luigi.store import readers as rd
from pms_luigi.store import schema as s
from pms_luigi.tasks.base import PmsTask, StepResult, fund
from pms_luigi.tasks.mark_to_market import MarkToMarket


@dataclass
class AttributionInputs:
    facts: pd.DataFrame
    books: pd.DataFrame
    strategies: pd.DataFrame
    instruments: pd.DataFrame


class PerformanceAttribution(PmsTask):
    """Group-bys over one fact table (the position marks), so every view reconciles."""

    version = 1
    rank = 1
    kinds = ("attribution",)

    def requires(self) -> luigi.Task:
        return MarkToMarket(date=self.date)

    def read_inputs(self, conn: sa.Connection) -> AttributionInputs:
        start = fund().inception
        return AttributionInputs(
            facts=rd.marks_between(conn, start, self.date),
            books=rd.books_between(conn, start, self.date),
            strategies=rd.strategies(conn),
            instruments=rd.instruments(conn),
        )

    def compute(self, inputs: AttributionInputs) -> StepResult:
        result = attribution.attribute(inputs.facts, inputs.books, inputs.strategies,
                                       inputs.instruments, self.date, fund().inception)
        return StepResult(frames={s.attribution: result.rows, s.performance_stats: result.stats},
                          metadata=result.metadata)

    def payloads(self, conn: sa.Connection) -> dict[str, Any]:
        rows = rd.rows_on(conn, s.attribution, self.date).drop(columns=["run_id"])
        stats = rd.rows_on(conn, s.performance_stats, self.date)
        curve = rd.books_between(conn, fund().inception, self.date)[
            ["business_date", "nav_brl", "pnl_bps"]]
        return {"attribution": {
            "date": self.date.isoformat(),
            "rows": rows.sort_values(["period", "dimension", "bucket"]).to_dict("records"),
            "stats": {r["period"]: r["stats"] for r in stats.to_dict("records")},
            "equity_curve": curve.to_dict("records"),
        }}
