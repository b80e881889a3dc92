"""``pms.MarkToMarket(D)``: marks, book snapshot (NAV, exposures, P&L) and risk snapshot."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import luigi
import pandas as pd
import sqlalchemy as sa

from pms_luigi import calendar, mtm, risk
from pms_luigi import config as cfg
from pms_luigi.store import files
from pms_luigi.store import readers as rd
from pms_luigi.store import schema as s
from pms_luigi.store.writers import insert_frame
from pms_luigi.tasks.base import PmsTask, StepResult, fund
from pms_luigi.tasks.inputs import MarketDataReady


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

    def requires(self) -> list[luigi.Task]:
        first = fund().inception
        if self.date < first:
            raise ValueError(f"{self.date} is before the fund's inception {first}")
        deps: list[luigi.Task] = [MarketDataReady(date=self.date)]
        if self.date > first:
            deps.append(MarkToMarket(date=calendar.previous_business_day(self.date)))
        return deps

    def prev_date(self) -> date | None:
        return None if self.date == fund().inception else calendar.previous_business_day(self.date)

    def read_inputs(self, conn: sa.Connection) -> MtmTaskInputs:
        conf = cfg.pms_mtm()
        d, p = self.date, self.prev_date()
        hist_start = calendar.add_business_days(d, -(conf.var_window + 5))
        prices = rd.prices_between(conn, hist_start, d)
        fx = rd.fx_between(conn, hist_start, d)
        prev_book = rd.row_on(conn, s.book_snapshots, p) if p else None
        cdi_start = calendar.add_business_days(d, -10)
        inputs = mtm.MtmInputs(
            business_date=d,
            prev_date=p,
            instruments=rd.instruments(conn),
            trades=rd.trades_upto(conn, d),
            prev_marks=rd.marks_on(conn, p) if p else rd.marks_on(conn, d).iloc[0:0],
            prices=prices,
            fx=fx,
            cdi=rd.cdi_between(conn, cdi_start, d),
            vna=rd.vna_between(conn, calendar.add_business_days(d, -30), d),
            nav_prev=float(prev_book["nav_brl"]) if prev_book else fund().initial_nav,
            capital_flow_brl=rd.capital_flow(conn, d),
            is_b3_session=calendar.is_b3_session(d),
            max_stale_bd=conf.max_stale_bd,
        )
        books = rd.books_between(conn, fund().inception, d)
        return MtmTaskInputs(inputs, prices, fx, books)

    def compute(self, inputs: MtmTaskInputs) -> StepResult:
        conf = cfg.pms_mtm()
        result = mtm.mark_to_market(inputs.mtm)
        nav_series = pd.concat([inputs.books[["business_date", "nav_brl", "pnl_bps"]],
                                pd.DataFrame([{"business_date": self.date,
                                               "nav_brl": result.book["nav_brl"],
                                               "pnl_bps": result.book["pnl_bps"]}])])
        snapshot = risk.risk_snapshot(
            result.marks, inputs.mtm.instruments, inputs.history, inputs.fx_history,
            nav=result.book["nav_brl"], on=self.date,
            limits=files.limits(cfg.config_dir()),
            scenarios=files.stress_scenarios(cfg.config_dir()),
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
        dq = result.frames.pop(s.data_quality_issues)
        rows = super().write(conn, result, run_id)
        conn.execute(sa.delete(s.data_quality_issues).where(
            s.data_quality_issues.c.business_date == self.date,
            s.data_quality_issues.c.step == self.family()))
        return rows + insert_frame(conn, s.data_quality_issues, dq.assign(run_id=run_id))

    def payloads(self, conn: sa.Connection) -> dict[str, Any]:
        book = rd.row_on(conn, s.book_snapshots, self.date)
        marks = rd.marks_on(conn, self.date)
        risk_row = rd.row_on(conn, s.risk_snapshots, self.date)
        return {
            "book": {**book, "positions": marks.drop(columns=["run_id"]).to_dict("records")},
            "risk": risk_row,
        }

