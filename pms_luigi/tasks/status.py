"""The status grid: task families × business dates, from the bulk status + run history.

States: done, missing, stale, failed (last run failed and no valid marker), cache-missing.
One bulk status call per family and one run-history query for the whole grid.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date

from pms_luigi import calendar
from pms_luigi.store import markers as mk
from pms_luigi.targets import State
from pms_luigi.tasks.base import get_stores
from pms_luigi.tasks.runner import FAMILIES

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


def grid(start: date, end: date) -> Grid:
    stores = get_stores()
    dates = calendar.business_days(start, end)
    with stores.engine.connect() as conn:
        runs = mk.last_runs(conn, FAMILIES, start, end)
    cells: dict[tuple[str, date], str] = {}
    for fam, cls in FAMILIES.items():
        statuses = cls.statuses(dates, stores)
        for d in dates:
            state = statuses[d].state
            label = state.value
            if state in (State.MISSING, State.STALE) and runs.get((fam, d)) == "FAILED":
                label = "failed"
            cells[(fam, d)] = label
    return Grid(dates, list(FAMILIES), cells)


def render_text(g: Grid) -> str:
    """One row per family, one column per date (monthly blocks), plus totals."""
    width = max(len(f) for f in g.families) + 2
    lines = [f"{'':{width}}{g.dates[0] if g.dates else ''} .. {g.dates[-1] if g.dates else ''}"
             f"   legend: " + " ".join(f"{v}={k}" for k, v in SYMBOL.items())]
    for fam in g.families:
        row = "".join(SYMBOL[g.cells[(fam, d)]] for d in g.dates)
        totals = " ".join(f"{k}={v}" for k, v in sorted(g.counts(fam).items()))
        lines.append(f"{fam:{width}}{row}  {totals}")
    return "\n".join(lines)


def render_html(g: Grid) -> str:
    head = "".join(f"<th title='{d}'>{d.day}</th>" for d in g.dates)
    rows = []
    for fam in g.families:
        cells = "".join(
            f"<td title='{html.escape(fam)} {d}: {g.cells[(fam, d)]}' "
            f"style='background:{COLOUR[g.cells[(fam, d)]]}'></td>" for d in g.dates)
        rows.append(f"<tr><th>{html.escape(fam)}</th>{cells}</tr>")
    legend = " ".join(f"<span style='background:{c};padding:0 6px'>&nbsp;</span> {k}"
                      for k, c in COLOUR.items())
    return ("<!doctype html><html><head><meta charset='utf-8'><title>pms-luigi status</title>"
            "<style>body{font-family:'DejaVu Sans',sans-serif}td{width:8px;height:16px}"
            "table{border-collapse:collapse}th{font-size:10px}</style></head><body>"
            f"<h1>pms-luigi status {g.dates[0] if g.dates else ''} .. "
            f"{g.dates[-1] if g.dates else ''}</h1><p>{legend}</p>"
            f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table></body></html>")
