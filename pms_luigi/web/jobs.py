"""Reruns an ops user starts from the console, each in a process of its own.

A rerun is ``pms-luigi rerun --task F --date D --downstream`` — the same command, and so the
same ops function (:func:`pms_luigi.ops.invalidate.rerun`), an operator would type — started
as a child process with the server's environment (store URLs, ``LUIGI_CONFIG_PATH``), its
output in ``<data_dir>/logs/console-rerun-<started>-<family>-<date>.log``. Why a process
and not a thread: a build takes the (family, date) locks and runs Luigi's worker, which
expects to own its process (signals, forks), and a crash in it must not take the console
down. One rerun at a time per console: the machine the batch runs on has two cores.

Who asked is logged when the rerun starts and when it ends, and shown with the job.
"""
from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from pms_luigi.core.errors import AlreadyRunning

log = logging.getLogger("pms_luigi")


@dataclass
class Job:
    """One rerun: who, what, when, the child process and its log file."""

    job_id: int
    user: str
    family: str
    business_date: date
    started_at: datetime
    log_path: Path
    process: subprocess.Popen = field(repr=False)
    code: int | None = None

    def poll(self) -> int | None:
        """The exit code once the process ended (logged once, with the user), else None."""
        if self.code is None and self.process.poll() is not None:
            self.code = int(self.process.returncode)
            log.info("console: rerun #%d of %s %s --downstream by %s finished with exit code "
                     "%d", self.job_id, self.family, self.business_date, self.user, self.code)
        return self.code

    @property
    def state(self) -> str:
        code = self.poll()
        return "running" if code is None else ("done" if code == 0 else f"exit {code}")

    def summary(self) -> dict[str, object]:
        return {"job_id": self.job_id, "user": self.user, "family": self.family,
                "business_date": self.business_date, "started_at": self.started_at,
                "state": self.state, "exit_code": self.code, "pid": self.process.pid}

    def tail(self, max_bytes: int = 20_000) -> str:
        """The end of the rerun's log."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(0, 2)
                fh.seek(max(0, fh.tell() - max_bytes))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""


class Jobs:
    """The console's reruns, newest first (held by the running server, not by the module)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._jobs: list[Job] = []

    def all(self) -> list[Job]:
        return list(reversed(self._jobs))

    def poll(self) -> None:
        """Reap the reruns that ended (and log each once)."""
        for job in self._jobs:
            job.poll()

    def get(self, job_id: int) -> Job | None:
        return next((j for j in self._jobs if j.job_id == job_id), None)

    def start(self, user: str, family: str, on: date) -> Job:
        """Start ``pms-luigi rerun --task family --date on --downstream`` for ``user``.

        Raises:
            AlreadyRunning: a rerun started from this console is still running.
        """
        busy = next((j for j in self._jobs if j.poll() is None), None)
        if busy is not None:
            raise AlreadyRunning(f"rerun #{busy.job_id} of {busy.family} {busy.business_date} "
                                 f"(started by {busy.user}) is still running")
        started = datetime.now(UTC)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        path = self.log_dir / (f"console-rerun-{started:%Y%m%dT%H%M%S}-{family}-"
                               f"{on.isoformat()}.log")
        argv = [sys.executable, "-m", "pms_luigi.cli.main", "rerun", "--task", family,
                "--date", on.isoformat(), "--downstream"]
        with path.open("ab") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,  # noqa: S603
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        job = Job(len(self._jobs) + 1, user, family, on, started, path, process)
        self._jobs.append(job)
        log.info("console: rerun #%d of %s %s --downstream started by %s (pid %d, log %s)",
                 job.job_id, family, on, user, process.pid, path)
        return job
