"""``pms.PerformanceAttribution(D)``: daily/WTD/MTD/QTD/YTD/ITD P&L by every dimension.

Incremental: the rows of D are chained on the persisted rows of the latest earlier date X
whose attribution is still valid for the current book (see :meth:`chain_base`), plus the
marks of (X, D] — normally X = the previous business day, so a date costs the same whether
it is the 10th or the 1,000th since inception. With no valid X (first date, a version or
reference-data change, a broken chain) it falls back to the full recomputation over every
mark since inception. Both give the same rows bit for bit: X's marker metadata carries the
unrounded running sums behind its rows (``chain_state``), and the chain resumes the same
float fold (``attribution.attribute_incremental``).

Per date (a backfill's steady state): only the columns the engine reads are selected; X's
rows, the books up to X and their equity-curve JSON are those the build kept when it
attributed X (``RunContext.carried``), so only the marks and books of (X, D] are read, and
the payload's equity curve (one row per date since inception, the part that grows) renders
only the new rows after the text kept for X.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import sqlalchemy as sa

from pms_luigi.cache.payloads import canonical_json_with, records_json
from pms_luigi.core import attribution, calendar
from pms_luigi.pipeline.context import AttributionRun, RunContext
from pms_luigi.pipeline.step import PmsTask, StepResult
from pms_luigi.pipeline.steps.mark_to_market import MarkToMarket
from pms_luigi.store import markers as mk
from pms_luigi.store import readers as rd
from pms_luigi.store import schema as s
from pms_luigi.store.writers import replace_on, replace_typed

_PRIORITY_EPOCH = date(2200, 1, 1).toordinal()

#: How many business days back a chain base is looked for before a full recomputation.
CHAIN_LOOKBACK_BD = 15

#: What the engine reads of the marks, the books, the base rows and the reference data.
FACT_COLUMNS = ["business_date", "instrument_id", "strategy_id", "pnl_brl",
                *attribution.EXPLAIN_BUCKETS]
BOOK_COLUMNS = ["business_date", "nav_prev_brl", "pnl_brl", "nav_brl", "cdi_rate", "pnl_bps"]
ROW_COLUMNS = ["period", "dimension", "bucket", "pnl_brl", "contribution_bps"]
STRATEGY_COLUMNS = ["strategy_id", "factor_tags", "is_systematic"]
INSTRUMENT_COLUMNS = ["instrument_id", "asset_class"]
_MARK_ORDER = ("business_date", "instrument_id", "strategy_id")
_CURVE_COLUMNS = ["business_date", "nav_brl", "pnl_bps"]
_CURVE_JSON = "equity_curve:json"  # result.written key: the payload's equity-curve text
_ROW_ORDER = ["period", "dimension", "bucket"]

@dataclass
class AttributionInputs:
    facts: pd.DataFrame
    books: pd.DataFrame
    strategies: pd.DataFrame
    instruments: pd.DataFrame
    base: date | None = None  # chain on this date's rows (None: full recomputation)
    base_rows: pd.DataFrame | None = None
    base_state: dict[str, Any] | None = None  # its exact running sums (marker metadata)
    reference: attribution.Reference | None = None
    inception: date | None = None
    curve: tuple[int, str] | None = None  # (rows, JSON) of the books' first rows, carried


@dataclass
class AttributionResult(StepResult):
    """The step's result plus the book series the payload's equity curve shows (read with
    the inputs: the same rows a republish reads from ``book_snapshots``), and the curve's
    JSON for its first rows when the build carried it."""

    books: pd.DataFrame | None = None
    curve: tuple[int, str] | None = None


class PerformanceAttribution(PmsTask):
    """Group-bys over one fact table (the position marks), so every view reconciles."""

    version = 1
    rank = 1
    kinds = ("attribution",)


    @property
    def priority(self) -> int:  # type: ignore[override]
        """Older dates first (Luigi runs the runnable task of highest priority, and passes a
        consumer's priority on to its dependencies): in a build of many dates, D−1 is then
        attributed before D, which chains on it. Without it Luigi's order among equal
        priorities is the iteration order of a set, and D may fall back to the full pass."""
        return _PRIORITY_EPOCH - self.date.toordinal()

    @classmethod
    def upstream_for(cls, on: date, ctx: RunContext) -> list[tuple[type[PmsTask], date]]:
        """The MTM of the same date."""
        return [(MarkToMarket, on)]

    def chain_base(self, conn: sa.Connection, digest: str, inception: date
                   ) -> mk.Marker | None:
        """The latest attribution marker X before D that D may chain on, or None.

        X qualifies when its marker is at the current version, carries its exact running
        sums (``chain_state``), was computed from the same reference data
        (``reference_digest``), recorded the MTM(X) run that is current now,
        and the MTM chain from X to D is unbroken (each MTM(t) recorded the current run of
        MTM(t−1)). Then X's rows describe exactly the marks now in the database up to X: any
        rerun of an MTM at or before X would have changed MTM(X)'s run. The walk reads the
        markers without their metadata (an attribution's carries ~40 kB of running sums);
        only a candidate's metadata is read, normally one.
        """
        days = calendar.business_days(max(inception,
                                          calendar.add_business_days(self.date,
                                                                     -CHAIN_LOOKBACK_BD)),
                                      self.date)
        if len(days) < 2:
            return None
        mtm_fam = MarkToMarket.family()
        mtm = mk.read_marker_states(conn, mtm_fam, days)
        attr = mk.read_marker_states(conn, self.family(), days[:-1])
        for i in range(len(days) - 1, 0, -1):  # the chain (days[i-1], days[i]] must hold
            t, prev = days[i], days[i - 1]
            m, mp = mtm.get(t), mtm.get(prev)
            if m is None or mp is None or \
                    m.upstream.get(mk.upstream_key(mtm_fam, prev)) != mp.run_id:
                return None
            upstream = {mk.upstream_key(mtm_fam, prev): mp.run_id}
            if prev in attr and self._chainable(attr[prev], upstream):
                x = mk.read_markers(conn, self.family(), [prev]).get(prev)
                if x is not None and self._chainable(x, upstream) \
                        and x.metadata.get("reference_digest") == digest \
                        and isinstance(x.metadata.get("chain_state"), dict):
                    return x
        return None

    def _chainable(self, marker: mk.Marker, upstream: dict[str, str]) -> bool:
        return marker.version == self.version and marker.upstream == upstream

    def read_inputs(self, ctx: RunContext) -> AttributionInputs:
        with ctx.stores.engine.connect() as conn:
            return self._read(conn, ctx)

    def _read(self, conn: sa.Connection, ctx: RunContext) -> AttributionInputs:
        start = ctx.fund.inception
        strategies = rd.reference_columns(conn, s.strategies, STRATEGY_COLUMNS)
        instruments = rd.reference_columns(conn, s.instruments, INSTRUMENT_COLUMNS)
        held = ctx.carried.attribution_reference
        ref = held if held is not None and held.matches(strategies, instruments) \
            else attribution.Reference.of(strategies, instruments)
        ctx.carried.attribution_reference = ref
        base = self.chain_base(conn, ref.digest, start)
        run = None if base is None else \
            ctx.carried.attribution_runs.get((base.business_date, base.run_id))
        rows = run.rows if run is not None else \
            None if base is None else self._stored_rows(conn, base)
        if base is None or rows is None:
            return AttributionInputs(facts=self._facts(conn, start),
                                     books=self._books(conn, start, None, None),
                                     strategies=strategies, instruments=instruments,
                                     reference=ref, inception=start)
        return AttributionInputs(
            facts=self._facts(conn, calendar.next_business_day(base.business_date)),
            books=self._books(conn, start, base.business_date, run), strategies=strategies,
            instruments=instruments, base=base.business_date, base_rows=rows,
            base_state=base.metadata.get("chain_state"), reference=ref, inception=start,
            curve=None if run is None else (len(run.books), run.curve_json))

    def _books(self, conn: sa.Connection, start: date, base: date | None,
               run: AttributionRun | None) -> pd.DataFrame:
        """The books of [inception, D]: those the build read for the base's run (the chain
        base shows they are still the ones stored) followed by the ones after ``base``, or
        all of them read."""
        if base is None or run is None:
            return rd.columns_between(conn, s.book_snapshots, start, self.date, BOOK_COLUMNS)
        after = rd.columns_between(conn, s.book_snapshots, calendar.next_business_day(base),
                                   self.date, BOOK_COLUMNS)
        return pd.concat([run.books, after], ignore_index=True)

    @staticmethod
    def _stored_rows(conn: sa.Connection, base: mk.Marker) -> pd.DataFrame | None:
        """The rows of the base marker's run read back; None when the stored rows are not
        that run's."""
        rows = rd.columns_between(conn, s.attribution, base.business_date, base.business_date,
                                  [*ROW_COLUMNS, "run_id"])
        return rows if len(rows) and (rows["run_id"] == base.run_id).all() else None

    def _facts(self, conn: sa.Connection, start: date) -> pd.DataFrame:
        """The marks of [start, D] in date, instrument, strategy order (the order the
        engine's per-bucket sums add them in)."""
        return rd.columns_between(conn, s.position_marks, start, self.date, FACT_COLUMNS,
                                  order_by=_MARK_ORDER)

    def compute(self, inputs: AttributionInputs) -> AttributionResult:
        if inputs.base is None:
            result = attribution.attribute(inputs.facts, inputs.books, inputs.strategies,
                                           inputs.instruments, self.date, inputs.inception,
                                           reference=inputs.reference)
        else:
            result = attribution.attribute_incremental(
                inputs.base_rows, inputs.base, inputs.facts, inputs.books, inputs.strategies,
                inputs.instruments, self.date, inputs.inception, base_state=inputs.base_state,
                reference=inputs.reference)
        digest = (inputs.reference or attribution.Reference.of(inputs.strategies,
                                                              inputs.instruments)).digest
        metadata = {**result.metadata, "reference_digest": digest}
        return AttributionResult(
            frames={s.attribution: result.rows, s.performance_stats: result.stats},
            metadata=metadata, books=inputs.books, curve=inputs.curve)

    def write(self, conn: sa.Connection, result: StepResult, run_id: str) -> int:
        """Replace the date's rows: the ~1,500 attribution rows through the bulk path (no
        per-row dicts), the three stats rows (JSON) as before. The values bound are the
        ones the generic writer binds (money rounded half-even to centavos, bps as computed:
        the database applies the column's scale), so the stored rows do not change."""
        rows = result.frames[s.attribution]
        bulk = rows.assign(business_date=self.date.isoformat(),
                           pnl_brl=rows["pnl_brl"].astype(float).round(2), run_id=run_id)
        stats = result.frames[s.performance_stats].assign(run_id=run_id)
        carried = isinstance(result, AttributionResult) and result.books is not None
        if carried:  # made before the first write: SQLite's one writer waits less on us
            curve = result.written[_CURVE_JSON] = _curve_json(result.books, result.curve)
        written = replace_typed(conn, s.attribution, self.date, bulk) + \
            replace_on(conn, s.performance_stats, self.date, stats)
        if carried:
            runs = self.ctx.carried.attribution_runs
            runs.clear()  # the next date chains on this run if it commits
            runs[(self.date, run_id)] = AttributionRun(rows, result.books, curve)
        return written

    def payload_texts(self, conn: sa.Connection, result: StepResult | None = None
                      ) -> dict[str, str]:
        """The canonical JSON of :meth:`payloads`, built column-wise.

        Rows and stats are read back (the database rounds bps to its scale). The equity
        curve — every date since inception — is the text ``write`` made from the book series
        read for the computation when ``result`` is given, else made from the database: the
        same rows either way.
        """
        curve = result.written.get(_CURVE_JSON) if result is not None else None
        if curve is None:
            curve = _curve_json(rd.columns_between(conn, s.book_snapshots,
                                                   self.ctx.fund.inception, self.date,
                                                   _CURVE_COLUMNS), None)
        rows = rd.columns_between(conn, s.attribution, self.date, self.date, ROW_COLUMNS)
        rows = rows.assign(business_date=self.date.isoformat()).sort_values(_ROW_ORDER)
        stats = rd.rows_on(conn, s.performance_stats, self.date)
        body = {"date": self.date.isoformat(),
                "stats": dict(zip(stats["period"], stats["stats"], strict=True))}
        return {"attribution": canonical_json_with(body, {
            "equity_curve": curve, "rows": records_json(rows)})}

    def payloads(self, conn: sa.Connection) -> dict[str, Any]:
        """{"attribution": {date, rows (sorted by period, dimension, bucket; no run_id),
        stats per period, equity_curve (business_date, nav_brl, pnl_bps since inception)}}."""
        return {kind: json.loads(text) for kind, text in self.payload_texts(conn).items()}


def _curve_json(books: pd.DataFrame, kept: tuple[int, str] | None) -> str:
    """The equity curve's JSON (business_date, nav_brl, pnl_bps per book): the text ``kept``
    for the first books, if any, then the books after them. Each record is written on its
    own, so the spliced text is the text of the whole curve."""
    n, head = kept if kept is not None else (0, "[]")
    tail = records_json(_iso_dated(books[_CURVE_COLUMNS].iloc[n:]))
    if head == "[]" or tail == "[]":
        return tail if head == "[]" else head
    return f"{head[:-1]},{tail[1:]}"


def _iso_dated(frame: pd.DataFrame) -> pd.DataFrame:
    """business_date as ISO text: what the canonical JSON writes for a date (``str``)."""
    return frame.assign(business_date=frame["business_date"].astype(str))
