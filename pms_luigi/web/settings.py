"""The console's settings: ``[pms_console]`` in luigi.cfg, the cookie secret from the environment.

Read once when the server starts (like a build's run context). The session-signing secret is
``PMS_CONSOLE_SECRET`` (at least 32 characters); without it the server makes one for its own
lifetime and says so in the log — sessions then end when it stops. The secret is never
logged, rendered or written anywhere.
"""
from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from datetime import time
from pathlib import Path

import luigi

from pms_luigi.core.errors import BadRequest
from pms_luigi.web.auth import User, load_users

log = logging.getLogger("pms_luigi")

SECRET_ENV = "PMS_CONSOLE_SECRET"  # noqa: S105 - the variable's name, not a secret
MIN_SECRET = 32


class pms_console(luigi.Config):  # noqa: N801 - luigi maps the class name to the section
    """``[pms_console]``: where the console listens, who may sign in, and the cron times the
    Today view measures lateness against (the ones of ``config/crontab.example``)."""

    host = luigi.Parameter(default="127.0.0.1")
    port = luigi.IntParameter(default=8090)
    users_file = luigi.Parameter(default="")
    session_hours = luigi.FloatParameter(default=12.0)
    cookie_secure = luigi.BoolParameter(default=False)
    poll_seconds = luigi.FloatParameter(default=5.0)
    eod_start = luigi.Parameter(default="18:00")
    eod_due = luigi.Parameter(default="20:30")
    preopen_start = luigi.Parameter(default="06:00")
    preopen_due = luigi.Parameter(default="06:45")


def _hhmm(name: str, text: str) -> time:
    try:
        hh, mm = (int(x) for x in text.strip().split(":"))
        return time(hh, mm)
    except ValueError:
        raise BadRequest(f"[pms_console] {name} = {text!r}: not a time (HH:MM)") from None


@dataclass(frozen=True)
class Schedule:
    """The cron runs' start times and the deadlines after which a step not done is late
    (BRT): the EOD starts at 18:00 and polls for late data until 20:30; the pre-open starts
    at 06:00 and the watchdog (``pms-luigi check --by``) calls it late at 06:45."""

    eod_start: time
    eod_due: time
    preopen_start: time
    preopen_due: time


@dataclass(frozen=True)
class ConsoleSettings:
    """Everything the server reads at start: listen address, users, secret, schedule."""

    host: str
    port: int
    users_file: Path
    users: dict[str, User]
    secret: str
    secret_from_env: bool
    session_hours: float
    cookie_secure: bool
    poll_seconds: float
    schedule: Schedule

    def __repr__(self) -> str:  # never show the secret, even in a traceback
        return (f"ConsoleSettings(host={self.host!r}, port={self.port}, users_file="
                f"{str(self.users_file)!r}, users={len(self.users)}, secret=***)")

    @classmethod
    def load(cls, host: str | None = None, port: int | None = None,
             users_file: str | None = None) -> ConsoleSettings:
        """``[pms_console]``, overridden by the command line's ``--host``/``--port``/``--users``.

        Raises:
            BadRequest: no users file configured, a bad users file, a bad time or a
                ``PMS_CONSOLE_SECRET`` shorter than 32 characters.
        """
        conf = pms_console()
        where = users_file or conf.users_file
        if not where:
            raise BadRequest("no console users: set [pms_console] users_file in luigi.cfg "
                             "(or --users FILE); see docs/console.md")
        path = Path(where).expanduser().resolve()
        secret = os.environ.get(SECRET_ENV, "")
        if secret and len(secret) < MIN_SECRET:
            raise BadRequest(f"{SECRET_ENV} is too short: at least {MIN_SECRET} characters")
        schedule = Schedule(*(_hhmm(k, getattr(conf, k)) for k in
                              ("eod_start", "eod_due", "preopen_start", "preopen_due")))
        return cls(host=host or conf.host, port=conf.port if port is None else port,
                   users_file=path, users=load_users(path),
                   secret=secret or secrets.token_hex(32), secret_from_env=bool(secret),
                   session_hours=float(conf.session_hours), cookie_secure=bool(conf.cookie_secure),
                   poll_seconds=float(conf.poll_seconds), schedule=schedule)
