"""The status page's view model and template, from plain data (no store): months with day
and weekday heads, totals, spans needing attention, the drill-down's two tiers, escaping,
and the size of a 5-year page."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pms_luigi.core import calendar
from pms_luigi.report import status_cells
from pms_luigi.report import status_page as sp

MTM, ATTR = "pms.MarkToMarket", "pms.PerformanceAttribution"
NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)  # 06:30 BRT
T0 = datetime(2026, 11, 26, 22, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Grid:
    dates: list[date]
    families: list[str]
    cells: dict[tuple[str, date], str]


@dataclass(frozen=True)
class Details:
    markers: dict = field(default_factory=dict)
    last_runs: dict = field(default_factory=dict)
    last_failures: dict = field(default_factory=dict)
    dq_issues: list = field(default_factory=list)
    dq_counts: dict = field(default_factory=dict)


def _marker(run_id: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return dict(version=2, run_id=run_id, started_at=T0, finished_at=T0 + timedelta(seconds=2),
                duration_s=2.0, rows_written=1234, payload_digest="ab" * 32,
                upstream={f"{MTM}@2026-11-25": "0123456789abcdef"},
                metadata_json=json.dumps(metadata or {"nav_brl": 1.5}))


def _run(run_id: str, status: str = "DONE", runs: int = 1, error: str | None = None,
         failure: str | None = None) -> dict[str, Any]:
    return dict(run_id=run_id, status=status, started_at=T0.replace(tzinfo=None),
                finished_at=None, attempts=2, host="batch01", runs=runs, error=error,
                failure=failure)


def _page(grid: Grid, details: Details, **kw: Any) -> sp.StatusPage:
    return sp.build_page(grid, details, generated_at=NOW, store="sqlite:///pms.db", **kw)


def test_months_have_day_and_weekday_heads_and_a_symbol_per_cell() -> None:
    dates = calendar.business_days(date(2025, 12, 29), date(2026, 2, 3))
    grid = Grid(dates, [MTM, ATTR], {(f, d): "done" for f in (MTM, ATTR) for d in dates})
    grid.cells[(ATTR, date(2026, 1, 2))] = "stale"
    page = _page(grid, Details())
    assert [y.year for y in page.years] == [2025, 2026]
    months = [m for y in page.years for m in y.months]
    assert [m.label for m in months] == ["December 2025", "January 2026", "February 2026"]
    assert [m.first for m in months] == [0, 3, 3 + 21]  # 1 Jan is a holiday: 21 dates
    jan = months[1]
    assert [(d.day, d.weekday) for d in jan.days[:2]] == [(2, "Friday"), (5, "Monday")]
    assert [r.short for r in jan.rows] == ["MTM", "PA"]
    assert [(st.symbol, raw) for st, raw in jan.rows[1].cells[:2]] == [("s", "stale"),
                                                                      ("#", "done")]
    assert page.generated_at == "2026-11-27 06:30:00 BRT"
    assert page.title == "pms-luigi status 2025-12-29 .. 2026-02-03"


def test_totals_spans_and_an_unknown_state() -> None:
    dates = calendar.business_days(date(2026, 11, 3), date(2026, 11, 16))
    states = ["done", "failed", "failed", "done", "missing", "missing", "done", "weird",
              "done", "stale"]
    grid = Grid(dates, [MTM], {(MTM, d): s for d, s in zip(dates, states, strict=True)})
    failures = {(MTM, dates[1]): _run("f1", "FAILED", error="old", failure="FAILED"),
                (MTM, dates[2]): _run("f2", "FAILED", error="MissingPrice: DI1F27\n  trace",
                                      failure="MISSING_DATA")}
    why = f"upstream {MTM}@2026-11-13 was rebuilt"
    page = _page(grid, Details(last_failures=failures), reasons={(MTM, dates[9]): why})
    assert page.spans[0].reason == why and page.spans[1].reason == ""
    assert page.families[0].counts == {"done": 4, "missing": 2, "stale": 1, "failed": 2,
                                       "cache-missing": 0, "weird": 1}
    assert [s.name for s in page.states][-1] == "unknown"
    assert [(s.state.name, s.first, s.last, s.dates) for s in page.spans] == [
        ("stale", "2026-11-16", "2026-11-16", 1), ("unknown", "2026-11-12", "2026-11-12", 1),
        ("missing", "2026-11-09", "2026-11-10", 2), ("failed", "2026-11-04", "2026-11-05", 2)]
    assert page.spans[-1].failure == "MISSING_DATA: MissingPrice: DI1F27"
    assert _page(grid, Details(), span_limit=1).spans_hidden == 3


def test_drill_down_full_for_recent_and_not_done_cells_one_line_for_the_rest() -> None:
    dates = calendar.business_days(date(2026, 10, 1), date(2026, 11, 26))
    grid = Grid(dates, [MTM], {(MTM, d): "done" for d in dates})
    grid.cells[(MTM, dates[0])] = "stale"
    markers = {(MTM, d): _marker(f"{i:032x}") for i, d in enumerate(dates)}
    markers[(MTM, dates[-1])] = _marker("f" * 32, {"chain": {"a": "x" * 9000, "b": 1},
                                                   "nav_brl": 262604280.37})
    runs = {(MTM, dates[-1]): _run("f" * 32, runs=3),
            (MTM, dates[0]): _run("e" * 32, "FAILED", error="boom", failure="FAILED")}
    page = _page(grid, Details(markers=markers, last_runs=runs,
                               last_failures={(MTM, dates[0]): runs[(MTM, dates[0])]}),
                 reasons={(MTM, dates[0]): "code version 1, now 2"}, detail_dates=5)
    full = page.data["full"]
    n = len(dates)
    assert set(full) == {"0,0", *(f"0,{i}" for i in range(n - 5, n))}
    assert page.detail_from == dates[-5].isoformat()
    assert sp.full_detail(grid, 5) == (dates[-5], {(MTM, dates[0])})  # what the caller reads
    assert page.data["basic"][0][3] == [f"{3:032x}"[:8], "2026-11-26 19:00", 2.0]
    last = dict(full[f"0,{n - 1}"])
    assert dict(last["marker"])["finished"] == "2026-11-26 19:00:02"
    assert dict(last["marker"])[f"upstream {MTM}@2026-11-25"] == "01234567"
    meta = dict(last["metadata"])
    assert meta["nav_brl"] == "262604280.37" and meta["chain"].startswith("{2 keys: a, b} 9.0")
    assert dict(last["last run"]) == {"run_id": "the marker's", "status": "DONE",
                                      "attempts": "2", "host": "batch01", "runs": "3"}
    first = dict(full["0,0"])
    assert full["0,0"][0] == ["why not done", [["reason", "code version 1, now 2"]]]
    assert dict(first["last failure"]) == {"run_id": "the last run's",
                                           "failure class": "FAILED", "error": "boom"}
    assert dict(first["last run"])["started"] == "2026-11-26 19:00:00"  # naive = UTC


def test_rendered_page_escapes_names_and_fetches_nothing() -> None:
    evil = "<script>alert(1)</script>"
    dates = calendar.business_days(date(2026, 11, 23), date(2026, 11, 26))
    fam = f"pms.{evil}"
    grid = Grid(dates, [fam], {(fam, d): "failed" for d in dates})
    failure = _run("f" * 32, "FAILED", error=f"MissingPrice: {evil}", failure="MISSING_DATA")
    issue = dict(business_date=dates[0], step=MTM, instrument_id=evil, field="price",
                 severity="ERROR", message=evil, run_id="r" * 32)
    html = sp.render_page(_page(grid, Details(
        last_runs={(fam, dates[0]): failure}, last_failures={(fam, dates[0]): failure},
        dq_issues=[issue], dq_counts={dates[0]: {"ERROR": 1}})))
    assert "alert(1)</script>" not in html.replace("alert(1)&lt;/script&gt;", "")
    assert len(re.findall(r"<script", html)) == 2  # the JSON and the page's own script
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched
    assert 'class="err" title="1 data-quality issue(s) on 2026-11-23, 1 ERROR">1</td>' in html


def test_a_five_year_page_stays_small() -> None:
    """About 1,260 dates × 6 families, every cell done with a marker (one family's metadata
    carries a 9 kB blob, like the attribution's chain state), a few failures."""
    dates = calendar.business_days(date(2021, 11, 29), date(2026, 11, 26))
    fams = [f"pms.Family{c}" for c in "ABCDEF"]
    grid = Grid(dates, fams, {(f, d): "done" for f in fams for d in dates})
    markers = {(f, d): _marker(f"{i:032x}", {"blob": "x" * 9000} if f.endswith("B") else None)
               for f in fams for i, d in enumerate(dates)}
    failures = {}
    for d in dates[::60]:
        grid.cells[(fams[0], d)] = "failed"
        failures[(fams[0], d)] = _run("f" * 32, "FAILED", error="e" * 5000, failure="FAILED")
    page = _page(grid, Details(markers=markers, last_runs=failures, last_failures=failures))
    html = sp.render_page(page)
    assert len(dates) > 1250
    assert len(html.encode()) < 1_000_000
    assert html.count('<td class="s-done">#</td>') == len(dates) * len(fams) - len(failures)


def test_summarise_and_times() -> None:
    assert status_cells.summarise({"read": 1, "write": 1}) == '{"read": 1, "write": 1}'
    assert status_cells.summarise("x" * 200).endswith("… 0.2 kB")
    assert status_cells.summarise(list(range(100))).startswith("[100 items] ")
    assert status_cells.brt(datetime(2026, 11, 27, 9, 30)) == "2026-11-27 06:30:00"
    assert status_cells.brt(None) == "" and status_cells.basic(None) is None
