"""``pms.MarkToMarket(D)``: marks, book snapshot (NAV, exposures, P&L) and risk snapshot."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import luigi
import pandas as pd
import sqlalchemy as sa

from pms_luigi.core import calendar, mtm, risk
from pms_luigi.pipeline import config as cfg
from pms_luigi.cache.payloads import canonical_json, canonical_json_with, records_json
from pms_luigi.store import files
from pms_luigi.store import markers as mk
from pms_luigi.store import readers as rd
from pms_luigi.store import schema as s
from pms_luigi.store.writers import float_texts, insert_frame, replace_typed, typed_frame
from pms_luigi.pipeline.step import PmsTask, StepResult, fund
from pms_luigi.pipeline.inputs import MarketDataReady


#: The columns of yesterday's marks the engine reads (see ``mtm._prep_prev_marks``).
PREV_MARK_COLUMNS = ["instrument_id", "strategy_id", "quantity", "price", "price_date",
                     "is_stale", "staleness_bd"]
#: The trade columns the engine reads (see ``mtm._norm_trades``).
TRADE_COLUMNS = ["trade_id", "trade_date", "instrument_id", "strategy_id", "quantity", "price",
                 "cost_brl"]
#: The book history the risk snapshot reads (drawdown of the performance index), as
#: ``readers.book_series`` returns it.
BOOK_COLUMNS = ["business_date", "nav_brl", "pnl_bps"]
_MARK_ORDER = ["instrument_id", "strategy_id"]
_REPRS = "position_marks:float_texts"  # result.written key: float texts of the typed marks


def _ordered(typed: pd.DataFrame) -> pd.DataFrame:
    """Marks in payload order: (instrument_id, strategy_id) by code point, collation-free."""
    return typed.sort_values(_MARK_ORDER, kind="mergesort").reset_index(drop=True)


@dataclass
class MtmTaskInputs:
    mtm: mtm.MtmInputs
    history: pd.DataFrame
    fx_history: pd.DataFrame
    books: pd.DataFrame


class MarkToMarket(PmsTask):
    """Mark every open position at D's prices; requires yesterday's marks."""

    version = 1
    kinds = ("book", "risk")
    pause_gc = True

    def requires(self) -> list[luigi.Task]:
        first = fund().inception
        if self.date < first:
            raise ValueError(f"{self.date} is before the fund's inception {first}")
        deps: list[luigi.Task] = [MarketDataReady(date=self.date)]
        if self.date > first:
            deps.append(MarkToMarket(date=calendar.previous_business_day(self.date)))
        return deps

    @classmethod
    def upstream_keys_for(cls, on: date) -> list[str]:
        """The keys ``requires()`` gives (MTM of the previous business day; none on
        inception) without instantiating Luigi tasks: the bulk status check calls this
        once per date, and a task instance costs ~1 ms of Luigi parameter handling."""
        if on <= fund().inception:
            return []
        return [mk.upstream_key(cls.family(), calendar.previous_business_day(on))]

    def prev_date(self) -> date | None:
        return None if self.date == fund().inception else calendar.previous_business_day(self.date)

    def read_inputs(self, conn: sa.Connection) -> MtmTaskInputs:
        conf = cfg.pms_mtm()
        d, p = self.date, self.prev_date()
        hist_start = calendar.add_business_days(d, -(conf.var_window + 5))
        prices = rd.prices_between_typed(conn, hist_start, d)
        fx = rd.fx_between(conn, hist_start, d)
        prev_book = rd.row_on(conn, s.book_snapshots, p) if p else None
        cdi_start = calendar.add_business_days(d, -10)
        inputs = mtm.MtmInputs(
            business_date=d,
            prev_date=p,
            instruments=rd.instruments(conn),
            trades=rd.trades_upto_typed(conn, d, TRADE_COLUMNS),
            prev_marks=(rd.marks_typed(conn, p, PREV_MARK_COLUMNS) if p
                        else pd.DataFrame(columns=PREV_MARK_COLUMNS)),
            prices=prices,
            fx=fx,
            cdi=rd.cdi_between(conn, cdi_start, d),
            vna=rd.vna_between(conn, calendar.add_business_days(d, -30), d),
            nav_prev=float(prev_book["nav_brl"]) if prev_book else fund().initial_nav,
            capital_flow_brl=rd.capital_flow(conn, d),
            is_b3_session=calendar.is_b3_session(d),
            max_stale_bd=conf.max_stale_bd,
        )
        books = rd.book_series(conn, fund().inception, d)
        return MtmTaskInputs(inputs, prices, fx, books)

    def compute(self, inputs: MtmTaskInputs) -> StepResult:
        conf = cfg.pms_mtm()
        result = mtm.mark_to_market(inputs.mtm)
        nav_series = pd.concat([inputs.books[BOOK_COLUMNS],
                                pd.DataFrame([{"business_date": self.date,
                                               "nav_brl": result.book["nav_brl"],
                                               "pnl_bps": result.book["pnl_bps"]}])])
        config_dir = cfg.config_dir()
        snapshot = risk.risk_snapshot(
            result.marks, inputs.mtm.instruments, inputs.history, inputs.fx_history,
            nav=result.book["nav_brl"], on=self.date,
            limits=files.limits(config_dir), scenarios=files.stress_scenarios(config_dir),
            window=conf.var_window, min_history=conf.var_min_history,
            nav_history=nav_series.drop_duplicates("business_date", keep="last"),
        )
        metadata = dict(result.metadata)
        metadata.update(nav_brl=round(result.book["nav_brl"], 2),
                        risk_status=snapshot["status"])
        return StepResult(
            frames={
                s.position_marks: result.marks,
                s.book_snapshots: pd.DataFrame([result.book]),
                s.risk_snapshots: pd.DataFrame([snapshot]),
                s.data_quality_issues: result.dq_issues,
            },
            metadata=metadata,
        )

    def write(self, conn: sa.Connection, result: StepResult, run_id: str) -> int:
        """Replace the date's marks, book and risk rows (typed: stored exactly as framed, kept
        in ``result.written`` for the payload) and this step's data-quality rows."""
        rows = 0
        for tbl in (s.position_marks, s.book_snapshots, s.risk_snapshots):
            typed = typed_frame(tbl, result.frames[tbl].assign(run_id=run_id))
            reprs = None
            if tbl is s.position_marks:  # floats formatted once, for the COPY and the payload
                typed = _ordered(typed)
                reprs = result.written[_REPRS] = float_texts(typed)
            rows += replace_typed(conn, tbl, self.date, typed, reprs=reprs)
            result.written[tbl] = typed
        conn.execute(sa.delete(s.data_quality_issues).where(
            s.data_quality_issues.c.business_date == self.date,
            s.data_quality_issues.c.step == self.family()))
        dq = result.frames[s.data_quality_issues]
        return rows + insert_frame(conn, s.data_quality_issues, dq.assign(run_id=run_id))

    def payload_texts(self, conn: sa.Connection, result: StepResult | None = None
                      ) -> dict[str, str]:
        """book = the book_snapshots row + its positions; risk = the risk_snapshots row.

        The positions (the bulk) come from the typed marks just written when ``result`` is
        given, else from the DB read as floats and typed the same way: the database holds
        exactly the typed values (see ``writers.typed_frame``), so both texts are identical.
        The two single rows are read back in both cases.
        """
        if result is not None and s.position_marks in result.written:
            marks, reprs = result.written[s.position_marks], result.written.get(_REPRS)
        else:
            marks = _ordered(typed_frame(s.position_marks, rd.marks_typed(conn, self.date)))
            reprs = None
        positions = records_json(marks.drop(columns=["run_id"]), reprs)
        book = rd.row_on(conn, s.book_snapshots, self.date)
        risk_row = rd.row_on(conn, s.risk_snapshots, self.date)
        return {"book": canonical_json_with(book or {}, {"positions": positions}),
                "risk": canonical_json(risk_row)}

    def payloads(self, conn: sa.Connection) -> dict[str, Any]:
        return {kind: json.loads(text) for kind, text in self.payload_texts(conn).items()}
