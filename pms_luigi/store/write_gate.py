"""One SQLite writer at a time across processes, woken as soon as the writer is done.

SQLite lets one connection write at a time. A second writer is refused with SQLITE_BUSY and
waits in SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25 … ms between tries:
while a pipelined backfill's two processes take turns writing (each step writes its
rows, its marker and its run history), a writer waiting for a 10 ms transaction sleeps
about 18 ms, and the MTM chain — the backfill's critical path — loses several ms a date.

The gate is an ``flock`` on a file beside the database, taken before a connection's first
write statement of a transaction and released when the transaction ends: a waiting
process is woken by the kernel the moment the holder lets go, and reads (WAL readers
never block) take nothing. The lock belongs to the DBAPI connection's own descriptor, so
a process that dies releases it with its descriptors; a connection closed by the pool
closes its descriptor. Waiting is bounded (``timeout_s``, the busy timeout's): past it the
write goes ahead and SQLite's own locking decides, so the gate can delay, never deadlock,
even two connections of one thread.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

_FD, _HELD = "pms_write_gate_fd", "pms_write_gate_held"
#: Statements that never write (anything else takes the gate: conservative).
_READS = ("SELECT", "PRAGMA", "EXPLAIN")


class WriteGate:
    """The gate of one SQLite database file; :meth:`install` it on the file's engine."""

    def __init__(self, db_path: str, timeout_s: float = 60.0) -> None:
        self.path = Path(f"{db_path}.write-gate")
        self.timeout_s = timeout_s

    def install(self, engine: Engine) -> None:
        sa.event.listen(engine.pool, "connect", self._open)
        sa.event.listen(engine.pool, "close", self._close)
        sa.event.listen(engine.pool, "reset", self._pool_release)
        sa.event.listen(engine, "before_cursor_execute", self._before_execute)
        sa.event.listen(engine, "commit", self._release)
        sa.event.listen(engine, "rollback", self._release)

    def _open(self, _dbapi_conn: Any, record: Any) -> None:
        record.info[_FD] = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        record.info[_HELD] = False

    def _close(self, _dbapi_conn: Any, record: Any) -> None:
        fd = record.info.pop(_FD, None)
        record.info[_HELD] = False
        if fd is not None:
            os.close(fd)  # releases the lock if held

    def _before_execute(self, conn: sa.Connection, _cursor: Any, statement: str, *_: Any
                        ) -> None:
        info = conn.info
        if info.get(_HELD) or _FD not in info or statement.lstrip()[:7].upper().startswith(_READS):
            return
        self._acquire(info[_FD])
        info[_HELD] = True

    def _acquire(self, fd: int) -> None:
        """Block until the gate is ours, polling briefly, up to ``timeout_s``."""
        deadline, pause = time.monotonic() + self.timeout_s, 0.0002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return  # let SQLite's own lock decide
                time.sleep(pause)
                pause = min(pause * 2, 0.001)

    def _release(self, conn: sa.Connection) -> None:
        self._unlock(conn.info)

    def _pool_release(self, dbapi_connection: Any, connection_record: Any, reset_state: Any
                      ) -> None:
        self._unlock(connection_record.info)

    @staticmethod
    def _unlock(info: dict[str, Any]) -> None:
        if info.get(_HELD):
            info[_HELD] = False
            with contextlib.suppress(OSError):
                fcntl.flock(info[_FD], fcntl.LOCK_UN)
