"""The SQLite write gate (``store/write_gate.py``): writers queue on an ``flock`` beside the
database, taken at a transaction's first write and released when it ends; reads take
nothing; a process that dies holding it releases it."""
from __future__ import annotations

import fcntl
import multiprocessing
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from pms_luigi.store import engine as engine_mod


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[sa.Engine, Path]]:
    path = tmp_path / "gate.db"
    engine = engine_mod.get_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
    yield engine, Path(f"{path}.write-gate")
    engine.dispose()


def _free(gate: Path) -> bool:
    """Whether another open file description can take the gate now."""
    fd = os.open(gate, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # releases it if taken
    return True


def test_a_write_holds_the_gate_until_commit_or_rollback_and_a_read_never_does(db) -> None:
    engine, gate = db
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar_one() == 0
        assert _free(gate)  # a read-only transaction holds nothing
    for end in ("commit", "rollback"):
        with engine.connect() as conn:
            conn.execute(sa.text("INSERT INTO t VALUES (1)"))
            assert not _free(gate)
            getattr(conn, end)()
            assert _free(gate), end
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM t"))
        assert not _free(gate)
    assert _free(gate)


def _die_writing(url: str) -> None:
    engine_mod.dispose_all()
    with engine_mod.get_engine(url).connect() as conn:
        conn.execute(sa.text("INSERT INTO t VALUES (2)"))
        os.kill(os.getpid(), signal.SIGKILL)


def test_a_writer_killed_mid_transaction_releases_the_gate(db) -> None:
    engine, gate = db
    proc = multiprocessing.get_context("fork").Process(target=_die_writing,
                                                       args=(str(engine.url),))
    proc.start()
    proc.join()
    assert proc.exitcode == -signal.SIGKILL
    assert _free(gate)
    with engine.begin() as conn:  # and the next writer goes ahead: nothing was committed
        conn.execute(sa.text("INSERT INTO t VALUES (3)"))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT x FROM t")).scalars().all() == [3]
