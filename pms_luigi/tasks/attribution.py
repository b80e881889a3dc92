"""``pms.PerformanceAttribution(D)``: daily/WTD/MTD/QTD/YTD/ITD P&L by every dimension.

Incremental: the rows of D are chained on the persisted rows of the latest earlier date X
whose attribution is still valid for the current book (see :meth:`chain_base`), plus the
marks of (X, D] — normally X = the previous business day, so a date costs the same whether
it is the 10th or the 1,000th since inception. With no valid X (first date, a version or
reference-data change, a broken chain) it falls back to the full recomputation over every
mark since inception. Both give the same rows bit for bit: X's marker metadata carries the
unrounded running sums behind its rows (``chain_state``), and the chain resumes the same
float fold (``attribution.attribute_incremental``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import luigi
import pandas as pd
import sqlalchemy as sa

from pms_luigi import attribution, calendar
from pms_luigi.store import markers as mk
from pms_luigi.store import readers as rd
from pms_luigi.store import schema as s
from pms_luigi.tasks.base import PmsTask, StepResult, fund
from pms_luigi.tasks.mark_to_market import MarkToMarket

_PRIORITY_EPOCH = date(2200, 1, 1).toordinal()

#: How many business days back a chain base is looked for before a full recomputation.
CHAIN_LOOKBACK_BD = 15


@dataclass
class AttributionInputs:
    facts: pd.DataFrame
    books: pd.DataFrame
    strategies: pd.DataFrame
    instruments: pd.DataFrame
    base: date | None = None  # chain on this date's rows (None: full recomputation)
    base_rows: pd.DataFrame | None = None
    base_state: dict[str, Any] | None = None  # its exact running sums (marker metadata)
    reference_digest: str = ""


class PerformanceAttribution(PmsTask):
    """Group-bys over one fact table (the position marks), so every view reconciles."""

    version = 1
    rank = 1
    kinds = ("attribution",)

    def requires(self) -> luigi.Task:
        return MarkToMarket(date=self.date)

    @property
    def priority(self) -> int:  # type: ignore[override]
        """Older dates first (Luigi runs the runnable task of highest priority, and passes a
        consumer's priority on to its dependencies): in a build of many dates, D−1 is then
        attributed before D, which chains on it. Without it Luigi's order among equal
        priorities is the iteration order of a set, and D may fall back to the full pass."""
        return _PRIORITY_EPOCH - self.date.toordinal()

    @classmethod
    def upstream_keys_for(cls, on: date) -> list[str]:
        """Without instantiating tasks (the bulk status check calls this once per date)."""
        return [mk.upstream_key(MarkToMarket.family(), on)]

    def chain_base(self, conn: sa.Connection, digest: str) -> mk.Marker | None:
        """The latest attribution marker X before D that D may chain on, or None.

        X qualifies when its marker is at the current version, carries its exact running
        sums (``chain_state``), was computed from the same reference data
        (``reference_digest``), recorded the MTM(X) run that is current now,
        and the MTM chain from X to D is unbroken (each MTM(t) recorded the current run of
        MTM(t−1)). Then X's rows describe exactly the marks now in the database up to X: any
        rerun of an MTM at or before X would have changed MTM(X)'s run. Two SELECTs.
        """
        days = calendar.business_days(max(fund().inception,
                                          calendar.add_business_days(self.date,
                                                                     -CHAIN_LOOKBACK_BD)),
                                      self.date)
        if len(days) < 2:
            return None
        mtm_fam = MarkToMarket.family()
        mtm = mk.read_markers(conn, mtm_fam, days)
        attr = mk.read_markers(conn, self.family(), days[:-1])
        for i in range(len(days) - 1, 0, -1):  # the chain (days[i-1], days[i]] must hold
            t, prev = days[i], days[i - 1]
            m, mp = mtm.get(t), mtm.get(prev)
            if m is None or mp is None or \
                    m.upstream.get(mk.upstream_key(mtm_fam, prev)) != mp.run_id:
                return None
            x = attr.get(prev)
            if x is not None and x.version == self.version \
                    and x.metadata.get("reference_digest") == digest \
                    and isinstance(x.metadata.get("chain_state"), dict) \
                    and x.upstream == {mk.upstream_key(mtm_fam, prev): mp.run_id}:
                return x
        return None

    def read_inputs(self, conn: sa.Connection) -> AttributionInputs:
        start = fund().inception
        strategies, instruments = rd.strategies(conn), rd.instruments(conn)
        books = rd.books_between(conn, start, self.date)
        digest = attribution.reference_digest(strategies, instruments)
        base = self.chain_base(conn, digest)
        if base is not None:
            rows = rd.rows_on(conn, s.attribution, base.business_date)
            if len(rows) and (rows["run_id"] == base.run_id).all():
                return AttributionInputs(
                    facts=rd.marks_between(conn, calendar.next_business_day(base.business_date),
                                           self.date),
                    books=books, strategies=strategies, instruments=instruments,
                    base=base.business_date, base_rows=rows,
                    base_state=base.metadata.get("chain_state"), reference_digest=digest)
        return AttributionInputs(facts=rd.marks_between(conn, start, self.date), books=books,
                                 strategies=strategies, instruments=instruments,
                                 reference_digest=digest)

    def compute(self, inputs: AttributionInputs) -> StepResult:
        if inputs.base is None:
            result = attribution.attribute(inputs.facts, inputs.books, inputs.strategies,
                                           inputs.instruments, self.date, fund().inception)
        else:
            result = attribution.attribute_incremental(
                inputs.base_rows, inputs.base, inputs.facts, inputs.books, inputs.strategies,
                inputs.instruments, self.date, fund().inception, base_state=inputs.base_state)
        metadata = {**result.metadata, "reference_digest": inputs.reference_digest}
        return StepResult(frames={s.attribution: result.rows, s.performance_stats: result.stats},
                          metadata=metadata)

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
