"""A real ``luigid`` on a free loopback port (with the shipped config/luigid.cfg and a state
file): a PreOpen run through it is visible DONE in the scheduler's HTTP API, and two worker
processes backfilling the same range concurrently run each (family, date) exactly once.

PostgreSQL + Redis only (the production pair; workers on several hosts need a shared DB).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from pms_luigi import demo
from pms_luigi.core import calendar
from pms_luigi.ops import backfill as backfills
from pms_luigi.ops import invalidate as invalidation
from pms_luigi.pipeline import graph
from pms_luigi.store import schema as s
from tests.conftest import FUND_11, DemoWorlds, World

REPO = Path(__file__).resolve().parents[2]
LAST = FUND_11.end
NXT = calendar.next_business_day(LAST)
EOD = list(graph.EOD_FAMILIES)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _api(url: str, method: str, data: dict | None = None) -> dict:
    query = f"?data={urllib.parse.quote(json.dumps(data))}" if data is not None else ""
    with urllib.request.urlopen(f"{url}/api/{method}{query}", timeout=10) as resp:  # noqa: S310 - http://127.0.0.1
        return json.loads(resp.read())["response"]


@contextlib.contextmanager
def run_luigid(tmp: Path) -> Iterator[tuple[str, Path]]:
    """luigid on 127.0.0.1:<free port> with config/luigid.cfg and a state pickle in ``tmp``;
    stopped with SIGTERM (the clean shutdown that writes the state file)."""
    port, state = _free_port(), tmp / "luigid-state.pickle"
    env = {**os.environ, "LUIGI_CONFIG_PATH": str(REPO / "config" / "luigid.cfg")}
    exe = Path(sys.executable).parent / "luigid"
    proc = subprocess.Popen([str(exe), "--port", str(port), "--address", "127.0.0.1",
                             "--state-path", str(state), "--logdir", str(tmp)],
                            cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _api(url, "task_list", {"status": "DONE"})
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
                assert time.monotonic() < deadline, "luigid did not start"
                time.sleep(0.2)
        yield url, state
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


@pytest.fixture(scope="module")
def luigid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    with run_luigid(tmp_path_factory.mktemp("luigid")) as server:
        yield server


@pytest.fixture(scope="module")
def world(demo_worlds: DemoWorlds,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, demo.DemoData]]:
    """The shared demo fund (EOD to the day before LAST): the workers build the rest."""
    with demo_worlds.copy(FUND_11, "postgresql+redis",
                          tmp_path_factory.mktemp("luigid-world")) as built:
        yield built


def _worker_env(url: str) -> dict[str, str]:
    return {**os.environ, "PMS_SCHEDULER_URL": url}


def test_preopen_through_luigid_is_done_in_the_scheduler_api(luigid, world) -> None:
    url, _state = luigid
    _w, _ = world
    proc = subprocess.run([sys.executable, "-m", "pms_luigi.cli.main", "run", "preopen", "--date",
                           NXT.isoformat(), "--scheduler"], cwd=REPO, env=_worker_env(url),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = _api(url, "task_list", {"status": "DONE"})
    names = {t["name"] for t in done.values()}
    assert {"pms.PreOpen", "pms.MarkToMarket", "pms.PerformanceAttribution",
            "pms.TradeProposals", "pms.MorningPack"} <= names
    by_name = {(t["name"], t["params"].get("date")) for t in done.values()}
    assert ("pms.MorningPack", NXT.isoformat()) in by_name
    assert ("pms.MarkToMarket", LAST.isoformat()) in by_name  # the previous close
    pack = next(t for t in done.values() if t["name"] == "pms.MorningPack")
    assert pack["status_message"].startswith("done") and pack["progress_percentage"] == 100
    assert _api(url, "task_list", {"status": "FAILED"}) == {}


def test_two_workers_backfilling_one_range_run_each_step_once(luigid, world) -> None:
    url, _state = luigid
    w, _data = world
    first = calendar.add_business_days(LAST, -9)
    hit = invalidation.invalidate("pms.MarkToMarket", first, downstream=True)
    expected = {(f, d) for f, d in hit if f in EOD}
    assert len(expected) == 20
    since = datetime.now(UTC)
    time.sleep(1.1)  # past luigid's stable_done_cooldown_secs for the tasks seen DONE above
    cmd = [sys.executable, "-m", "pms_luigi.cli.main", "backfill", "--start", first.isoformat(),
           "--end", LAST.isoformat(), "--chunk", "4", "--scheduler"]
    procs = [subprocess.Popen(cmd, cwd=REPO, env=_worker_env(url), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    with w.engine.connect() as conn:
        runs = pd.read_sql(sa.select(s.task_runs.c.family, s.task_runs.c.business_date,
                                     s.task_runs.c.status, s.task_runs.c.error)
                           .where(s.task_runs.c.started_at >= since), conn)
        m = s.position_marks.c
        dup = conn.execute(sa.select(sa.func.count()).select_from(
            sa.select(m.business_date, m.instrument_id, m.strategy_id)
            .group_by(m.business_date, m.instrument_id, m.strategy_id)
            .having(sa.func.count() > 1).subquery())).scalar_one()
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-6000:]
    # Each summary counts as built only what its own process built: between them, each step
    # once; the rest of each one's plan was built by the other.
    built = dict.fromkeys(EOD, 0)
    for _, err in outs:
        for fam in EOD:
            row = re.search(rf"^{re.escape(fam)}(\s+\d+){{6}}\s+-$", err, re.M)
            assert row, err[-3000:]
            dates, were, own, other, republished, left = map(int, row.group(0).split()[1:7])
            assert (dates, republished, left) == (10, 0, 0) and were + own + other == dates
            built[fam] += own
    assert built == dict.fromkeys(EOD, 10)
    done = runs[runs["status"] == "DONE"]
    per_step = done.groupby(["family", "business_date"]).size()
    assert set(per_step.index) == expected
    assert (per_step == 1).all(), per_step[per_step > 1]
    assert dup == 0
    assert set(runs["status"]) == {"DONE"}  # nobody failed, nothing re-published
    assert backfills.missing(EOD, calendar.business_days(first, LAST)) == {f: [] for f in EOD}


def test_luigid_is_loopback_only_and_keeps_state_across_a_restart(tmp_path: Path) -> None:
    with run_luigid(tmp_path) as (url, state):
        host = urllib.parse.urlparse(url).hostname
        assert host == "127.0.0.1"
        _api(url, "add_task", {"task_id": "pms.Probe_1", "status": "DONE", "worker": "probe",
                               "family": "pms.Probe"})
    assert state.exists() and state.stat().st_size > 0
    with run_luigid(tmp_path) as (url, _):
        assert "pms.Probe_1" in _api(url, "task_list", {"status": "DONE"})
