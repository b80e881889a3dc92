"""``pms.MorningPack(D)``: the PM's briefing for trading day D, from persisted outputs only."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from pms_luigi import report as render
from pms_luigi.core import calendar
from pms_luigi.core import pack as morning_pack
from pms_luigi.core.frames import canonical_json
from pms_luigi.core.proposals import ProposalPolicy
from pms_luigi.pipeline.context import RunContext
from pms_luigi.pipeline.step import PmsTask, StepResult
from pms_luigi.pipeline.steps.attribution import PerformanceAttribution
from pms_luigi.pipeline.steps.mark_to_market import MarkToMarket
from pms_luigi.pipeline.steps.proposals import TradeProposals
from pms_luigi.store import readers as rd
from pms_luigi.store import schema as s
from pms_luigi.store.identity import store_id


@dataclass
class PackStepInputs:
    """The pack's inputs and where its files go."""

    pack: morning_pack.PackInputs
    out_dir: Path


class MorningPack(PmsTask):
    """Version 2: flips graded by size, the proposals' score, caps and rolls, files under
    ``<output_dir>/<store>/<fund>/<D>/`` (version 1 packs are rebuilt on the next run)."""

    version = 2
    rank = 3
    kinds = ("morning_pack",)

    @classmethod
    def upstream_for(cls, on: date, ctx: RunContext) -> list[tuple[type[PmsTask], date]]:
        """Last close's book and attribution, and the day's proposals."""
        prev = calendar.previous_business_day(on)
        return [(MarkToMarket, prev), (PerformanceAttribution, prev), (TradeProposals, on)]

    def read_inputs(self, ctx: RunContext) -> PackStepInputs:
        d = self.date
        p = calendar.previous_business_day(d)
        p2 = calendar.previous_business_day(p)
        sessions = calendar.b3_sessions(calendar.add_business_days(p, -12), p)
        with ctx.stores.engine.connect() as conn:
            pack = morning_pack.PackInputs(
                date=d,
                prev_date=p,
                book=rd.row_on(conn, s.book_snapshots, p),
                book_history=rd.books_between(conn, ctx.fund.inception, p),
                marks=rd.marks_on(conn, p),
                risk=rd.row_on(conn, s.risk_snapshots, p),
                attribution=rd.rows_on(conn, s.attribution, p),
                stats=rd.rows_on(conn, s.performance_stats, p),
                proposals=rd.proposals_on(conn, d),
                dq_issues=rd.dq_issues_on(conn, [p, d]),
                signals_now=rd.signals_on(conn, [p]),
                signals_prev=rd.signals_on(conn, [p2]),
                curve_prices=rd.prices_between(conn, sessions[0], p),
                fx=rd.fx_between(conn, sessions[0], p),
                instruments=rd.instruments(conn),
                strategies=rd.strategies(conn),
                expiry_horizon_bd=ctx.settings.mtm.expiry_horizon_bd,
                fund_name=ctx.fund.name,
                flip_grades=ProposalPolicy.from_mapping(ctx.reference.proposal_policy()).flips,
            )
        store = store_id(ctx.settings.database_url, ctx.settings.namespace)
        return PackStepInputs(pack, render.pack_dir(ctx.settings.output_dir, store,
                                                    ctx.fund.name, d))

    def compute(self, inputs: PackStepInputs) -> StepResult:
        """Assemble the pack and render it (HTML, PDF, PNG charts) in memory; the files are
        written after the commit (:meth:`write_files`)."""
        pack = morning_pack.assemble_pack(inputs.pack)
        text = canonical_json(pack)
        pngs = render.render_charts(pack)
        cids = render.chart_cids(pngs)
        html = render.render_html(pack, cids)
        pdf = render.render_pdf(html, pngs, cids)
        out = inputs.out_dir
        paths = render.output_paths(out, list(pngs), pdf is not None)
        digest = hashlib.sha256(text.encode()).hexdigest()
        row = {"business_date": self.date, "payload": pack, "html": html, "digest": digest}
        return StepResult(frames={s.morning_packs: pd.DataFrame([row])},
                          metadata={"sections": len(pack.get("sections", pack)),
                                    "paths": {k: str(v) for k, v in paths.items()},
                                    "pack_digest": digest},
                          files={"out": out, "html": html, "pdf": pdf, "pngs": pngs,
                                 "json": text})

    def write_files(self, result: StepResult) -> None:
        """The pack's files under ``<output_dir>/<store>/<fund>/<date>/``, each written
        atomically, after the rows committed: a crash before the commit leaves no file of an
        uncommitted pack."""
        f = result.files
        render.write_outputs(f["out"], self.date, f["html"], f["pdf"], f["pngs"], f["json"])

    def payloads(self, conn: sa.Connection) -> dict[str, Any]:
        row = rd.row_on(conn, s.morning_packs, self.date)
        return {"morning_pack": row["payload"]}
