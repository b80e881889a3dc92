"""``pms.TradeProposals(D)``: sized, risk-checked proposals for trading day D from the
signals and the book at the last close P."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import luigi
import pandas as pd
import sqlalchemy as sa

from pms_luigi.core import calendar, proposals
from pms_luigi.pipeline.context import RunContext
from pms_luigi.pipeline.inputs import SignalsReady
from pms_luigi.pipeline.step import PmsTask, StepResult
from pms_luigi.pipeline.steps.mark_to_market import MarkToMarket
from pms_luigi.store import readers as rd
from pms_luigi.store import schema as s
from pms_luigi.store.writers import replace_pending_proposals


@dataclass
class ProposalInputs:
    """What TradeProposals(D) reads, as of the last close P, and the policy it applies."""

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
    policy: dict[str, Any]
    limits: pd.DataFrame
    scenarios: dict[str, Any]
    var_window: int
    var_min_history: int
    min_days_to_expiry: int


class TradeProposals(PmsTask):
    """Version 2: contracts near expiry roll, caps as a share of NAV, the score's parts, ids
    kept across reruns (version 1 stores rebuild their proposals on the next run)."""

    version = 2
    rank = 2
    kinds = ("proposals",)

    @classmethod
    def upstream_for(cls, on: date, ctx: RunContext) -> list[tuple[type[PmsTask], date]]:
        """The book at the last close: MTM of the previous business day."""
        return [(MarkToMarket, calendar.previous_business_day(on))]

    def external_requires(self) -> list[luigi.Task]:
        return [SignalsReady(date=calendar.previous_business_day(self.date))]

    def read_inputs(self, ctx: RunContext) -> ProposalInputs:
        conf = ctx.settings.mtm
        prev = calendar.previous_business_day(self.date)
        start = calendar.add_business_days(prev, -(conf.var_window + 5))
        with ctx.stores.engine.connect() as conn:
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
                nav_history=rd.books_between(conn, ctx.fund.inception, prev),
                decided=rd.decided_proposals_on(conn, self.date),
                policy=ctx.reference.proposal_policy(),
                limits=ctx.reference.limits(),
                scenarios=ctx.reference.stress_scenarios(),
                var_window=conf.var_window,
                var_min_history=conf.var_min_history,
                min_days_to_expiry=ctx.settings.min_days_to_expiry,
            )

    def compute(self, inputs: ProposalInputs) -> StepResult:
        frame, metadata = proposals.propose(
            business_date=self.date, as_of=calendar.previous_business_day(self.date),
            signals=inputs.signals, strategies=inputs.strategies, aliases=inputs.aliases,
            instruments=inputs.instruments, book=inputs.book, history=inputs.history,
            fx_history=inputs.fx_history, vna=inputs.vna, nav=inputs.nav,
            nav_history=inputs.nav_history, decided=inputs.decided, policy=inputs.policy,
            limits=inputs.limits, scenarios=inputs.scenarios, window=inputs.var_window,
            min_history=inputs.var_min_history,
            min_days_to_expiry=inputs.min_days_to_expiry)
        return StepResult(frames={s.proposals: frame}, metadata=metadata)

    def write(self, conn: sa.Connection, result: StepResult, run_id: str) -> int:
        """Replace only pipeline-generated PENDING proposals, each keeping its id while its
        key (date, instrument, side, action) is proposed again: human decisions are kept."""
        now = datetime.now(UTC)
        frame = result.frames[s.proposals].assign(
            run_id=run_id, created_at=now, updated_at=now, status="PENDING",
            origin="PIPELINE", business_date=self.date)
        return replace_pending_proposals(conn, self.date, frame)

    def payloads(self, conn: sa.Connection) -> dict[str, Any]:
        frame = rd.proposals_on(conn, self.date).drop(columns=["created_at", "updated_at"])
        return {"proposals": {"date": self.date.isoformat(),
                              "proposals": frame.to_dict("records")}}
