"""The status grid over any date range, and one cell of it: the marker, its runs, its error.

The grid is :func:`pms_luigi.ops.status.grid` — the same states ``pms-luigi status`` prints,
from the same bulk status queries — shown as the status page shows it
(:mod:`pms_luigi.ops.status_page`: its view model and its template's macros, a month per
table with day and weekday heads, a letter in every cell, the totals, the spans needing
attention and the open data-quality issues), without that page's inline style and script
(the console allows neither: ``static/`` has both). The page polls ``/api/grid`` every
``[pms_console] poll_seconds`` while "live" is on, so a backfill or a rerun fills it in as
it goes; a click on a cell opens its page.

A cell shows the marker (run_id, version, start, end, duration, rows, digest, metadata,
the upstream run_ids it recorded and whether each is still current), the run history of
that step and date, and the error of its last failed run. An ops user also sees what a
rerun with ``--downstream`` would rebuild, and can start it.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pms_luigi.core import calendar
from pms_luigi.core.errors import BadRequest
from pms_luigi.ops import invalidate, status, status_page
from pms_luigi.pipeline.context import RunContext
from pms_luigi.pipeline.graph import family_name
from pms_luigi.store import console_queries as cq
from pms_luigi.store import markers as mk
from pms_luigi.web.base import ConsoleHandler, to_date

#: the longest range one request may ask for
MAX_RANGE = timedelta(days=366 * 10)
DEFAULT_SPAN = timedelta(days=91)


def checked_range(start: date | None, end: date | None) -> tuple[date, date]:
    """[start, end] with defaults (the last three months to today, BRT) and limits."""
    end = end or calendar.today_brt()
    start = start or end - DEFAULT_SPAN
    if start > end:
        raise BadRequest(f"start {start} is after end {end}")
    if end - start > MAX_RANGE:
        raise BadRequest(f"{start}..{end}: at most ten years at a time")
    return start, end


def grid_model(_ctx: RunContext, start: date, end: date) -> dict[str, Any]:
    """The grid as plain values: dates, families, each family's states by date, totals."""
    g = status.grid(start, end)
    return {"start": start, "end": end, "dates": g.dates, "families": g.families,
            "states": {fam: [g.cells[(fam, d)] for d in g.dates] for fam in g.families},
            "counts": {fam: g.counts(fam) for fam in g.families}}


def grid_page(_ctx: RunContext, start: date, end: date) -> dict[str, Any]:
    """The page's view model: the status page's (``ops.status_page``: the grid, its cells'
    markers and runs, the spans needing attention, the open data-quality issues)."""
    g = status.grid(start, end)
    return {"start": start, "end": end, "page": status_page.page(g)}


def cell_model(ctx: RunContext, family: str, on: date, with_rerun: bool) -> dict[str, Any]:
    """One cell: state, marker, upstream run_ids (current or not), run history, last error;
    with ``with_rerun``, what a rerun with ``--downstream`` would rebuild (a dry run)."""
    try:
        fam = family_name(family)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if not calendar.is_business_day(on):
        raise BadRequest(f"{on} is not a business day ({calendar.holiday_name(on)})")
    g = status.grid(on, on, [fam])
    state, reason = g.cells[(fam, on)], g.reasons.get((fam, on), "")
    with ctx.stores.engine.connect() as conn:
        marker = cq.marker_row(conn, fam, on)
        runs = cq.run_history(conn, fam, on)
        upstream = dict(marker["upstream"]) if marker else {}
        now = mk.current_run_ids(conn, upstream)
    ups = []
    for key, run_id in sorted(upstream.items()):
        up_fam, up_date = mk.parse_upstream_key(key)
        ups.append({"family": up_fam, "date": up_date, "run_id": run_id,
                    "current_run_id": now.get(key), "current": now.get(key) == run_id})
    failed = next((r for r in runs if r["status"] == "FAILED"), None)
    last_failed = failed if runs and runs[0]["status"] == "FAILED" else None
    model = {"family": fam, "date": on, "state": state, "reason": reason, "marker": marker,
             "upstream": ups,
             "runs": runs, "error": last_failed, "rerun": None}
    if with_rerun:
        hit = invalidate.invalidate(fam, on, downstream=True, dry_run=True)
        model["rerun"] = sorted(hit, key=lambda fd: (fd[1], fd[0]))
    return model


class GridPage(ConsoleHandler):
    async def get(self) -> None:
        start, end = checked_range(self.date_arg("start"), self.date_arg("end"))
        self.page("grid.html", **await self.store(grid_page, start, end))


class GridJson(ConsoleHandler):
    async def get(self) -> None:
        start, end = checked_range(self.date_arg("start"), self.date_arg("end"))
        self.json(await self.store(grid_model, start, end))


class CellPage(ConsoleHandler):
    async def get(self, family: str, iso: str) -> None:
        on = to_date("date", iso)
        model = await self.store(cell_model, family, on, self.user.may("rerun"))
        self.page("cell.html", cell=model)


class CellJson(ConsoleHandler):
    async def get(self, family: str, iso: str) -> None:
        self.json(await self.store(cell_model, family, to_date("date", iso), False))
