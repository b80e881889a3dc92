"""Reruns from the console: an ops user reruns a step and everything downstream of it.

The cell page of an ops user shows what would rerun (the invalidation's dry run) and a form
that POSTs here; the rerun itself is ``pms-luigi rerun --task F --date D --downstream`` in a
process of its own (:mod:`pms_luigi.web.jobs`), logged with the user. The grid, polling,
shows the steps go missing and come back as they are rebuilt; the reruns page shows each
job's state and the end of its log.
"""
from __future__ import annotations

from http import HTTPStatus
from typing import Any

from pms_luigi.core import calendar
from pms_luigi.core.errors import BadRequest
from pms_luigi.pipeline.graph import family_name
from pms_luigi.web.base import ConsoleHandler, Refusal, to_date


class RerunAction(ConsoleHandler):
    def post(self) -> None:
        self.require("rerun")
        try:
            family = family_name(self.get_argument("family", ""))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        on = to_date("date", self.get_argument("date", ""))
        if not calendar.is_business_day(on):
            raise BadRequest(f"{on} is not a business day ({calendar.holiday_name(on)})")
        job = self.console.jobs.start(self.user.name, family, on)
        self.flash("ok", f"rerun #{job.job_id} of {family} {on} --downstream started by "
                         f"{self.user.name}")
        self.redirect(f"/reruns/{job.job_id}", status=HTTPStatus.SEE_OTHER)


def _jobs(handler: ConsoleHandler) -> list[dict[str, Any]]:
    return [job.summary() for job in handler.console.jobs.all()]


class RerunsPage(ConsoleHandler):
    def get(self) -> None:
        self.page("reruns.html", jobs=_jobs(self))


class RerunsJson(ConsoleHandler):
    def get(self) -> None:
        self.json({"reruns": _jobs(self)})


class RerunPage(ConsoleHandler):
    def get(self, job_id: str) -> None:
        job = self.console.jobs.get(int(job_id))
        if job is None:
            raise Refusal(HTTPStatus.NOT_FOUND, f"no rerun #{job_id} since the console started")
        self.page("rerun.html", job=job.summary(), log_tail=job.tail())
