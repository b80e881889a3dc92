"""Proposals of a date with their risk checks; approve, reject or modify one with a reason.

Every decision goes through :mod:`pms_luigi.ops.workflow` — the CLI's path: one
transaction under the decision journal's chain lock that checks the transition, updates the
proposal and appends the hash-chained journal entry — with the signed-in user as the
actor. Only a ``pm`` may decide. The page also walks the journal (``workflow.verify``) and
shows whether the chain holds.

Two people deciding the same proposal: the first commit wins; the second is refused by the
workflow's transition check (``APPROVED: REJECT is not allowed``) or, when both would be
allowed (two MODIFY), because the proposal changed since the second person's page was
shown — and is told who decided what, when and why, from the journal.
"""
from __future__ import annotations

import logging
from datetime import date
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from pms_luigi.core.errors import BadRequest, PmsError
from pms_luigi.core.proposals import lifecycle
from pms_luigi.ops import workflow
from pms_luigi.pipeline.context import RunContext
from pms_luigi.store import console_queries as cq
from pms_luigi.web.base import ConsoleHandler, brt, records

log = logging.getLogger("pms_luigi")

#: what the console decides (booking stays with the CLI: it needs a price and a strategy)
ACTIONS = {"approve": "APPROVE", "reject": "REJECT", "modify": "MODIFY"}
#: the pre-trade metrics shown before -> after, in this order, when present
METRICS = ("gross_leverage", "net_leverage", "var95_bps", "worst_stress_loss_bps",
           "dv01_net_bps_nav", "fx_delta_pct_nav", "equity_delta_pct_nav")


def checks(row: dict[str, Any]) -> dict[str, Any]:
    """A proposal's risk checks as shown: the verdict, the breached and warned limits, the
    metrics before and after the trade, and whether the fat-finger cap sized it."""
    impact = row.get("risk_impact") or {}
    pre = impact.get("pre_trade") or {}
    breaches = list(row.get("breaches") or [])
    warnings = list(pre.get("warnings") or [])
    before, after = pre.get("metrics_before") or {}, pre.get("metrics_after") or {}
    metrics = [(k, before.get(k), after.get(k)) for k in METRICS if k in before or k in after]
    verdict = "BREACH" if breaches else ("WARNING" if warnings else "OK")
    return {"verdict": verdict, "breaches": breaches, "warnings": warnings,
            "no_data": list(pre.get("no_data") or []), "status": pre.get("status"),
            "metrics": metrics, "capped": bool(impact.get("fat_finger_capped"))}


def _row(row: dict[str, Any], names: dict[str, str],
         entries: list[dict[str, Any]]) -> dict[str, Any]:
    strategies = [{**c, "name": names.get(str(c.get("strategy_id")), "")}
                  for c in row.get("strategies") or []]
    allowed = [a for a in lifecycle.allowed_actions(str(row["status"])) if a in ACTIONS.values()]
    return {**{k: v for k, v in row.items() if k not in ("risk_impact", "strategies")},
            "strategies": strategies, "checks": checks(row), "allowed": allowed,
            "journal": [e for e in entries if e["proposal_id"] == row["proposal_id"]]}


def proposals_model(ctx: RunContext, on: date | None) -> dict[str, Any]:
    """The proposals of ``on`` (default: the latest date with some), each with its checks,
    strategies by name, allowed decisions and journal entries; the journal's verification."""
    engine = ctx.stores.engine
    day, frame = workflow.list_proposals(engine, on)
    rows = records(frame)
    with engine.connect() as conn:
        names = cq.strategy_names(conn)
        dates = cq.proposal_dates(conn)
        entries = cq.journal_of(conn, [r["proposal_id"] for r in rows]) if rows else []
    chain = workflow.verify(engine)
    return {"date": day or on, "dates": dates, "proposals": [_row(r, names, entries) for r in rows],
            "journal": {"ok": chain.ok, "entries": chain.n_entries, "head": chain.head,
                        "broken": chain.broken, "details": chain.details}}


def proposal_model(ctx: RunContext, proposal_id: int) -> dict[str, Any]:
    """One proposal with its journal entries and booked trades."""
    row, entries, trades = workflow.show(ctx.stores.engine, proposal_id)
    with ctx.stores.engine.connect() as conn:
        names = cq.strategy_names(conn)
    journal = records(entries.drop(columns=["payload"], errors="ignore"))
    return {"proposal": _row(row, names, journal), "risk_impact": row.get("risk_impact"),
            "trades": records(trades)}


def decide(ctx: RunContext, proposal_id: int, action: str, reason: str, quantity: str,
           seen: str, actor: str) -> workflow.Decision:
    """One decision by ``actor``, refused when the proposal is no longer in the status the
    deciding page showed (``seen``) — someone else decided in between."""
    engine = ctx.stores.engine
    if seen:
        now = workflow.show(engine, proposal_id)[0]["status"]
        if now != seen:
            raise lifecycle.WorkflowError(f"proposal {proposal_id} is {now} now, it was {seen} "
                                          "when your page was shown", table="proposals",
                                          row=proposal_id, field="status")
    if action == "APPROVE":
        return workflow.approve(engine, proposal_id, actor, reason)
    if action == "REJECT":
        return workflow.reject(engine, proposal_id, reason, actor)
    try:
        qty = float(quantity.replace(",", "").strip())
    except ValueError:
        raise BadRequest(f"quantity {quantity[:30]!r}: not a number") from None
    return workflow.modify(engine, proposal_id, qty, reason, actor)


def last_decision(ctx: RunContext, proposal_id: int) -> str:
    """Who decided the proposal last, when and why (from the journal); '' when nobody."""
    _, entries, _ = workflow.show(ctx.stores.engine, proposal_id)
    if entries.empty:
        return ""
    e = entries.iloc[-1]
    why = f": {e['reason']}" if e["reason"] else ""
    return (f"last decision: {e['action']} by {e['actor']} at {brt(e['at'])} BRT "
            f"(journal entry {e['entry_id']}){why}")


class ProposalsPage(ConsoleHandler):
    async def get(self) -> None:
        self.page("proposals.html", **await self.store(proposals_model, self.date_arg("date")))


class ProposalsJson(ConsoleHandler):
    async def get(self) -> None:
        self.json(await self.store(proposals_model, self.date_arg("date")))


class ProposalPage(ConsoleHandler):
    async def get(self, proposal_id: str) -> None:
        self.page("proposal.html", **await self.store(proposal_model, int(proposal_id)))


class ProposalJson(ConsoleHandler):
    async def get(self, proposal_id: str) -> None:
        self.json(await self.store(proposal_model, int(proposal_id)))


class DecideAction(ConsoleHandler):
    """POST a decision (pm only); back to the date's proposals with what happened."""

    async def post(self, proposal_id: str) -> None:
        self.require("decide")
        pid = int(proposal_id)
        action = ACTIONS.get(self.get_argument("action", ""))
        if action is None:
            raise BadRequest("action must be approve, reject or modify")
        day = self.get_argument("date", "")
        back = "/proposals" + (f"?{urlencode({'date': day})}" if day else "") + f"#p{pid}"
        try:
            decision = await self.store(
                decide, pid, action, self.get_argument("reason", ""),
                self.get_argument("quantity", ""), self.get_argument("seen_status", ""),
                self.user.name)
        except PmsError as exc:
            why = await self.store(last_decision, pid)
            text = f"{exc}" + (f" — {why}" if why else "")
            log.warning("console: %s's %s of proposal %d refused: %s", self.user.name, action,
                        pid, text)
            self.flash("error", text)
        else:
            p, e = decision.proposal, decision.entry
            text = (f"proposal {pid} {p['instrument_id']}: {decision.before_status} -> "
                    f"{p['status']} by {e['actor']} (journal entry {e['entry_id']})")
            log.info("console: %s", text)
            self.flash("ok", text)
        self.redirect(back, status=HTTPStatus.SEE_OTHER)
