"""``pms.MorningPack(D)``: the PM's briefing for trading day D, from persisted outputs only."""
from __future__ import annotations

import hashlib
from typing import Any

import luigi
import pandas as pd
import sqlalchemy as sa

from pms_luigi.core import calendar, pack as morning_pack
from pms_luigi.report import html as render
from pms_luigi.pipeline import config as cfg
from pms_luigi.cache.payloads import canonical_json
from pms_luigi.store import readers as rd
from pms_luigi.store import schema as s
from pms_luigi.pipeline.steps.attribution import PerformanceAttribution
from pms_luigi.pipeline.step import PmsTask, StepResult, fund
from pms_luigi.pipeline.steps.mark_to_market import MarkToMarket
from pms_luigi.pipeline.steps.proposals import TradeProposals


class MorningPack(PmsTask):
    version = 1
    rank = 3
    kinds = ("morning_pack",)

    def requires(self) -> list[luigi.Task]:
        prev = calendar.previous_business_day(self.date)
        return [MarkToMarket(date=prev), PerformanceAttribution(date=prev),
                TradeProposals(date=self.date)]

    def read_inputs(self, conn: sa.Connection) -> morning_pack.PackInputs:
        d = self.date
        p = calendar.previous_business_day(d)
        p2 = calendar.previous_business_day(p)
        sessions = calendar.b3_sessions(calendar.add_business_days(p, -12), p)
        return morning_pack.PackInputs(
            date=d,
            prev_date=p,
            book=rd.row_on(conn, s.book_snapshots, p),
            book_history=rd.books_between(conn, fund().inception, p),
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
            expiry_horizon_bd=cfg.pms_mtm().expiry_horizon_bd,
            fund_name=fund().name,
        )

    def compute(self, inputs: morning_pack.PackInputs) -> StepResult:
        pack = morning_pack.assemble_pack(inputs)
        pngs = render.render_charts(pack)
        cids = {name: f"{name}@pms-luigi" for name in pngs}
        html = render.render_html(pack, cids)
        pdf = render.render_pdf(html, pngs, cids)
        paths = render.write_outputs(cfg.output_dir() / self.date.isoformat(), self.date,
                                     html, pdf, pngs, canonical_json(pack))
        digest = hashlib.sha256(canonical_json(pack).encode()).hexdigest()
        row = {"business_date": self.date, "payload": pack, "html": html, "digest": digest}
        return StepResult(frames={s.morning_packs: pd.DataFrame([row])},
                          metadata={"sections": len(pack.get("sections", pack)),
                                    "paths": {k: str(v) for k, v in paths.items()},
                                    "pack_digest": digest})

    def payloads(self, conn: sa.Connection) -> dict[str, Any]:
        row = rd.row_on(conn, s.morning_packs, self.date)
        return {"morning_pack": row["payload"]}
