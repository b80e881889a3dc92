"""A database URL as operations write it: a plain ``postgresql://user@host/db`` works, and
so does a password holding a raw ``@``.

SQLAlchemy 2.1 maps a URL without a driver to psycopg 3, which the project does not install;
``get_engine`` names the project's driver (psycopg2) when the URL names none, in that one place.
SQLAlchemy (like libpq) ends the password at its first ``@``, taking the rest for the host;
``get_engine`` percent-encodes the ``@`` of the user information when the authority holds
several (a host never holds one), as Python's URL parser and redis-py read such a URL.
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


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://pms:p@ss@db:5432/pms", "postgresql://pms:p%40ss@db:5432/pms"),
    ("postgresql+psycopg2://pms:a@b@c@db/pms?x=1",
     "postgresql+psycopg2://pms:a%40b%40c@db/pms?x=1"),
    ("postgresql://pms:pw@db/pms?application_name=a@b",  # an '@' after the host: untouched
     "postgresql://pms:pw@db/pms?application_name=a@b"),
    ("postgresql://pms:p%40ss@db/pms", "postgresql://pms:p%40ss@db/pms"),
    ("sqlite:///var/pms@x.db", "sqlite:///var/pms@x.db"),
])
def test_a_raw_at_of_the_user_information_is_percent_encoded(url: str, expected: str) -> None:
    assert engine_mod.with_quoted_at(url) == expected


def test_a_password_with_a_raw_at_connects_to_the_right_host() -> None:
    """The test server trusts its clients: any password connects, so this shows the URL was
    read with the host after the *last* ``@`` (SQLAlchemy alone would try host ``ss@…``)."""
    named = sa.engine.make_url(PG_URL)
    raw = f"postgresql+psycopg2://{named.username}:p@ss@{named.host}:{named.port or 5432}/" \
          f"{named.database}"
    engine = engine_mod.get_engine(raw)
    try:
        assert engine.url.host == named.host
        assert engine.url.password == "p@ss"  # noqa: S105 - the URL's own, decoded
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        engine_mod.dispose_all()
