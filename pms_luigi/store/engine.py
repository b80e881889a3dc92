"""One SQLAlchemy engine per process and URL, migrations, and the per-step lock.

SQLite (embedded default) runs in WAL mode with a busy timeout so several Luigi worker
processes can read while one writes; PostgreSQL (production) uses a pre-pinged pool.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import MappingProxyType

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pms_luigi.core.errors import TransientStoreError

_ENGINES: dict[tuple[str, int], Engine] = {}


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DBAPI connection
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=60000")
    # 64 MiB page cache per connection (SQLite's default is 2 MiB): a backfill step reads a
    # year-long price window and appends to tables of 10⁵–10⁶ rows (the gain is in
    # docs/benchmarks.md). Pages are only cached as they are touched.
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


#: The DBAPI driver of a URL that names none, per dialect: SQLAlchemy 2.1 maps a bare
#: ``postgresql://`` to psycopg 3, which is not a dependency; psycopg2 is.
DEFAULT_DRIVERS = MappingProxyType({"postgresql": "psycopg2"})


def with_driver(url: str) -> str:
    """``url`` with its DBAPI driver named: a bare ``postgresql://`` becomes
    ``postgresql+psycopg2://`` (see :data:`DEFAULT_DRIVERS`); any other URL, a driver
    already named included, is returned unchanged (text, password and query kept).

    Examples:
        >>> with_driver("postgresql://pms@db.internal/pms?sslmode=require")
        'postgresql+psycopg2://pms@db.internal/pms?sslmode=require'
        >>> with_driver("postgresql+psycopg://pms@db/pms"), with_driver("sqlite:///var/pms.db")
        ('postgresql+psycopg://pms@db/pms', 'sqlite:///var/pms.db')
    """
    scheme, sep, rest = url.partition("://")
    driver = DEFAULT_DRIVERS.get(scheme) if sep else None
    return f"{scheme}+{driver}://{rest}" if driver else url


def get_engine(url: str) -> Engine:
    """The process's engine for ``url`` (rebuilt after a fork: pools must not cross PIDs).

    A URL that names no driver gets the project's (:func:`with_driver`), so
    ``postgresql://user@host/db`` and ``postgresql+psycopg2://user@host/db`` are one engine.
    """
    url = with_driver(url)
    key = (url, os.getpid())
    engine = _ENGINES.get(key)
    if engine is None:
        if url.startswith("sqlite"):
            db_path = sa.engine.make_url(url).database
            if db_path:
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url, connect_args={"timeout": 60})
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        _ENGINES[key] = engine
    return engine


def dispose_all() -> None:
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


def mask_url(url: str) -> str:
    """Hide the password of any URL (DB or Redis) before it reaches a log or an error."""
    return re.sub(r"//([^:/@]*):([^@]*)@", r"//\1:***@", url)


def db_unavailable(url: str, exc: sa.exc.OperationalError) -> TransientStoreError:
    """A connection failure as operations need it: which database (password masked), why."""
    reason = (str(exc.orig or exc).strip().splitlines() or ["connection failed"])[0]
    return TransientStoreError(f"database unavailable at {mask_url(url)}: {reason}")


def describe(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent)."""
    from alembic import command  # noqa: PLC0415 - Alembic loads only when migrating
    from alembic.config import Config  # noqa: PLC0415

    here = Path(__file__).resolve().parent
    cfg = Config()
    cfg.set_main_option("script_location", str(here / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def _lock_key(family: str, business_date: date) -> int:
    digest = hashlib.sha256(f"{family}@{business_date.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def step_lock(engine: Engine, lock_dir: Path, family: str, business_date: date) -> Iterator[None]:
    """Serialise runs of one (family, date) across processes and machines.

    PostgreSQL: a session advisory lock on a dedicated connection, so workers on other
    machines wait too. SQLite: an ``flock`` on a file beside the database (one machine).
    The second runner waits, then finds the marker written and skips.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            key = _lock_key(family, business_date)
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
    else:
        lock_dir.mkdir(parents=True, exist_ok=True)
        path = lock_dir / f"{family}@{business_date.isoformat()}.lock"
        with open(path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
