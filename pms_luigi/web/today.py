"""The Today view: last night's end-of-day, this morning's pre-open, what is late, the open
data-quality issues, the pack.

Which runs: at a moment ``now`` (Brazil time), *last night's EOD* is the EOD of the latest
business day whose cron start (``[pms_console] eod_start``, 18:00) has passed; *this
morning's pre-open* is the pre-open of today when today is a business day, else of the next
one. A run is **late** when a step of it is not done after its deadline (``eod_due``, the
cron's ``--wait-until 20:30``; ``preopen_due``, the watchdog's ``check --by 06:45``), and
*not started yet* before its cron start. The states are the status grid's
(:mod:`pms_luigi.ops.status`); a step with an open run-history row is also *running*.
The data-quality issues listed are those of the last week (five business days) up to the
pre-open's date. ``?at=2026-12-07T06:50`` shows the view as of another moment.
"""
from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from pms_luigi.core import calendar
from pms_luigi.core.errors import BadRequest
from pms_luigi.ops import status, workflow
from pms_luigi.pipeline.context import RunContext
from pms_luigi.pipeline.graph import EOD_FAMILIES, PREOPEN_FAMILIES
from pms_luigi.store import console_queries as cq
from pms_luigi.web.base import ConsoleHandler
from pms_luigi.web.settings import Schedule

#: the open data-quality issues shown: those of the last week of business days
ISSUE_DAYS = 5


def moments(now: datetime, schedule: Schedule) -> tuple[date, date]:
    """(date of last night's EOD, date of this morning's pre-open) at ``now`` (BRT)."""
    today = now.date()
    started = now.time() >= schedule.eod_start
    eod = today if calendar.is_business_day(today) and started else \
        calendar.previous_business_day(today)
    preopen = today if calendar.is_business_day(today) else calendar.next_business_day(today)
    return eod, preopen


def _run(kind: str, on: date, cells: dict[str, tuple[str, str]],
         running: dict[tuple[str, date], str], now: datetime, start: time,
         due: time) -> dict[str, Any]:
    """One cron run's steps with their states and its verdict (done, failed, late, running,
    waiting, not started)."""
    starts = datetime.combine(on, start, tzinfo=calendar.TIMEZONE)
    deadline = datetime.combine(on, due, tzinfo=calendar.TIMEZONE)
    steps = []
    for key, (state, reason) in cells.items():
        fam, _, iso = key.partition("@")
        d = date.fromisoformat(iso)
        steps.append({"family": fam, "date": d, "state": state, "reason": reason,
                      "running": (fam, d) in running,
                      "late": state != "done" and now >= deadline})
    states = {s["state"] for s in steps}
    if states == {"done"}:
        verdict = "done"
    elif "failed" in states:
        verdict = "failed"
    elif now >= deadline:
        verdict = "late"
    elif any(s["running"] for s in steps):
        verdict = "running"
    elif now < starts:
        verdict = "not started"
    else:
        verdict = "waiting"
    return {"kind": kind, "date": on, "starts": starts, "due": deadline, "verdict": verdict,
            "steps": steps}


def today_model(ctx: RunContext, now: datetime, schedule: Schedule) -> dict[str, Any]:
    """Everything the Today view shows, as plain values (the page and ``/api/today``)."""
    eod, preopen = moments(now, schedule)
    prev = calendar.previous_business_day(preopen)
    first = min(eod, prev)
    week = calendar.add_business_days(preopen, -ISSUE_DAYS)
    # the pre-open of D needs MTM and attribution of the previous close, proposals and the
    # pack of D (what ``pms-luigi check`` looks at): one grid call over the dates involved
    g = status.grid(first, preopen, list(PREOPEN_FAMILIES))
    def cells(keys: list[tuple[str, date]]) -> dict[str, tuple[str, str]]:
        return {f"{f}@{d}": (g.cells[(f, d)], g.reasons.get((f, d), "")) for f, d in keys}

    eod_cells = cells([(f, eod) for f in EOD_FAMILIES])
    pre_cells = cells([(f, prev) for f in EOD_FAMILIES] +
                      [(f, preopen) for f in PREOPEN_FAMILIES if f not in EOD_FAMILIES])
    engine = ctx.stores.engine
    with engine.connect() as conn:
        running = cq.open_runs(conn, [*{k.partition("@")[0] for k in (*eod_cells, *pre_cells)}],
                               first, preopen)
        issues = cq.dq_issues_between(conn, week, preopen)
        packs = cq.pack_index(conn, preopen, preopen)
    on, props = workflow.list_proposals(engine, preopen)
    return {
        "now": now, "eod": _run("eod", eod, eod_cells, running, now, schedule.eod_start,
                                schedule.eod_due),
        "preopen": _run("preopen", preopen, pre_cells, running, now, schedule.preopen_start,
                        schedule.preopen_due),
        "issues": issues, "issues_from": week, "issues_to": preopen,
        "pack": {"date": preopen, "stored": bool(packs),
                 "digest": packs[0]["digest"] if packs else None},
        "proposals": {"date": on, "total": len(props),
                      "pending": int((props["status"] == "PENDING").sum()) if len(props) else 0},
    }


class _Today(ConsoleHandler):
    def now(self) -> datetime:
        """The clock in BRT, or ``?at=`` (an ISO moment, BRT when it names no zone)."""
        text = self.get_argument("at", "").strip()
        if not text:
            return datetime.now(calendar.TIMEZONE)
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            raise BadRequest(f"at: not a date and time (YYYY-MM-DDTHH:MM): {text[:40]!r}"
                             ) from None
        return at.replace(tzinfo=calendar.TIMEZONE) if at.tzinfo is None else \
            at.astimezone(calendar.TIMEZONE)

    async def model(self) -> dict[str, Any]:
        return await self.store(today_model, self.now(), self.console.settings.schedule)


class TodayPage(_Today):
    async def get(self) -> None:
        self.page("today.html", **await self.model())


class TodayJson(_Today):
    async def get(self) -> None:
        self.json(await self.model())
