"""The status grid: task families × business dates, from the bulk status + run history.

States: done, missing, stale, failed (last run failed and no valid marker), cache-missing.
One bulk status call per family and one run-history query for the whole grid.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pms_luigi.core import calendar
from pms_luigi.pipeline import context
from pms_luigi.pipeline.graph import FAMILIES
from pms_luigi.pipeline.targets import State
from pms_luigi.store import markers as mk

SYMBOL = {"done": "#", "missing": ".", "stale": "s", "failed": "F", "cache-missing": "c"}
COLOUR = {"done": "#2e7d32", "missing": "#bdbdbd", "stale": "#f9a825", "failed": "#c62828",
          "cache-missing": "#1565c0"}


@dataclass(frozen=True)
class Grid:
    dates: list[date]
    families: list[str]
    cells: dict[tuple[str, date], str]

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


def grid(start: date, end: date, families: list[str] | None = None) -> Grid:
    """The grid over the business dates of [start, end]: one bulk status call per family
    and one run-history query in all (so a 5-year grid is a handful of queries)."""
    ctx = context.current()
    stores = ctx.stores
    families = list(families or FAMILIES)
    dates = calendar.business_days(start, end)
    with stores.engine.connect() as conn:
        runs = mk.last_runs(conn, families, start, end)
    cells: dict[tuple[str, date], str] = {}
    for fam in families:
        statuses = FAMILIES[fam].statuses(dates, ctx)
        for d in dates:
            cells[(fam, d)] = _label(statuses[d].state, runs.get((fam, d)))
    return Grid(dates, families, cells)


def preopen_states(on: date) -> dict[str, str]:
    """The four steps ``PreOpen(on)`` needs — MTM and attribution of the previous close,
    proposals and the pack of ``on`` — keyed ``family@date``, labelled like the grid."""
    ctx = context.current()
    stores = ctx.stores
    prev = calendar.previous_business_day(on)
    wanted = [("pms.MarkToMarket", prev), ("pms.PerformanceAttribution", prev),
              ("pms.TradeProposals", on), ("pms.MorningPack", on)]
    with stores.engine.connect() as conn:
        runs = mk.last_runs(conn, [f for f, _ in wanted], prev, on)
    out: dict[str, str] = {}
    for fam, d in wanted:
        state = FAMILIES[fam].statuses([d], ctx)[d].state
        out[f"{fam}@{d}"] = _label(state, runs.get((fam, d)))
    return out


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
    return "\n".join(lines)


def render_html(g: Grid) -> str:
    """The status page of ``g`` (``ops.status_page``): a month per table with day and weekday
    heads, a symbol in every cell, totals, the spans needing attention, the open
    data-quality issues and each cell's marker, latest run and latest failure."""
    from pms_luigi.ops import status_page  # noqa: PLC0415 - Jinja2 loads only for the page

    return status_page.render(g)
