"""What every console handler shares: the signed-in user, rendering, JSON, store calls, errors.

- **Sessions**: a Tornado signed cookie ``pms_console`` holding ``name:fingerprint`` (see
  :attr:`pms_luigi.web.auth.User.fingerprint`), HttpOnly, SameSite=Strict, valid for
  ``[pms_console] session_hours``. A user removed from the users file, or whose password or
  role changed, is signed out at the next request.
- **CSRF**: the application runs with ``xsrf_cookies``: Tornado refuses (403) any POST whose
  ``_xsrf`` field does not match the ``_xsrf`` cookie, before a handler runs. Every form
  renders ``xsrf_form_html()``.
- **Store calls** run in a worker thread (:meth:`ConsoleHandler.store`) inside a run context
  of their own, so a slow query never stalls the other pages and each request sees fresh
  statuses (a build's status memo never outlives the request).
- **Errors**: an expected failure (a bad date, a refused decision) is one line on the page
  or in the JSON; the database out of reach is 503 naming no URL; a traceback goes to the
  log only.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import urlencode

import jinja2
import pandas as pd
import tornado.web

from pms_luigi.core.errors import BadRequest, MissingData, PmsError
from pms_luigi.core.frames import json_safe
from pms_luigi.pipeline import context
from pms_luigi.pipeline.context import RunContext, Settings
from pms_luigi.report import status_cells
from pms_luigi.store.markers import STORE_ERRORS
from pms_luigi.web.auth import User
from pms_luigi.web.jobs import Jobs
from pms_luigi.web.settings import ConsoleSettings

log = logging.getLogger("pms_luigi")
T = TypeVar("T")

SESSION_COOKIE = "pms_console"
FLASH_COOKIE = "pms_console_flash"
#: pages: scripts and styles from /static only, nothing framed, no plug-ins
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@dataclass
class Console:
    """What the running server holds (one per application, handed to every handler): its
    settings, the run settings its requests' run contexts are made from, the Jinja2
    environment, the reruns it started."""

    settings: ConsoleSettings
    run_settings: Settings
    jinja: jinja2.Environment
    jobs: Jobs


class Refusal(tornado.web.HTTPError):
    """A request refused with a status and one line for the person (or JSON client)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(status)
        self.text = text


class ConsoleHandler(tornado.web.RequestHandler):
    """Base of every page and JSON endpoint: sign-in required unless ``public``."""

    #: reachable without signing in (the sign-in page)
    public = False

    @property
    def console(self) -> Console:
        return self.application.settings["console"]

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cache-Control", "no-store")

    @property
    def is_api(self) -> bool:
        return self.request.path.startswith("/api/")

    # ---------------------------------------------------------------- who is signed in

    def get_current_user(self) -> User | None:
        hours = self.console.settings.session_hours
        raw = self.get_signed_cookie(SESSION_COOKIE, max_age_days=hours / 24)
        if raw is None:
            return None
        name, _, fingerprint = raw.decode("utf-8", "replace").partition(":")
        user = self.console.settings.users.get(name)
        return user if user is not None and user.fingerprint == fingerprint else None

    @property
    def user(self) -> User:
        """The signed-in user (``prepare`` already refused anyone else)."""
        assert self.current_user is not None  # noqa: S101 - guaranteed by prepare()
        return self.current_user

    def sign_in(self, user: User) -> None:
        hours = self.console.settings.session_hours
        self.set_signed_cookie(SESSION_COOKIE, f"{user.name}:{user.fingerprint}",
                               expires_days=None, httponly=True, samesite="Strict",
                               secure=self.console.settings.cookie_secure,
                               max_age=int(hours * 3600))

    def sign_out(self) -> None:
        self.clear_cookie(SESSION_COOKIE)

    def prepare(self) -> None:
        if self.public or self.current_user is not None:
            return
        if self.is_api or self.request.method not in ("GET", "HEAD"):
            raise Refusal(HTTPStatus.UNAUTHORIZED, "sign in first")
        self.redirect("/login?" + urlencode({"next": self.request.uri or "/"}))

    def require(self, action: str) -> None:
        """Refuse (403) a user whose role does not grant ``action``."""
        if not self.user.may(action):
            raise Refusal(HTTPStatus.FORBIDDEN,
                          f"{self.user.name} ({self.user.role}) may not {action}")

    # ---------------------------------------------------------------- arguments

    def date_arg(self, name: str, default: date | None = None) -> date | None:
        """An ISO date query argument; a bad one is a 400 naming it."""
        text = self.get_argument(name, "").strip()
        return to_date(name, text) if text else default

    # ---------------------------------------------------------------- store calls

    async def store(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(ctx, *args)`` in a worker thread, in a run context made for this request."""
        return await asyncio.to_thread(self._call, fn, *args)

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        with context.activated(RunContext(self.console.run_settings)) as ctx:
            return fn(ctx, *args)

    # ---------------------------------------------------------------- output

    def flash(self, kind: str, text: str) -> None:
        """A one-line message shown by the next page (after a POST's redirect)."""
        self.set_signed_cookie(FLASH_COOKIE, json.dumps({"kind": kind, "text": text}),
                               expires_days=None, httponly=True, samesite="Strict",
                               secure=self.console.settings.cookie_secure)

    def _take_flash(self) -> dict[str, str] | None:
        raw = self.get_signed_cookie(FLASH_COOKIE, max_age_days=1 / 24)
        if raw is None:
            return None
        self.clear_cookie(FLASH_COOKIE)
        return json.loads(raw)

    def page(self, template: str, status: int = 200, **values: Any) -> None:
        """Render a Jinja2 template (autoescaped) with the common values and finish."""
        html = self.console.jinja.get_template(template).render(
            user=self.current_user, xsrf_form_html=self.xsrf_form_html,
            static_url=self.static_url, flash=self._take_flash(), path=self.request.path,
            poll_seconds=self.console.settings.poll_seconds, **values)
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(html)

    def json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(json_safe(value), ensure_ascii=False, sort_keys=True))

    def _handle_request_exception(self, e: BaseException) -> None:
        """Expected failures become a status and one line; everything else is Tornado's
        (a 500 whose traceback goes to the log, never to the page)."""
        if isinstance(e, PmsError) and not self._finished:
            status = HTTPStatus.BAD_REQUEST if isinstance(e, BadRequest) else \
                HTTPStatus.NOT_FOUND if isinstance(e, MissingData) else HTTPStatus.CONFLICT
            self.send_error(status, text=_one_line(str(e)))
            return
        if isinstance(e, STORE_ERRORS) and not self._finished:
            log.error("console: database unavailable: %s", type(e).__name__)
            self.send_error(HTTPStatus.SERVICE_UNAVAILABLE,
                            text="the database cannot be reached (see the server log)")
            return
        super()._handle_request_exception(e)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None))[1]
        text = kwargs.get("text") or (exc.text if isinstance(exc, Refusal) else None) or (
            "internal error (see the server log)"
            if status_code == HTTPStatus.INTERNAL_SERVER_ERROR else self._reason)
        if isinstance(exc, tornado.web.HTTPError) and "xsrf" in (exc.log_message or "").lower():
            text = "refused: the form's CSRF token is missing or wrong (reload the page)"
        if self.is_api:
            self.finish(json.dumps({"error": text, "status": status_code}))
            return
        self.page("error.html", status=status_code, status_code=status_code, message=text)


class NotFound(ConsoleHandler):
    """Any URL the console does not have: 404, in the console's page (or JSON)."""

    public = True

    def prepare(self) -> None:
        raise Refusal(HTTPStatus.NOT_FOUND, f"no such page: {self.request.path[:80]}")


def brt(value: Any) -> str:
    """A timestamp in Brazil time (``2026-12-07 06:02:11``; a naive one is UTC, as SQLite
    returns it: ``report.status_cells.brt``); '' for None or NaT, anything else as text."""
    if value is None or value is pd.NaT:
        return ""
    return status_cells.brt(value) if isinstance(value, datetime) else str(value)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as dicts, a missing value (NaN, NaT) as None: what a page and the
    JSON show as absent."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def to_date(name: str, text: str) -> date:
    """An ISO date from a request; a bad one is a BadRequest (400) naming it."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name}: not a date (YYYY-MM-DD): {text[:40]!r}") from None


def _one_line(text: str) -> str:
    return " / ".join(part.strip() for part in text.splitlines() if part.strip())[:500]
