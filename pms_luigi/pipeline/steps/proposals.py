"""``pms.TradeProposals(D)``: sized, risk-checked proposals for trading day D from the
signals and the book at the last close P."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import luigi
import pandas as pd
import sqlalchemy as sa

from pms_luigi.core import calendar, proposals
from pms_luigi.pipeline import config as cfg
from pms_luigi.store import files
from pms_luigi.store import readers as rd
from pms_luigi.store import schema as s
from pms_luigi.store.writers import insert_frame
from pms_luigi.pipeline.step import PmsTask, StepResult, fund
from pms_luigi.pipeline.inputs import SignalsReady
from pms_luigi.pipeline.steps.mark_to_market import MarkToMarket


@dataclass
class ProposalInputs:
    signals: pd.DataFrame
    strategies: pd.DataFrame
    aliases: pd.DataFrame
    instruments: pd.DataFrame
    book: pd.DataFrame
    history: pd.DataFrame
    fx_history: pd.DataFrame
    vna: float | None
    nav: float
    nav_history: pd.DataFrame
    decided: pd.DataFrame


class TradeProposals(PmsTask):
    version = 1
    rank = 2
    kinds = ("proposals",)

    def requires(self) -> list[luigi.Task]:
        prev = calendar.previous_business_day(self.date)
        return [MarkToMarket(date=prev), SignalsReady(date=prev)]

    def read_inputs(self, conn: sa.Connection) -> ProposalInputs:
        prev = calendar.previous_business_day(self.date)
        start = calendar.add_business_days(prev, -(cfg.pms_mtm().var_window + 5))
        book = rd.row_on(conn, s.book_snapshots, prev)
        return ProposalInputs(
            signals=rd.signals_on(conn, [prev]),
            strategies=rd.strategies(conn),
            aliases=rd.aliases(conn),
            instruments=rd.instruments(conn),
            book=rd.marks_on(conn, prev),
            history=rd.prices_between(conn, start, prev),
            fx_history=rd.fx_between(conn, start, prev),
            vna=rd.vna_value(conn, "NTNB", prev),
            nav=float(book["nav_brl"]),
            nav_history=rd.books_between(conn, fund().inception, prev),
            decided=rd.decided_proposals_on(conn, self.date),
        )

    def compute(self, inputs: ProposalInputs) -> StepResult:
        prev = calendar.previous_business_day(self.date)
        conf = cfg.pms_mtm()
        frame, metadata = proposals.propose(
            business_date=self.date, as_of=prev, signals=inputs.signals,
            strategies=inputs.strategies, aliases=inputs.aliases,
            instruments=inputs.instruments, book=inputs.book, history=inputs.history,
            fx_history=inputs.fx_history, vna=inputs.vna, nav=inputs.nav,
            nav_history=inputs.nav_history, decided=inputs.decided,
            policy=files.proposal_policy(cfg.config_dir()),
            limits=files.limits(cfg.config_dir()),
            scenarios=files.stress_scenarios(cfg.config_dir()),
            window=conf.var_window, min_history=conf.var_min_history)
        return StepResult(frames={s.proposals: frame}, metadata=metadata)

    def write(self, conn: sa.Connection, result: StepResult, run_id: str) -> int:
        """Replace only pipeline-generated PENDING proposals: human decisions are kept."""
        p = s.proposals
        conn.execute(sa.delete(p).where(p.c.business_date == self.date,
                                        p.c.origin == "PIPELINE", p.c.status == "PENDING"))
        now = datetime.now(timezone.utc)
        frame = result.frames[p].assign(run_id=run_id, created_at=now, updated_at=now,
                                        status="PENDING", origin="PIPELINE",
                                        business_date=self.date)
        return insert_frame(conn, p, frame)

    def payloads(self, conn: sa.Connection) -> dict[str, Any]:
        frame = rd.proposals_on(conn, self.date).drop(columns=["created_at", "updated_at"])
        return {"proposals": {"date": self.date.isoformat(),
                              "proposals": frame.to_dict("records")}}
