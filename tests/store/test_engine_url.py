"""A database URL as operations write it: a plain ``postgresql://user@host/db`` works.

SQLAlchemy 2.1 maps a URL without a driver to psycopg 3, which the project does not install;
``get_engine`` names the project's driver (psycopg2) when the URL names none, in that one place.
"""
from __future__ import annotations

import doctest

import pytest
import sqlalchemy as sa

from pms_luigi.store import engine as engine_mod
from tests.conftest import PG_URL


def _bare(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme.split('+')[0]}://{rest}"


def test_a_plain_postgresql_url_connects_with_psycopg2() -> None:
    bare = _bare(PG_URL)
    assert bare.startswith("postgresql://")
    with pytest.raises(ModuleNotFoundError, match="psycopg"):  # what SQLAlchemy alone does
        sa.create_engine(bare)
    engine = engine_mod.get_engine(bare)
    try:
        assert engine.dialect.driver == "psycopg2"
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
        named = sa.engine.make_url(PG_URL).set(drivername="postgresql+psycopg2")
        assert engine_mod.get_engine(named.render_as_string(hide_password=False)) is engine
    finally:
        engine_mod.dispose_all()


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://pms@db/pms", "postgresql+psycopg2://pms@db/pms"),
    ("postgresql://pms:s3cr%40t@db:5433/pms?sslmode=require&options=-csearch_path%3Dx",
     "postgresql+psycopg2://pms:s3cr%40t@db:5433/pms?sslmode=require&options=-csearch_path%3Dx"),
    ("postgresql+psycopg2://pms@db/pms", "postgresql+psycopg2://pms@db/pms"),
    ("postgresql+psycopg://pms@db/pms", "postgresql+psycopg://pms@db/pms"),
    ("sqlite:///var/pms.db", "sqlite:///var/pms.db"),
    ("sqlite://", "sqlite://"),
])
def test_only_a_url_without_driver_gets_one(url: str, expected: str) -> None:
    assert engine_mod.with_driver(url) == expected


def test_the_doctests_of_the_engine_module() -> None:
    result = doctest.testmod(engine_mod)
    assert result.failed == 0 and result.attempted > 0
