"""The status page an operator keeps open: families × business dates, a month per table,
with totals, what needs attention, the open data-quality issues and every cell's drill-down.

Two pure steps, apart from the queries (``store.status_details``) and their composition
(``ops.status_page``), so the desk console can reuse each:

1. :func:`build_page` turns a grid (dates, families, ``cells[(family, date)] -> state``) and
   the range's details (markers, runs, data-quality rows) into a :class:`StatusPage` of
   plain dataclasses, lists and strings — nothing to compute left for the template;
2. :func:`render_page` renders it with Jinja2 (autoescaped, ``StrictUndefined``) from
   ``templates/status_page.html``, whose pieces are macros in ``status_parts.html`` (legend,
   totals, grid, attention list, data-quality table, cell panel, style, script).

Size (why the drill-down is split): a 5-year page has about 7,500 cells, and a marker's
metadata can be 9 kB (the attribution step's chain state). Every cell carries one line —
short run id, finished at, duration — in a compact JSON the page embeds; the full drill-down
(marker, metadata summarised, latest run, latest failure) is embedded only for the cells of
the last ``detail_dates`` business dates and for every cell not done that has a marker or a
run. A few lines of inline script (no external file) show it in a panel when a cell is
clicked or named in the address (``#cell=pms.MarkToMarket@2026-11-26``); without script
the attention list still shows each failure's class and error.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Final, Protocol

import jinja2

from pms_luigi.report import status_cells
from pms_luigi.report.html import TEMPLATE_DIR

Key = tuple[str, date]

#: The last business dates of the range whose every cell gets the full drill-down (about a
#: month: the nights an operator looks back on).
DETAIL_DATES: Final = 22
#: Most spans of not-done cells listed (newest first); the rest are counted.
SPAN_LIMIT: Final = 100
WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                   "Sunday")


@dataclass(frozen=True)
class StateStyle:
    """How a state shows: the grid's symbol (the text grid's legend), colours, meaning."""

    name: str
    symbol: str
    background: str
    foreground: str
    meaning: str


STATES: Final = MappingProxyType({s.name: s for s in (
    StateStyle("done", "#", "#2e7d32", "#ffffff", "built; marker and cache valid"),
    StateStyle("missing", ".", "#d6d6d6", "#212121", "not built (or invalidated)"),
    StateStyle("stale", "s", "#f9a825", "#212121",
               "built from inputs or code that changed since: the next run rebuilds it"),
    StateStyle("failed", "F", "#c62828", "#ffffff", "its last run failed; no valid marker"),
    StateStyle("cache-missing", "c", "#1565c0", "#ffffff",
               "database fine, Redis lost: the next run re-publishes"),
)})
UNKNOWN: Final = StateStyle("unknown", "?", "#6a1b9a", "#ffffff", "a state this page does not know")


class GridLike(Protocol):
    """What the page needs of ``ops.status.Grid``."""

    @property
    def dates(self) -> Sequence[date]: ...
    @property
    def families(self) -> Sequence[str]: ...
    @property
    def cells(self) -> Mapping[Key, str]: ...


class DetailsLike(Protocol):
    """What the page needs of ``store.status_details.RangeDetails``."""

    @property
    def markers(self) -> Mapping[Key, Mapping[str, Any]]: ...
    @property
    def last_runs(self) -> Mapping[Key, Mapping[str, Any]]: ...
    @property
    def last_failures(self) -> Mapping[Key, Mapping[str, Any]]: ...
    @property
    def dq_issues(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def dq_counts(self) -> Mapping[date, Mapping[str, int]]: ...


@dataclass(frozen=True)
class Day:
    """A column head: the date, its day of month and weekday, its data-quality count."""

    iso: str
    day: int
    weekday: str
    dq: int
    dq_errors: int


@dataclass(frozen=True)
class Row:
    """A family's row of one month: ``cells`` are (state style, state) per date."""

    index: int
    short: str
    family: str
    cells: list[tuple[StateStyle, str]]


@dataclass(frozen=True)
class Month:
    label: str
    first: int  # index of its first date in the page's dates
    days: list[Day]
    rows: list[Row]


@dataclass(frozen=True)
class Year:
    year: int
    months: list[Month]


@dataclass(frozen=True)
class FamilyTotals:
    family: str
    short: str
    counts: dict[str, int]  # state -> dates, every state of the legend (and unknown ones)
    total: int


@dataclass(frozen=True)
class Span:
    """Consecutive business dates of one family in the same not-done state."""

    family: str
    state: StateStyle
    first: str
    last: str
    dates: int
    reason: str  # why its last date is not done, when the grid says ("" if not)
    failure: str  # the latest failure's class and error in the span ("" if none)


@dataclass(frozen=True)
class StatusPage:
    title: str
    start: str
    end: str
    generated_at: str  # BRT
    store: str  # masked: never a secret
    states: list[StateStyle]  # the legend (known states, then any unknown met)
    families: list[FamilyTotals]
    years: list[Year]
    spans: list[Span]
    spans_hidden: int
    dq_issues: list[dict[str, str]]
    dq_total: int
    detail_from: str  # first date whose every cell has the full drill-down
    data: dict[str, Any]  # the embedded JSON the script reads


def short_name(family: str, taken: Sequence[str] = ()) -> str:
    """A row label: the capitals of the family's name (``pms.MarkToMarket`` -> ``MTM``),
    or the name without ``pms.`` when the capitals are already taken."""
    name = family.removeprefix("pms.")
    caps = "".join(c for c in name if c.isupper()) or name
    return name if caps in taken else caps


def full_detail(grid: GridLike, detail_dates: int = DETAIL_DATES) -> tuple[date | None,
                                                                         set[Key]]:
    """Which cells get the full drill-down: every cell of the last ``detail_dates`` dates
    (from the date returned on) and the older cells not done (returned). The caller reads
    the markers' metadata of exactly these."""
    dates = list(grid.dates)
    if not dates:
        return None, set()
    detail_from = dates[max(0, len(dates) - detail_dates)]
    return detail_from, {(f, d) for f in grid.families for d in dates
                         if d < detail_from and grid.cells[(f, d)] != "done"}


def style_of(state: str) -> StateStyle:
    return STATES.get(state, UNKNOWN)


def build_page(grid: GridLike, details: DetailsLike, *, generated_at: datetime, store: str,
               reasons: Mapping[Key, str] | None = None, detail_dates: int = DETAIL_DATES,
               span_limit: int = SPAN_LIMIT) -> StatusPage:
    """The page's view model; ``store`` must already be masked; ``reasons``: why a cell is
    not done (the grid's own words), shown in its drill-down and the attention list."""
    dates, families = list(grid.dates), list(grid.families)
    reasons = reasons or {}
    shorts: list[str] = []
    for fam in families:
        shorts.append(short_name(fam, shorts))
    totals = [_totals(fam, short, [grid.cells[(fam, d)] for d in dates])
              for fam, short in zip(families, shorts, strict=True)]
    unknown = {s for t in totals for s in t.counts} - set(STATES)
    legend = [*STATES.values(), *([UNKNOWN] if unknown else [])]
    spans = [s for fam in families for s in _spans(fam, dates, grid.cells, details, reasons)]
    spans.sort(key=lambda s: s.last, reverse=True)
    detail_from, older = full_detail(grid, detail_dates)
    return StatusPage(
        title=f"pms-luigi status {_iso(dates[0])} .. {_iso(dates[-1])}" if dates else
        "pms-luigi status (no business dates)",
        start=_iso(dates[0]) if dates else "", end=_iso(dates[-1]) if dates else "",
        generated_at=f"{status_cells.brt(generated_at)} BRT", store=store,
        states=legend, families=totals,
        years=_years(dates, families, shorts, grid.cells, details.dq_counts),
        spans=spans[:span_limit], spans_hidden=max(0, len(spans) - span_limit),
        dq_issues=[_dq_row(i) for i in details.dq_issues],
        dq_total=sum(sum(c.values()) for c in details.dq_counts.values()),
        detail_from=_iso(detail_from) if detail_from else "",
        data=_data(dates, families, details, reasons, (detail_from, older)))


def _iso(d: date) -> str:
    return d.isoformat()


def _totals(family: str, short: str, states: list[str]) -> FamilyTotals:
    counts = dict.fromkeys(STATES, 0)
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    return FamilyTotals(family, short, counts, len(states))


def _years(dates: list[date], families: list[str], shorts: list[str],
           cells: Mapping[Key, str], dq_counts: Mapping[date, Mapping[str, int]]) -> list[Year]:
    """Dates grouped by year and month, each month a table: day and weekday heads, a row
    of (style, state) per family."""
    years: list[Year] = []
    first = 0
    for year, in_year in itertools.groupby(dates, key=lambda d: d.year):
        months = []
        for _, group in itertools.groupby(in_year, key=lambda d: d.month):
            days = list(group)
            heads = [Day(_iso(d), d.day, WEEKDAYS[d.weekday()],
                         sum(dq_counts.get(d, {}).values()),
                         dq_counts.get(d, {}).get("ERROR", 0)) for d in days]
            rows = [Row(i, shorts[i], fam, [(style_of(cells[(fam, d)]), cells[(fam, d)])
                                            for d in days])
                    for i, fam in enumerate(families)]
            months.append(Month(days[0].strftime("%B %Y"), first, heads, rows))
            first += len(days)
        years.append(Year(year, months))
    return years


def _spans(family: str, dates: list[date], cells: Mapping[Key, str], details: DetailsLike,
           reasons: Mapping[Key, str]) -> list[Span]:
    out = []
    i = 0
    for state, group in itertools.groupby(cells[(family, d)] for d in dates):
        n = len(list(group))
        if state != "done":
            span_dates = dates[i:i + n]
            failures = [details.last_failures[(family, d)] for d in span_dates
                        if (family, d) in details.last_failures]
            out.append(Span(family, style_of(state), _iso(span_dates[0]), _iso(span_dates[-1]),
                            n, reasons.get((family, span_dates[-1]), ""),
                            _failure_line(failures[-1]) if failures else ""))
        i += n
    return out


def _failure_line(failure: Mapping[str, Any]) -> str:
    error = (failure["error"] or "").strip().splitlines()
    return f"{failure['failure'] or 'unrecorded'}: {error[0] if error else 'no error text'}"


def _dq_row(issue: Mapping[str, Any]) -> dict[str, str]:
    return {"date": _iso(issue["business_date"]), "step": issue["step"],
            "instrument": issue["instrument_id"], "field": issue["field"],
            "severity": issue["severity"], "message": issue["message"],
            "run": status_cells.short_run(issue["run_id"])}


def _data(dates: list[date], families: list[str], details: DetailsLike,
          reasons: Mapping[Key, str], shown: tuple[date | None, set[Key]]) -> dict[str, Any]:
    """The embedded JSON: every cell's one-line marker (``basic[family][date]``), and the
    full drill-down (``full["f,d"]``, indices) of the cells :func:`full_detail` names
    (``shown``) that have a marker or a run."""
    detail_from, older = shown
    full = {}
    for fi, fam in enumerate(families):
        for di, d in enumerate(dates):
            key = (fam, d)
            if not ((detail_from is not None and d >= detail_from) or key in older):
                continue
            marker, run = details.markers.get(key), details.last_runs.get(key)
            if marker is None and run is None:
                continue
            why = [["why not done", [["reason", reasons[key]]]]] if key in reasons else []
            full[f"{fi},{di}"] = why + status_cells.sections(marker, run,
                                                             details.last_failures.get(key))
    return {"families": families, "dates": [_iso(d) for d in dates],
            "basic": [[status_cells.basic(details.markers.get((fam, d))) for d in dates]
                      for fam in families],
            "full": full}


def environment() -> jinja2.Environment:
    """The page's Jinja2 environment: autoescaped, strict; ``status_parts.html``'s macros
    are there for another page (the desk console) to import."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def render_page(page: StatusPage) -> str:
    """The self-contained HTML page (inline CSS and script, no external file)."""
    return environment().get_template("status_page.html").render(page=page)
