"""The desk console's application: its routes, its template environment, and serving it.

``pms-luigi serve`` (:mod:`pms_luigi.cli.serve`) loads :class:`ConsoleSettings` and calls
:func:`serve`; tests and scripts run the same application in a background thread with
:func:`running`. What the server holds lives on one :class:`Console` object handed to every
handler — the settings, the run settings its requests' run contexts are made from, the
Jinja2 environment and the reruns it started (:class:`pms_luigi.web.base.Console`) — nothing
at module level.
"""
from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import jinja2
import tornado.httpserver
import tornado.netutil
import tornado.web
from tornado.ioloop import PeriodicCallback

from pms_luigi.core.frames import json_safe
from pms_luigi.ops.status import SYMBOL
from pms_luigi.pipeline.context import Settings
from pms_luigi.report import formats, status_cells
from pms_luigi.report.html import TEMPLATE_DIR as STATUS_TEMPLATES
from pms_luigi.web import grid, login, packs, proposals, reruns, today
from pms_luigi.web.base import Console, NotFound, brt
from pms_luigi.web.jobs import Jobs
from pms_luigi.web.settings import SECRET_ENV, ConsoleSettings

log = logging.getLogger("pms_luigi")

HERE = Path(__file__).resolve().parent
DATE = r"(\d{4}-\d{2}-\d{2})"
FAMILY = r"([A-Za-z0-9_.]+)"


def _pretty(value: object) -> str:
    """JSON for reading (indented, unicode as is); autoescaped like any text."""
    return json.dumps(json_safe(value), indent=2, ensure_ascii=False, sort_keys=True)


def jinja_env() -> jinja2.Environment:
    """Templates under ``web/templates`` — and the status page's macros
    (``report/templates/status_parts.html``) — autoescaped everywhere (a strategy named
    ``<script>`` is text), strict about undefined names; the pack's number formats."""
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(HERE / "templates"),
                                  jinja2.FileSystemLoader(STATUS_TEMPLATES)])
    env = jinja2.Environment(loader=loader,
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(brl=formats.brl, brl_signed=formats.brl_signed, bps=formats.bps,
                       pct=formats.pct, num=formats.num, brt=brt, symbol=SYMBOL.get,
                       pretty=_pretty, summarise=status_cells.summarise)
    return env


def routes() -> list[tuple[str, type[tornado.web.RequestHandler]]]:
    """Every URL: a page and, for each view, its JSON twin under ``/api``."""
    return [
        (r"/login", login.LoginPage), (r"/logout", login.LogoutAction),
        (r"/", today.TodayPage), (r"/api/today", today.TodayJson),
        (r"/grid", grid.GridPage), (r"/api/grid", grid.GridJson),
        (rf"/cell/{FAMILY}/{DATE}", grid.CellPage), (rf"/api/cell/{FAMILY}/{DATE}", grid.CellJson),
        (r"/proposals", proposals.ProposalsPage), (r"/api/proposals", proposals.ProposalsJson),
        (r"/proposals/(\d+)", proposals.ProposalPage),
        (r"/api/proposals/(\d+)", proposals.ProposalJson),
        (r"/proposals/(\d+)/decide", proposals.DecideAction),
        (r"/packs", packs.PacksPage), (r"/api/packs", packs.PacksJson),
        (r"/packs/diff", packs.DiffPage), (r"/api/packs/diff", packs.DiffJson),
        (rf"/packs/{DATE}", packs.PackPage), (rf"/api/packs/{DATE}", packs.PackJson),
        (rf"/packs/{DATE}/pack\.(html|pdf)", packs.PackFile),
        (rf"/packs/{DATE}/([a-z0-9_]+)\.png", packs.PackChart),
        (r"/rerun", reruns.RerunAction), (r"/reruns", reruns.RerunsPage),
        (r"/api/reruns", reruns.RerunsJson), (r"/reruns/(\d+)", reruns.RerunPage),
    ]


def make_app(settings: ConsoleSettings, run_settings: Settings | None = None,
             ) -> tornado.web.Application:
    """The application: signed cookies keyed by the settings' secret, CSRF on every POST
    (HttpOnly, SameSite=Strict token cookie), static files with versioned URLs."""
    run_settings = run_settings or Settings.from_environment()
    console = Console(settings, run_settings, jinja_env(),
                      Jobs(run_settings.data_dir / "logs"))
    secure = settings.cookie_secure
    return tornado.web.Application(
        routes(), console=console, cookie_secret=settings.secret, xsrf_cookies=True,
        xsrf_cookie_kwargs={"httponly": True, "samesite": "Strict", "secure": secure},
        static_path=str(HERE / "static"), login_url="/login", autoreload=False, debug=False,
        default_handler_class=NotFound,
        serve_traceback=False, compress_response=True)


def _describe(settings: ConsoleSettings, port: int) -> None:
    log.info("console on http://%s:%d/ (%d user(s) from %s)", settings.host, port,
             len(settings.users), settings.users_file)
    if not settings.secret_from_env:
        log.warning("%s is not set: sessions are signed with a key made for this process "
                    "(everyone signs in again after a restart)", SECRET_ENV)
    try:
        loopback = ipaddress.ip_address(socket.gethostbyname(settings.host)).is_loopback
    except (OSError, ValueError):
        loopback = False
    if not loopback:
        log.warning("console listening on %s: reachable from other machines, without TLS; "
                    "put an HTTPS reverse proxy in front (docs/console.md)", settings.host)


def serve(settings: ConsoleSettings) -> int:
    """Serve until SIGINT or SIGTERM; returns 0."""

    async def main() -> None:
        app = make_app(settings)
        server = app.listen(settings.port, settings.host)
        _describe(settings, settings.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        reaper = PeriodicCallback(app.settings["console"].jobs.poll, 5_000)
        reaper.start()
        await stop.wait()
        reaper.stop()
        server.stop()
        log.info("console stopped")

    asyncio.run(main())
    return 0


@contextlib.contextmanager
def running(settings: ConsoleSettings, run_settings: Settings | None = None,
            ) -> Iterator[tuple[str, tornado.web.Application]]:
    """The console served from a background thread on a free port of ``settings.host``
    while the block runs; yields (base URL, application). For tests and scripts."""
    app = make_app(settings, run_settings)
    sockets = tornado.netutil.bind_sockets(0, settings.host)
    port = sockets[0].getsockname()[1]
    ready, box = threading.Event(), {}

    async def main() -> None:
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets(sockets)
        stop = asyncio.Event()
        box.update(loop=asyncio.get_running_loop(), stop=stop)
        ready.set()
        await stop.wait()
        server.stop()
        await server.close_all_connections()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True,
                              name="pms-console")
    thread.start()
    ready.wait(10)
    try:
        yield f"http://{settings.host}:{port}", app
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(10)
