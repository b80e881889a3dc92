"""``pms.MarkToMarket(D)``: marks, book snapshot (NAV, exposures, P&L) and risk snapshot."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import luigi
import pandas as pd
import sqlalchemy as sa

from pms_luigi.cache.payloads import canonical_json_with, records_json
from pms_luigi.core import calendar, mtm, risk
from pms_luigi.core.frames import canonical_json, to_days
from pms_luigi.pipeline.context import RunContext
from pms_luigi.pipeline.inputs import MarketDataReady
from pms_luigi.pipeline.step import PmsTask, StepResult
from pms_luigi.pipeline.steps import ingest
from pms_luigi.store import readers as rd
from pms_luigi.store import schema as s
from pms_luigi.store.writers import (
    TypedColumns,
    float_texts,
    replace_step_rows,
    replace_typed,
    sorted_columns,
    typed_columns,
)

#: The columns of yesterday's marks the engine reads (``mtm.PREV_MARK_COLUMNS`` and the
#: optional ones).
PREV_MARK_COLUMNS = [*mtm.PREV_MARK_COLUMNS, *mtm.PREV_MARK_OPTIONAL]
#: The trade columns the engine reads (``mtm.TRADE_COLUMNS`` and the optional ones).
TRADE_COLUMNS = [*mtm.TRADE_COLUMNS, *mtm.TRADE_OPTIONAL]
#: The book history the risk snapshot reads (drawdown of the performance index), as
#: ``readers.book_series`` returns it: only when no performance index is carried.
BOOK_COLUMNS = ["business_date", "nav_brl", "pnl_bps"]
_MARK_ORDER = ["instrument_id", "strategy_id"]
_REPRS = "position_marks:float_texts"  # result.written key: float texts of the typed marks


def _carried_index(ctx: RunContext, prev: date | None, prev_book: dict[str, Any] | None
                   ) -> risk.PerformanceIndex | None:
    """The performance index of the books up to ``prev`` (D−1), when the build carries it
    for the run that wrote ``prev_book`` and it ends on that book's pnl_bps; the empty index
    on inception; else None (the books are read)."""
    if prev is None:
        return risk.PerformanceIndex()
    held = ctx.carried.performance_index.get((prev, prev_book["run_id"])) if prev_book \
        else None
    if held is None or held.last_bps != float(prev_book["pnl_bps"]):
        return None
    return held


def _ordered(typed: TypedColumns) -> TypedColumns:
    """Marks in payload order: (instrument_id, strategy_id) by code point, collation-free
    (a stable sort: the order ``sort_values(_MARK_ORDER, kind="mergesort")`` gives)."""
    return sorted_columns(typed, _MARK_ORDER)


@dataclass
class MtmTaskInputs:
    """What MarkToMarket(D) reads: the engine's inputs, the price/FX history and the book
    series of the risk snapshot, and the reference files and settings it applies.

    ``factors``: the previous date's factor window, carried by the build (None: none);
    ``performance``: the performance index of the books before D, carried by the build —
    ``books`` (the books before D) is then not read and left empty.
    """

    mtm: mtm.MtmInputs
    history: pd.DataFrame
    fx_history: pd.DataFrame
    books: pd.DataFrame
    limits: pd.DataFrame
    scenarios: dict[str, Any]
    var_window: int
    var_min_history: int
    factors: risk.FactorHistory | None = None
    performance: risk.PerformanceIndex | None = None


@dataclass
class MtmResult(StepResult):
    """The step's result plus the state the next date carries on from: the factor window
    of D, the performance index of the books before D and the trade ledger after D's
    trades."""

    factors: risk.FactorHistory | None = None
    performance: risk.PerformanceIndex | None = None
    ledger: mtm.LedgerState | None = None


class MarkToMarket(PmsTask):
    """Mark every open position at D's prices; requires yesterday's marks."""

    #: 2: position notionals are signed (+ long, − short) and the book's net notional and
    #: the risk snapshot's net leverage come from them; a store marked by version 1 holds
    #: unsigned notionals, so every MTM it holds is stale and is rebuilt by the next run.
    version = 2
    kinds = ("book", "risk")
    pause_gc = True

    @classmethod
    def upstream_for(cls, on: date, ctx: RunContext) -> list[tuple[type[PmsTask], date]]:
        """The MTM of the previous business day (none on the fund's inception), and the
        ingestion of every landed file the date needs when ``[pms_ingest]`` sources feed it
        (:func:`pms_luigi.pipeline.steps.ingest.steps_for`)."""
        first = ctx.fund.inception
        if on < first:
            raise ValueError(f"{on} is before the fund's inception {first}")
        chain = [] if on == first else [(cls, calendar.previous_business_day(on))]
        return [*chain, *ingest.steps_for(on, ctx.settings.landing)]

    def external_requires(self) -> list[luigi.Task]:
        """The date's market data loaded by hand, unless landed files feed it (their
        ingestion steps are upstream, each requiring its file)."""
        fed = ingest.steps_for(self.date, self.ctx.settings.landing)
        return [] if fed else [MarketDataReady(date=self.date)]

    def read_inputs(self, ctx: RunContext) -> MtmTaskInputs:
        conf, fund = ctx.settings.mtm, ctx.fund
        d = self.date
        p = None if d == fund.inception else calendar.previous_business_day(d)
        hist_start = calendar.add_business_days(d, -(conf.var_window + 5))
        held = ctx.window
        with ctx.stores.engine.connect() as conn:
            prices = rd.prices_between_typed(conn, hist_start, d, held)
            fx = rd.fx_between(conn, hist_start, d, held)
            prev_book = rd.row_on(conn, s.book_snapshots, p) if p else None
            prev_marks = (rd.marks_typed(conn, p, PREV_MARK_COLUMNS) if p
                          else pd.DataFrame(columns=PREV_MARK_COLUMNS))
            # the marks read only the prices their staleness rule can use; the risk
            # snapshot reads the whole year (``prices``)
            marks_from = mtm.mark_window_start(d, to_days(prev_marks["price_date"]),
                                               conf.max_stale_bd)
            inputs = mtm.MtmInputs(
                business_date=d,
                prev_date=p,
                instruments=rd.instruments(conn, held),
                trades=rd.trades_upto_typed(conn, d, TRADE_COLUMNS, held),
                prev_marks=prev_marks,
                prices=rd.prices_between_typed(conn, marks_from, d, held)
                if marks_from > hist_start else prices,
                fx=fx,
                cdi=rd.cdi_between(conn, calendar.add_business_days(d, -10), d, held),
                vna=rd.vna_between(conn, calendar.add_business_days(d, -30), d, held),
                nav_prev=float(prev_book["nav_brl"]) if prev_book else fund.initial_nav,
                capital_flow_brl=rd.capital_flow(conn, d),
                is_b3_session=calendar.is_b3_session(d),
                max_stale_bd=conf.max_stale_bd,
                ledger=ctx.carried.mtm_ledger,
            )
            index = _carried_index(ctx, p, prev_book)
            books = rd.book_series(conn, fund.inception, p) if p and index is None \
                else pd.DataFrame(columns=BOOK_COLUMNS)
        return MtmTaskInputs(inputs, prices, fx, books, ctx.reference.limits(),
                             ctx.reference.stress_scenarios(), conf.var_window,
                             conf.var_min_history, ctx.carried.risk_factors, index)

    def compute(self, inputs: MtmTaskInputs) -> MtmResult:
        result = mtm.mark_to_market(inputs.mtm)
        window = (inputs.history, inputs.mtm.instruments, inputs.fx_history, self.date)
        factors = risk.FactorHistory.of(*window) if inputs.factors is None \
            else inputs.factors.advance(*window)
        before = risk.PerformanceIndex.of(inputs.books["pnl_bps"]) \
            if inputs.performance is None else inputs.performance
        snapshot = risk.risk_snapshot(
            result.marks, inputs.mtm.instruments, inputs.history, inputs.fx_history,
            nav=result.book["nav_brl"], on=self.date,
            limits=inputs.limits, scenarios=inputs.scenarios,
            window=inputs.var_window, min_history=inputs.var_min_history,
            changes=factors.changes,
            performance=before.advance(result.book["pnl_bps"], self.date),
        )
        metadata = dict(result.metadata)
        metadata.update(nav_brl=round(result.book["nav_brl"], 2),
                        risk_status=snapshot["status"])
        return MtmResult(
            frames={
                s.position_marks: result.marks,
                s.book_snapshots: pd.DataFrame([result.book]),
                s.risk_snapshots: pd.DataFrame([snapshot]),
                s.data_quality_issues: result.dq_issues,
            },
            metadata=metadata, factors=factors, performance=before, ledger=result.ledger,
        )

    def write(self, conn: sa.Connection, result: StepResult, run_id: str) -> int:
        """Replace the date's marks, book and risk rows (typed: stored exactly as framed, kept
        in ``result.written`` as :func:`~pms_luigi.store.writers.typed_columns` for the
        payload) and this step's data-quality rows. Arrays rather than typed frames: a
        frame's construction and column reads cost more than the typing itself here."""
        rows = 0
        for tbl in (s.position_marks, s.book_snapshots, s.risk_snapshots):
            typed = typed_columns(tbl, result.frames[tbl], {"run_id": run_id})
            reprs = None
            if tbl is s.position_marks:  # floats formatted once, for the COPY and the payload
                typed = _ordered(typed)
                reprs = result.written[_REPRS] = float_texts(typed)
            rows += replace_typed(conn, tbl, self.date, typed, reprs=reprs)
            result.written[tbl] = typed
        dq = result.frames[s.data_quality_issues].assign(run_id=run_id)
        rows += replace_step_rows(conn, s.data_quality_issues, self.date, self.family(), dq)
        self._carry(result, run_id)
        return rows

    def _carry(self, result: StepResult, run_id: str) -> None:
        """Leave the risk state for the next date (used there only if this run commits):
        the factor window, and the performance index folded on by D's book as stored; and
        the ledger after D's trades (a fold of the trades read, used on the trades the next
        date reads when they start with those: see ``mtm.state.usable``)."""
        if not isinstance(result, MtmResult) or result.performance is None:
            return  # pragma: no cover - compute always returns both
        carried = self.ctx.carried
        carried.mtm_ledger = result.ledger
        carried.risk_factors = result.factors
        stored = float(result.written[s.book_snapshots]["pnl_bps"][0])
        carried.performance_index = {
            (self.date, run_id): result.performance.advance(stored, self.date)}

    def payload_texts(self, conn: sa.Connection, result: StepResult | None = None
                      ) -> dict[str, str]:
        """book = the book_snapshots row + its positions; risk = the risk_snapshots row.

        The positions (the bulk) come from the typed marks just written when ``result`` is
        given, else from the DB read as floats and typed the same way: the database holds
        exactly the typed values (see ``writers.typed_frame``, whose arrays
        ``writers.typed_columns`` are), so both texts are identical.
        The two single rows are read back in both cases.
        """
        if result is not None and s.position_marks in result.written:
            marks, reprs = result.written[s.position_marks], result.written.get(_REPRS)
        else:
            marks = _ordered(typed_columns(s.position_marks, rd.marks_typed(conn, self.date)))
            reprs = None
        positions = records_json({k: v for k, v in marks.items() if k != "run_id"}, reprs)
        book = rd.row_on(conn, s.book_snapshots, self.date)
        risk_row = rd.row_on(conn, s.risk_snapshots, self.date)
        return {"book": canonical_json_with(book or {}, {"positions": positions}),
                "risk": canonical_json(risk_row)}

    def payloads(self, conn: sa.Connection) -> dict[str, Any]:
        return {kind: json.loads(text) for kind, text in self.payload_texts(conn).items()}
