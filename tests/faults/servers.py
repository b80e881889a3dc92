"""Servers of a test's own, to stop and start at will (never the shared ones), and the
test's own processes of the commands.

- :class:`PrivatePostgres`: a PostgreSQL cluster made with ``initdb`` in a temporary folder,
  listening on 127.0.0.1 on a free port. ``stop()`` is an immediate shutdown (what a crashed
  or killed server looks like to its clients: connections cut, new ones refused);
  ``start()`` brings the same data back (crash recovery). The binaries are the server's
  own (``pg_config --bindir``, else ``/usr/lib/postgresql/*/bin``, else the ``PATH``);
  as root the server runs as the ``postgres`` user, as PostgreSQL requires.
- :func:`private_world`: a :class:`~tests.conftest.World` on such a cluster (its database
  ``pms``, migrated) and the shared Redis under a namespace of its own, with the environment
  pointed at it; its keys are deleted and the cluster removed afterwards.

- :func:`command` / :func:`wait_stopped`: a ``pms-luigi``, cron script or ``luigi`` process
  with its output captured, and the wait until it has SIGSTOPped itself at a fault point
  (``PMS_FAULT=<family>:<point>:pause``).

A missing binary fails the test that needs it, naming what is missing: nothing is skipped.
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from pms_luigi.cache import client as cache_mod
from pms_luigi.store import engine as engine_mod
from tests.conftest import REDIS_URL, World, _pointed_at


def free_port() -> int:
    """A TCP port nothing listens on (the kernel's pick for an ephemeral bind)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bindir() -> Path:
    """Where initdb and pg_ctl are."""
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and (Path(out.stdout.strip()) / "initdb").is_file():
            return Path(out.stdout.strip())
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    return Path(initdb).resolve().parent


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own in a temporary folder, on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.bindir = _bindir()
        self.folder = Path(tempfile.mkdtemp(prefix="pms-private-pg-"))
        self.data = self.folder / "data"
        self._as_postgres = os.geteuid() == 0  # PostgreSQL refuses to run as root
        if self._as_postgres:
            shutil.chown(self.folder, "postgres")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                  str(self.folder / "server.log"), "-w", "start")

    def stop(self) -> None:
        """Immediate shutdown: every connection cut at once, as in a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").is_file()

    def remove(self) -> None:
        if self.running():
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def private_world(folder: Path) -> Iterator[tuple[World, PrivatePostgres]]:
    """A migrated world whose database is a :class:`PrivatePostgres` of its own."""
    server = PrivatePostgres()
    try:
        server.init()
        server.start()
        admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT",
                                 poolclass=sa.NullPool)
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE pms"))
        admin.dispose()
        namespace = f"t{uuid.uuid4().hex[:10]}"
        w = World("postgresql+redis", server.url("pms"), REDIS_URL, namespace, folder)
        try:
            with _pointed_at(w):
                engine_mod.migrate(w.engine)
                yield w, server
        finally:
            keys = list(cache_mod.get_redis(REDIS_URL).scan_iter(f"{namespace}:*"))
            if keys:
                cache_mod.get_redis(REDIS_URL).delete(*keys)
            engine_mod.dispose_all()
            cache_mod.forget_clients()
    finally:
        server.remove()


REPO = Path(__file__).resolve().parents[2]
#: The entry points, as argument lists: ``pms-luigi``, the cron script, the ``luigi`` binary.
PMS_LUIGI = [sys.executable, "-m", "pms_luigi.cli"]
RUN_EOD = [str(REPO / "run_eod.sh")]
LUIGI = [sys.executable, "-m", "luigi", "--module", "pms_luigi.tasks"]


def config_file(folder: Path, **retry: object) -> Path:
    """The repository's ``luigi.cfg`` with ``[pms_retry]`` values replaced (default: no wait
    between attempts), written in ``folder``: what ``LUIGI_CONFIG_PATH`` names."""
    text = (REPO / "luigi.cfg").read_text(encoding="utf-8")
    for key, value in {"wait_seconds": 0, **retry}.items():
        start = text.index(f"\n{key} = ", text.index("[pms_retry]")) + 1
        end = text.index("\n", start)
        text = f"{text[:start]}{key} = {value}{text[end:]}"
    path = folder / "luigi.cfg"
    path.write_text(text, encoding="utf-8")
    return path


def environment(cfg: Path, **extra: str) -> dict[str, str]:
    """This process's environment (pointed at the test's world), for a command's process:
    ``cfg`` as its ``luigi.cfg``, no fault or luigid unless ``extra`` names one."""
    env = {k: v for k, v in os.environ.items() if k not in ("PMS_FAULT", "PMS_SCHEDULER_URL")}
    return {**env, "PMS_PYTHON": sys.executable, "LUIGI_CONFIG_PATH": str(cfg), **extra}


def command(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """Start a command in the repository, its output captured as text."""
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_stopped(proc: subprocess.Popen, timeout: float = 240.0) -> int:
    """Until ``proc`` — or a process it forked (a Luigi worker child) — has SIGSTOPped
    itself at its fault point (state T in /proc); that process's pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        stopped = [pid for pid, state in _family(proc.pid).items() if state == "T"]
        if stopped:
            return stopped[0]
        time.sleep(0.05)
    raise AssertionError("the command never reached its fault point")


def _family(root: int) -> dict[int, str]:
    """``root`` and its descendants, each with its state letter (from /proc/<pid>/stat)."""
    parents, states = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        states[int(entry.name)], parents[int(entry.name)] = fields[0], int(fields[1])
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in states:
            found[pid] = states[pid]
            todo.extend(child for child, parent in parents.items() if parent == pid)
    return found


def error_lines(text: str) -> list[str]:
    """The ERROR lines of a command's output (one format everywhere)."""
    return [line for line in text.splitlines() if " ERROR " in line]
