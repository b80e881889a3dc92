"""What the console tests share: a demo world with two pre-opens built, the console serving
it in-process on a free port of 127.0.0.1, its users, and a small HTTP client.

The world: a copy of the session's demo fund (``conftest.FUND_11``: end-of-day to the day
before END), then ``PreOpen(END)`` and ``PreOpen(D)`` — the close of END, attribution, two
dates of proposals and two morning packs, so the pack archive has a difference to show.
One strategy of D's first proposal is renamed ``<script>…</script>`` first: every page must
show it as text.
"""
from __future__ import annotations

import contextlib
import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from pms_luigi.core import calendar
from pms_luigi.ops import runner
from pms_luigi.pipeline.wrappers import PreOpen
from pms_luigi.store import schema as s
from pms_luigi.web.app import running
from pms_luigi.web.auth import User, hash_password
from pms_luigi.web.settings import ConsoleSettings, Schedule
from tests.conftest import FUND_11, DemoWorlds, World

END = FUND_11.end
D = calendar.next_business_day(END)
#: name -> (role, password)
USERS = {"ana": ("pm", "ana-password-1"), "bea": ("pm", "bea-password-2"),
         "olga": ("ops", "olga-password-3"), "vic": ("viewer", "vic-password-4")}
SECRET = "s3cret-console-signing-key-for-the-tests-0123456789"  # noqa: S105 - a test key
EVIL = "<script>window.__pwned = 1</script><b>Evil</b>"


def console_settings(poll_seconds: float = 5.0) -> ConsoleSettings:
    users = {n: User(n, role, hash_password(pw)) for n, (role, pw) in USERS.items()}
    return ConsoleSettings(host="127.0.0.1", port=0, users_file=Path("tests-users.toml"),
                           users=users, secret=SECRET, secret_from_env=True, session_hours=1.0,
                           cookie_secure=False, poll_seconds=poll_seconds,
                           schedule=Schedule(time(18), time(20, 30), time(6), time(6, 45)))


@dataclass
class Desk:
    world: World
    base: str
    app: Any

    def client(self, user: str | None = None) -> Client:
        c = Client(self.base)
        if user is not None:
            assert c.sign_in(user, USERS[user][1])[0] == 303
        return c


def _rename_a_strategy(w: World) -> str:
    """Give the first strategy of D's top-ranked proposal the name :data:`EVIL`."""
    with w.engine.begin() as conn:
        row = conn.execute(sa.select(s.proposals.c.strategies).where(
            s.proposals.c.business_date == D).order_by(s.proposals.c.rank)).first()
        sid = row.strategies[0]["strategy_id"]
        conn.execute(sa.update(s.strategies).where(s.strategies.c.strategy_id == sid)
                     .values(name=EVIL))
    return sid


@contextlib.contextmanager
def desk(demo_worlds: DemoWorlds, backend: str, folder: Path,
         poll_seconds: float = 5.0) -> Iterator[Desk]:
    """The world with both pre-opens built, served by the console for the block."""
    with demo_worlds.copy(FUND_11, backend, folder) as (w, _):
        assert runner.build([PreOpen(date=END), PreOpen(date=D)]) == runner.ExitCode.OK
        _rename_a_strategy(w)
        with running(console_settings(poll_seconds)) as (base, app):
            yield Desk(w, base, app)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Reply:
    status: int
    body: bytes
    headers: Any

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def flash(self) -> str | None:
        found = re.search(r'id="flash"[^>]*>([^<]*)<', self.text)
        return None if found is None else found.group(1)


class Client:
    """A browser-less session: cookies kept, redirects not followed, errors returned."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  _NoRedirect)

    def request(self, path: str, form: dict[str, str] | None = None) -> Reply:
        data = None if form is None else urllib.parse.urlencode(form).encode()
        try:
            with self.opener.open(self.base + path, data, timeout=60) as r:
                return Reply(r.status, r.read(), r.headers)
        except urllib.error.HTTPError as e:
            return Reply(e.code, e.read(), e.headers)

    def get(self, path: str) -> Reply:
        return self.request(path)

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def post(self, path: str, form: dict[str, str], xsrf: bool = True) -> Reply:
        if xsrf:
            if self.cookie("_xsrf") is None:
                self.get("/login")
            form = {**form, "_xsrf": self.cookie("_xsrf") or ""}
        return self.request(path, form)

    def sign_in(self, name: str, password: str) -> tuple[int, Reply]:
        reply = self.post("/login", {"name": name, "password": password})
        return reply.status, reply
