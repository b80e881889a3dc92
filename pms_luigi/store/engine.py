"""One SQLAlchemy engine per process and URL, migrations, the per-step lock and its write
fence, and URLs fit to print (password masked).

SQLite (embedded default) runs in WAL mode with a busy timeout so several Luigi worker
processes can read while one writes, and writers queue on a gate that wakes the next one as
soon as the last is done (:mod:`~pms_luigi.store.write_gate`); PostgreSQL (production)
uses a pre-pinged pool.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import MappingProxyType
from urllib.parse import unquote

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pms_luigi.core.errors import TransientStoreError
from pms_luigi.store.write_gate import WriteGate

_ENGINES: dict[tuple[str, int], Engine] = {}
log = logging.getLogger("pms_luigi")


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
    ``postgresql://user@host/db`` and ``postgresql+psycopg2://user@host/db`` are one engine;
    a raw ``@`` in the password is read as the operator meant it (:func:`with_quoted_at`).
    """
    url = with_driver(with_quoted_at(url))
    key = (url, os.getpid())
    engine = _ENGINES.get(key)
    if engine is None:
        if url.startswith("sqlite"):
            db_path = sa.engine.make_url(url).database
            if db_path:
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url, connect_args={"timeout": 60})
            sa.event.listen(engine, "connect", _sqlite_pragmas)
            if db_path and db_path != ":memory:":
                WriteGate(db_path).install(engine)
        else:
            engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        _ENGINES[key] = engine
    return engine


def dispose_all() -> None:
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


def mask_url(url: str) -> str:
    """Hide the password of any URL (DB or Redis) before it reaches a log or an error.

    The password runs from the first ``:`` after ``//`` to the *last* ``@`` of the URL, so
    one holding a raw ``@`` (``pms:p@ss@db``) is hidden whole, and so is one after a user
    name holding a raw ``@``. An ``@`` after the host (in the query string) then hides the
    host too: more is hidden, never less.

    Examples:
        >>> mask_url("postgresql+psycopg2://pms:S3cr@t@db:5432/pms")
        'postgresql+psycopg2://pms:***@db:5432/pms'
        >>> mask_url("postgresql://ops@desk:p@ss@w0rd@db/pms")
        'postgresql://ops@desk:***@db/pms'
        >>> mask_url("redis://:pw@cache:6379/0"), mask_url("redis://cache:6379/0")
        ('redis://:***@cache:6379/0', 'redis://cache:6379/0')
    """
    return _USERINFO.sub(r"//\g<user>:***@", url)


#: ``//user:password@``, the password up to the last ``@`` (greedy): see :func:`mask_url`.
_USERINFO = re.compile(r"//(?P<user>[^:/]*):(?P<password>.*)@")


def password_of(url: str) -> str:
    """The text :func:`mask_url` hides (empty when the URL has no password)."""
    found = _USERINFO.search(url)
    return found["password"] if found else ""


def with_quoted_at(url: str) -> str:
    """``url`` with a raw ``@`` of its user information percent-encoded (``%40``).

    A host never holds an ``@``, so when the URL's authority (up to the first ``/``, ``?``
    or ``#``) holds several, the last one ends the user information — as Python's URL
    parser (and so redis-py) reads it. SQLAlchemy and libpq stop at the first one instead:
    ``pms:S3cr@t@db`` would connect to the host ``t@db``, and the driver's error would
    print that part of the password.

    Examples:
        >>> with_quoted_at("postgresql://pms:S3cr@t@db:5432/pms")
        'postgresql://pms:S3cr%40t@db:5432/pms'
        >>> with_quoted_at("postgresql://pms:pw@db/pms?application_name=a@b")
        'postgresql://pms:pw@db/pms?application_name=a@b'
    """
    scheme, sep, rest = url.partition("://")
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority = rest[:end]
    if not sep or authority.count("@") < 2:
        return url
    userinfo, _, host = authority.rpartition("@")
    return f"{scheme}://{userinfo.replace('@', '%40')}@{host}{rest[end:]}"


def db_unavailable(url: str, exc: BaseException) -> TransientStoreError:
    """A connection failure as operations need it: which database (password masked), why
    (the driver's first line, with the password scrubbed should the driver echo it)."""
    orig = getattr(exc, "orig", None)
    reason = (str(orig or exc).strip().splitlines() or ["connection failed"])[0]
    return TransientStoreError(f"database unavailable at {mask_url(url)}: "
                               f"{scrub(reason, url)}")


def scrub(text: str, url: str) -> str:
    """``text`` (a driver's message) with ``url``'s password, as written or decoded,
    replaced by ``***``."""
    secret = password_of(url)
    for shown in sorted({secret, unquote(secret)} - {""}, key=len, reverse=True):
        text = text.replace(shown, "***")
    return text


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


def lock_key(family: str, business_date: date, purpose: str = "") -> int:
    """The 64-bit PostgreSQL advisory-lock key of (family, date) — of its run, or with
    ``purpose="write"`` of its marker write (see :func:`write_fence`)."""
    name = f"{family}@{business_date.isoformat()}" + (f"#{purpose}" if purpose else "")
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


#: What a lost or refused database connection raises.
CONNECTION_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError)


@contextlib.contextmanager
def step_lock(engine: Engine, lock_dir: Path, family: str, business_date: date) -> Iterator[None]:
    """Serialise runs of one (family, date) across processes and machines.

    PostgreSQL: a session advisory lock on a dedicated connection, so workers on other
    machines wait too. SQLite: an ``flock`` on a file beside the database (one machine).
    The second runner waits, then finds the marker written and skips.

    A session lock dies with its connection (a terminated backend, a restarted server):
    another run may then take it while this one still works. That cannot be prevented
    here, so it is made harmless where it matters: the marker write is fenced
    (:func:`write_fence`, :func:`pms_luigi.store.markers.fence`), and a lock found lost at
    the unlock is a warning, not the run's failure (the server released it already).
    """
    if engine.dialect.name != "postgresql":
        with _flocked(lock_dir, family, business_date, blocking=True):
            yield
        return
    key = lock_key(family, business_date)
    conn = engine.connect()
    try:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        conn.commit()
    except BaseException:
        _close(conn)
        raise
    try:
        yield
    finally:
        _unlock(conn, key, f"{family} {business_date}")


@contextlib.contextmanager
def step_lock_if_free(engine: Engine, lock_dir: Path, family: str,
                      business_date: date) -> Iterator[bool]:
    """:func:`step_lock` without waiting: yields True holding the lock, False (holding
    nothing) when a run of (family, date) holds it now."""
    if engine.dialect.name != "postgresql":
        with _flocked(lock_dir, family, business_date, blocking=False) as held:
            yield held
        return
    key = lock_key(family, business_date)
    conn = engine.connect()
    try:
        held = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                                 {"k": key}).scalar_one())
        conn.commit()
    except BaseException:
        _close(conn)
        raise
    if not held:
        _close(conn)
        yield False
        return
    try:
        yield True
    finally:
        _unlock(conn, key, f"{family} {business_date}")


def write_fence(conn: sa.Connection, family: str, business_date: date) -> None:
    """Serialise the marker writes of (family, date) until the caller's transaction ends.

    PostgreSQL: a transaction advisory lock on the pair's *write* key (not the run key,
    which this process's own lock connection holds: waiting on it here would wait on
    ourselves). SQLite needs nothing: its step lock is an ``flock``, which only the death
    of the process holding it releases, and a dead process writes nothing more."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"),
                     {"k": lock_key(family, business_date, "write")})


def _unlock(conn: sa.Connection, key: int, what: str) -> None:
    try:
        conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        conn.commit()
    except CONNECTION_ERRORS as exc:
        log.warning("%s: the step lock's database connection was lost while the run held "
                    "it (%s); the server released the lock with it, and the marker write "
                    "was fenced", what, type(exc.orig or exc).__name__)
    finally:
        _close(conn)


def _close(conn: sa.Connection) -> None:
    with contextlib.suppress(*CONNECTION_ERRORS):
        conn.close()


@contextlib.contextmanager
def _flocked(lock_dir: Path, family: str, business_date: date,
             blocking: bool) -> Iterator[bool]:
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"{family}@{business_date.isoformat()}.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
