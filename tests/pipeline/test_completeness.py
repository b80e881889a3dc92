"""One completeness answer everywhere, and a backfill summary that counts only its own work.

After MarkToMarket of one date is rerun without ``--downstream``, the next date's MTM is
stale by its own marker and every later MTM — and everything consuming them — only
transitively: their own markers still look fine. The status grid (cells and reasons),
``pms-luigi check`` (exit code and message) and the backfill planner must all show them
stale, naming the cause, exactly as the tasks' own ``complete()`` answers; the next
end-of-day then rebuilds only what was shown stale. A backfill whose steps are partly built
by another process meanwhile must count those as "by another run", not as its own.

One copy of the shared demo world per store pair (``FUND_11``: 40 business days to
2026-11-26, end-of-day backfilled to the 25th); the tests run in file order on it.
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from pms_luigi import demo
from pms_luigi.cli import main as cli
from pms_luigi.core import calendar
from pms_luigi.ops import backfill as backfills
from pms_luigi.ops import invalidate as invalidation
from pms_luigi.ops import runner, status
from pms_luigi.ops.own_runs import Who
from pms_luigi.pipeline import context, graph
from pms_luigi.pipeline.wrappers import PreOpen
from pms_luigi.store import markers as mk
from tests.conftest import BACKENDS, FUND_11, DemoWorlds, World

REPO = Path(__file__).resolve().parents[2]
MTM, ATT = "pms.MarkToMarket", "pms.PerformanceAttribution"
PROPOSALS, PACK = "pms.TradeProposals", "pms.MorningPack"
EOD = [MTM, ATT]
LAST = FUND_11.through                      # 2026-11-25: the last close built
NXT = calendar.next_business_day(LAST)      # 2026-11-26: the pre-open day
RERUN = calendar.add_business_days(LAST, -3)  # MTM rerun here without --downstream
CHAIN = calendar.business_days(RERUN, LAST)   # RERUN and the three closes after it
FIRST_STALE = CHAIN[1]                         # stale by its own marker; the rest through it


@pytest.fixture(scope="module", params=BACKENDS)
def fund(request: pytest.FixtureRequest, demo_worlds: DemoWorlds,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, demo.DemoData]]:
    with demo_worlds.copy(FUND_11, request.param,
                          tmp_path_factory.mktemp("completeness")) as built:
        yield built


def _complete(task: object) -> bool:
    """What a task answers in a new build (its memo empty)."""
    context.current().memo.clear()
    return task.complete()  # type: ignore[attr-defined]


def _run_ids(w: World, families: list[str], dates: list[date]) -> dict[tuple[str, date], str]:
    with w.engine.connect() as conn:
        return {(f, d): m.run_id for f in families
                for d, m in mk.read_markers(conn, f, dates).items()}


def test_preopen_is_complete_everywhere_before_the_rerun(fund, capsys) -> None:
    assert runner.run_kind("preopen", NXT) == 0
    assert cli.main(["check", "--by", "06:45", "--date", NXT.isoformat()]) == 0
    assert "complete [" in capsys.readouterr().out
    assert _complete(PreOpen(date=NXT))
    assert backfills.missing(EOD, CHAIN) == {f: [] for f in EOD}
    g = status.grid(RERUN, NXT)
    assert all(g.cells[(f, d)] == "done" for f in EOD for d in CHAIN)
    assert g.cells[(PROPOSALS, NXT)] == g.cells[(PACK, NXT)] == "done"


def test_an_upstream_rerun_without_downstream_is_stale_everywhere(fund, capsys) -> None:
    w, _ = fund
    before = _run_ids(w, EOD, CHAIN)
    assert cli.main(["rerun", "--task", "MarkToMarket", "--date", RERUN.isoformat()]) == 0
    after = _run_ids(w, EOD, CHAIN)
    assert {k for k in before if after[k] != before[k]} == {(MTM, RERUN)}
    capsys.readouterr()

    # The grid: the next MTM stale by its own marker, every later step through it.
    g = status.grid(RERUN, NXT)
    assert g.cells[(MTM, RERUN)] == "done"
    assert all(g.cells[(MTM, d)] == "stale" for d in CHAIN[1:])
    assert all(g.cells[(ATT, d)] == "stale" for d in CHAIN)
    assert g.cells[(PROPOSALS, NXT)] == g.cells[(PACK, NXT)] == "stale"
    assert g.reasons[(MTM, FIRST_STALE)] == f"upstream rerun: {MTM}@{RERUN}"
    assert g.reasons[(ATT, RERUN)] == f"upstream rerun: {MTM}@{RERUN}"
    cause = f"upstream {MTM}@{FIRST_STALE} is stale: upstream rerun: {MTM}@{RERUN}"
    for key in [*((MTM, d) for d in CHAIN[2:]), *((ATT, d) for d in CHAIN[1:]),
                (PROPOSALS, NXT), (PACK, NXT)]:
        assert g.reasons[key] == cause, key
    assert (MTM, RERUN) not in g.reasons
    # ... and every cell is what the step's own task answers.
    for (fam, d), cell in g.cells.items():
        assert (cell == "done") == _complete(graph.FAMILIES[fam](date=d)), (fam, d, cell)

    assert cli.main(["status", "--start", RERUN.isoformat(), "--end", LAST.isoformat()]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^{re.escape(MTM)}\s+#sss$", out, re.M), out
    assert re.search(rf"^{re.escape(ATT)}\s+ssss$", out, re.M), out
    assert f"{MTM} {FIRST_STALE} stale: upstream rerun: {MTM}@{RERUN}" in \
        re.sub(r"\s+", " ", out)

    # check: not complete, exit 1, naming the stale steps and their cause.
    assert cli.main(["check", "--by", "06:45", "--date", NXT.isoformat()]) == 1
    out = capsys.readouterr().out
    assert re.search(r": (not complete yet|LATE) \[", out), out
    assert f"{MTM}@{LAST}=stale" in out and f"{PACK}@{NXT}=stale" in out
    assert f"  {MTM}@{LAST} stale: {cause}" in out
    assert not _complete(PreOpen(date=NXT))

    # The planner: the same steps, also when asked about the last date alone (its own
    # marker and the day before's are fine: only the chain back to the rerun says stale).
    assert backfills.missing(EOD, CHAIN) == {MTM: CHAIN[1:], ATT: CHAIN}
    assert backfills.missing(EOD, [LAST]) == {MTM: [LAST], ATT: [LAST]}


def test_the_next_end_of_day_rebuilds_what_was_shown_stale(fund) -> None:
    w, _ = fund
    shown = {k for k, cell in status.grid(RERUN, LAST, EOD).cells.items() if cell != "done"}
    before = _run_ids(w, EOD, CHAIN)
    assert runner.run_kind("eod", LAST) == 0
    after = _run_ids(w, EOD, CHAIN)
    rebuilt = {k for k in before if after[k] != before[k]}
    assert rebuilt == {*((MTM, d) for d in CHAIN[1:]), (ATT, LAST)}
    assert rebuilt <= shown
    # The attributions EndOfDay(LAST) does not need are still stale, and still shown so.
    left = {k for k, cell in status.grid(RERUN, LAST, EOD).cells.items() if cell != "done"}
    assert left == {(ATT, d) for d in CHAIN[:-1]}
    assert backfills.missing(EOD, CHAIN) == {MTM: [], ATT: CHAIN[:-1]}


class OtherProcessAfterThePlan(io.StringIO):
    """A backfill's progress stream: once the backfill has printed its plan, and before it
    builds anything, another process runs the end-of-day of ``day``."""

    def __init__(self, day: date) -> None:
        super().__init__()
        self.day = day
        self.ran: subprocess.CompletedProcess | None = None

    def write(self, text: str) -> int:
        if self.ran is None and " with missing steps (" in text:
            self.ran = subprocess.run(
                [sys.executable, "-m", "pms_luigi.cli.main", "run", "eod", "--date",
                 self.day.isoformat()], cwd=REPO, env=os.environ.copy(), capture_output=True,
                text=True, timeout=300)
        return super().write(text)


def test_a_backfill_counts_only_the_steps_it_built(fund) -> None:
    w, _ = fund
    invalidation.invalidate(MTM, RERUN, downstream=True)  # every EOD step from RERUN on
    day_before = calendar.previous_business_day(RERUN)
    w.redis.delete(f"{w.namespace}:marker:{ATT}:{day_before}")  # only its cache lost
    stream = OtherProcessAfterThePlan(FIRST_STALE)  # builds MTM(RERUN..FIRST_STALE), ATT
    reports: list[backfills.BackfillReport] = []
    # two workers: the attributions are built in a forked process, which must count too
    assert backfills.backfill(day_before, LAST, chunk=2, workers=2, progress=stream,
                              report=reports) == 0
    assert stream.ran is not None and stream.ran.returncode == 0, stream.ran.stderr[-3000:]
    rep = reports[0]
    assert rep.by(MTM, Who.BUILT) == CHAIN[2:]
    assert rep.by(MTM, Who.OTHER) == CHAIN[:2]
    assert rep.by(ATT, Who.BUILT) == [RERUN, *CHAIN[2:]]
    assert rep.by(ATT, Who.OTHER) == [FIRST_STALE]
    assert rep.by(ATT, Who.REPUBLISHED) == [day_before]
    assert rep.by(MTM, Who.REPUBLISHED) == []
    table = stream.getvalue()
    # family, dates, were done, built, by another run, re-published, still missing, first
    assert re.search(rf"{re.escape(MTM)}\s+5\s+1\s+2\s+2\s+0\s+0\s+-", table), table
    assert re.search(rf"{re.escape(ATT)}\s+5\s+0\s+3\s+1\s+1\s+0\s+-", table), table
    assert backfills.missing(EOD, [day_before, *CHAIN]) == {f: [] for f in EOD}
