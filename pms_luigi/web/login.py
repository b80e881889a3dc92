"""Signing in and out.

A failed sign-in answers the same for an unknown name and a wrong password, after the same
scrypt work, and is logged with the name tried and the client address (never the password).
"""
from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus

from pms_luigi.web import auth
from pms_luigi.web.base import ConsoleHandler

log = logging.getLogger("pms_luigi")


def safe_next(target: str) -> str:
    """Where to go after signing in: a path of this site only (no ``//host`` or scheme)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class LoginPage(ConsoleHandler):
    public = True

    def get(self) -> None:
        self.page("login.html", next=safe_next(self.get_argument("next", "/")), error=None)

    async def post(self) -> None:
        name = self.get_argument("name", "").strip()
        password = self.get_argument("password", "")
        target = safe_next(self.get_argument("next", "/"))
        user = await asyncio.to_thread(auth.authenticate, self.console.settings.users, name,
                                       password)
        if user is None:
            log.warning("console: failed sign-in as %r from %s", name[:80], self.request.remote_ip)
            self.page("login.html", status=HTTPStatus.UNAUTHORIZED, next=target,
                      error="wrong name or password")
            return
        self.sign_in(user)
        log.info("console: %s (%s) signed in from %s", user.name, user.role,
                 self.request.remote_ip)
        self.redirect(target, status=HTTPStatus.SEE_OTHER)


class LogoutAction(ConsoleHandler):
    public = True

    def post(self) -> None:
        if self.current_user is not None:
            log.info("console: %s signed out", self.current_user.name)
        self.sign_out()
        self.redirect("/login", status=HTTPStatus.SEE_OTHER)
