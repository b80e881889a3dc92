"""The status grid: task families × business dates, from the transitive status + run history.

States: done, missing, stale, failed (last run failed and no valid marker), cache-missing.
A cell is what the step's task would answer (:func:`pms_luigi.pipeline.status.deep_statuses`):
stale when its own marker is stale *or* a step upstream of it, transitively, is stale or
missing — with the reason naming that step and date. One bulk status query per family (the
MTM chain's dates before the grid's first in one more) and one run-history query for the
whole grid.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from pms_luigi.core import calendar
from pms_luigi.pipeline import context
from pms_luigi.pipeline import status as st
from pms_luigi.pipeline.graph import FAMILIES
from pms_luigi.pipeline.targets import State, StepStatus
from pms_luigi.store import markers as mk

SYMBOL = {"done": "#", "missing": ".", "stale": "s", "failed": "F", "cache-missing": "c"}
COLOUR = {"done": "#2e7d32", "missing": "#bdbdbd", "stale": "#f9a825", "failed": "#c62828",
          "cache-missing": "#1565c0"}


@dataclass(frozen=True)
class Grid:
    """``cells[(family, date)]``: the state's name (a key of :data:`SYMBOL`); ``reasons``:
    why a cell is not done (the step's own reason, or the upstream step and date that makes
    it stale), empty for a done cell."""

    dates: list[date]
    families: list[str]
    cells: dict[tuple[str, date], str]
    reasons: dict[tuple[str, date], str] = field(default_factory=dict)

    def counts(self, family: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.dates:
            state = self.cells[(family, d)]
            out[state] = out.get(state, 0) + 1
        return out


def _label(state: State, last_run: str | None) -> str:
    """A step whose last run failed and that has no valid marker shows as failed."""
    if state in (State.MISSING, State.STALE) and last_run == "FAILED":
        return "failed"
    return state.value


def _why(status: StepStatus, label: str) -> str:
    if label == "done":
        return ""
    if label == "failed":
        return f"last run failed; {status.state.value}: {status.reason}"
    return status.reason


def _cells(wanted: list[tuple[str, date]]) -> tuple[dict[tuple[str, date], str],
                                                    dict[tuple[str, date], str]]:
    """Label and reason of each (family, date): one fresh transitive status call and one
    run-history query."""
    ctx = context.current()
    found = st.deep_statuses([(FAMILIES[f], d) for f, d in wanted], ctx, fresh=True)
    dates = [d for _, d in wanted]
    with ctx.stores.engine.connect() as conn:
        runs = mk.last_runs(conn, sorted({f for f, _ in wanted}), min(dates), max(dates)) \
            if wanted else {}
    cells, reasons = {}, {}
    for key in wanted:
        cells[key] = _label(found[key].state, runs.get(key))
        if cells[key] != "done":
            reasons[key] = _why(found[key], cells[key])
    return cells, reasons


def grid(start: date, end: date, families: list[str] | None = None) -> Grid:
    """The grid over the business dates of [start, end] (so a 5-year grid is a handful of
    queries: see :func:`_cells`)."""
    families = list(families or FAMILIES)
    dates = calendar.business_days(start, end)
    cells, reasons = _cells([(f, d) for f in families for d in dates])
    return Grid(dates, families, cells, reasons)


def preopen_states(on: date) -> dict[str, tuple[str, str]]:
    """The four steps ``PreOpen(on)`` needs — MTM and attribution of the previous close,
    proposals and the pack of ``on`` — keyed ``family@date``: (label as in the grid, why it
    is not done). All four "done" exactly when ``PreOpen(on).complete()``."""
    prev = calendar.previous_business_day(on)
    wanted = [("pms.MarkToMarket", prev), ("pms.PerformanceAttribution", prev),
              ("pms.TradeProposals", on), ("pms.MorningPack", on)]
    cells, reasons = _cells(wanted)
    return {mk.upstream_key(*key): (cells[key], reasons.get(key, "")) for key in wanted}


def render_text(g: Grid, per_line: int = 66) -> str:
    """Families × dates, in blocks of ``per_line`` dates (about a quarter) so a 5-year grid
    still fits a terminal; each block is headed by its first and last date; totals last."""
    width = max(len(f) for f in g.families) + 2
    lines = ["legend: " + " ".join(f"{v}={k}" for k, v in SYMBOL.items())]
    for i in range(0, len(g.dates), per_line):
        block = g.dates[i:i + per_line]
        lines.append(f"{'':{width}}{block[0]} .. {block[-1]}")
        for fam in g.families:
            lines.append(f"{fam:{width}}" + "".join(SYMBOL[g.cells[(fam, d)]] for d in block))
    lines.append("totals:")
    for fam in g.families:
        totals = " ".join(f"{k}={v}" for k, v in sorted(g.counts(fam).items()))
        lines.append(f"{fam:{width}}{totals or 'no business dates'}")
    firsts = [(fam, next((d for d in g.dates if (fam, d) in g.reasons), None))
              for fam in g.families]
    if any(d for _, d in firsts):
        lines.append("first not done:")
        lines.extend(f"{fam:{width}}{d} {g.cells[(fam, d)]}: {g.reasons[(fam, d)]}"
                     for fam, d in firsts if d is not None)
    return "\n".join(lines)


def render_html(g: Grid) -> str:
    """The status page of ``g`` (``ops.status_page``): a month per table with day and weekday
    heads, a symbol in every cell, totals, the spans needing attention, the open
    data-quality issues and each cell's marker, latest run and latest failure."""
    from pms_luigi.ops import status_page  # noqa: PLC0415 - Jinja2 loads only for the page

    return status_page.render(g)
