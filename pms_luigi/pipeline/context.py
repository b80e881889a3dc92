"""The run context: what one build shares, built once and handed to every step.

A build (``pms-luigi run``, a backfill, a rerun, one ``luigi --module …`` process) reads
its settings, opens its stores and learns the fund once; its steps then share:

- ``settings``: store URLs, folders and the ``[pms_*]`` sections, read when the context is
  made (so ``LUIGI_CONFIG_PATH`` and the ``PMS_*`` variables of that moment apply);
- ``stores``: the engine and the Redis cache (from the process-level pools, per process:
  a forked worker gets its own connections);
- ``memo``: the status memo of the build (see :mod:`pms_luigi.pipeline.status`);
- ``window``: the input window of a backfill chunk, when one is open;
- ``fund`` and ``reference``: the fund's settings and the reference files (limits, stress
  scenarios, proposal policy), each read once;
- ``carried``: state one date's step leaves for the next date's (see :class:`Carried`).

How a Luigi task finds it: Luigi builds tasks from their parameters alone, so the runner
*activates* the context for the duration of its build (:func:`activated`) and a step asks
for :func:`current`. Without an activated context — the ``luigi`` binary, a test calling a
step directly — :func:`current` makes one for the environment of the moment and keeps it
while that environment stays the same. The only process-level state below this is the
engine pool and the Redis client pool.
"""
from __future__ import annotations

import contextlib
import contextvars
import copy
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import sqlalchemy as sa

from pms_luigi.cache.client import get_redis
from pms_luigi.cache.publish import Cache
from pms_luigi.core import attribution, mtm, risk
from pms_luigi.pipeline import config as cfg
from pms_luigi.pipeline.landing import Landing
from pms_luigi.pipeline.memo import StatusMemo
from pms_luigi.store import readers as rd
from pms_luigi.store.engine import db_unavailable, get_engine
from pms_luigi.store.window import InputWindow

T = TypeVar("T")


@dataclass(frozen=True)
class MtmSettings:
    """``[pms_mtm]``: stale-price policy, VaR window and history, expiry warning horizon."""

    max_stale_bd: int
    var_window: int
    var_min_history: int
    expiry_horizon_bd: int


@dataclass(frozen=True)
class RetrySettings:
    """``[pms_retry]``: in-process retries of transient store errors."""

    attempts: int
    wait_seconds: float
    backoff: float
    jitter_seconds: float


@dataclass(frozen=True)
class Settings:
    """Everything a build reads from ``luigi.cfg`` and the environment, read once."""

    database_url: str
    redis_url: str
    namespace: str
    data_dir: Path
    cache_ttl_days: int
    cache_window_bd: int
    config_dir: Path
    output_dir: Path
    fund_name: str
    inception_override: str
    initial_nav_override: str
    mtm: MtmSettings
    retry: RetrySettings
    landing: Landing
    #: ``[pms_proposals] min_days_to_expiry``
    min_days_to_expiry: int = 20

    @classmethod
    def from_environment(cls) -> Settings:
        store, fund, mtm, retry = cfg.pms_store(), cfg.pms_fund(), cfg.pms_mtm(), cfg.pms_retry()
        return cls(
            database_url=cfg.database_url(), redis_url=cfg.redis_url(),
            namespace=cfg.namespace(), data_dir=cfg.data_dir(),
            cache_ttl_days=store.cache_ttl_days, cache_window_bd=store.cache_window_bd,
            config_dir=cfg.config_dir(), output_dir=cfg.output_dir(),
            fund_name=fund.name, inception_override=fund.inception_date,
            initial_nav_override=fund.initial_nav,
            mtm=MtmSettings(mtm.max_stale_bd, mtm.var_window, mtm.var_min_history,
                            mtm.expiry_horizon_bd),
            retry=RetrySettings(retry.attempts, retry.wait_seconds, retry.backoff,
                                retry.jitter_seconds),
            landing=Landing.from_config(),
            min_days_to_expiry=cfg.pms_proposals().min_days_to_expiry)

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies the stores: two contexts with the same key see the same data."""
        return (self.database_url, self.redis_url, self.namespace)


def environment_key() -> tuple[str, str, str]:
    """:attr:`Settings.key` of the environment of the moment (cheap: no folder is made)."""
    return (cfg.database_url(), cfg.redis_url(), cfg.namespace())


@dataclass(frozen=True)
class Stores:
    """The build's database engine and Redis cache."""

    engine: sa.Engine
    cache: Cache
    cache_window_bd: int
    lock_dir: Path


@dataclass(frozen=True)
class Fund:
    name: str
    inception: date
    initial_nav: float


@dataclass
class ReferenceFiles:
    """The fund's reference files under the config folder, parsed once per content.

    Each request reads the file's bytes and parses them only when they differ from the last
    parse (content, not modification time, decides), so an edit made while a long backfill
    runs is seen by the next step. Callers get their own copy.
    """

    folder: Path
    _parsed: dict[str, tuple[bytes, Any]] = field(default_factory=dict)

    def _get(self, name: str, parse: Callable[[bytes], T]) -> T:
        raw = (self.folder / name).read_bytes()
        held = self._parsed.get(name)
        if held is None or held[0] != raw:
            held = self._parsed[name] = (raw, parse(raw))
        return copy.deepcopy(held[1])

    def limits(self) -> pd.DataFrame:
        return self._get("limits.csv", lambda raw: pd.read_csv(io.BytesIO(raw)))

    def stress_scenarios(self) -> dict[str, Any]:
        return self._get("stress_scenarios.json", json.loads)

    def proposal_policy(self) -> dict[str, Any]:
        return self._get("proposal_policy.json", json.loads)


@dataclass(frozen=True)
class AttributionRun:
    """What one attribution run leaves for the next date's: its rows, the book series it
    read (inception to its date) and that series' equity-curve JSON (as the payload
    writes it), so the next date reads and writes only the books after it."""

    rows: pd.DataFrame
    books: pd.DataFrame
    curve_json: str


@dataclass
class Carried:
    """What one date's step leaves for the next date's within a build.

    Nothing here is trusted as is: each entry is keyed by, or checked against, what the next
    date reads, and rebuilt from the database when it does not match.

    ``attribution_runs``: what the attribution run the build last wrote read and wrote
    (:class:`AttributionRun`), keyed by (date, run_id). A run_id names one commit of rows
    and marker together, so when the marker of the next date's chain base carries that
    run_id these are its rows and the books it read, and need not be read again; a run that
    did not commit never appears in a marker.

    ``attribution_reference``: the reference data (tags, style, asset classes) prepared for
    the last date; reused while the strategies and instruments read are the same.

    ``risk_factors``: the factor-change window of the last risk snapshot; the next date's
    prices are compared with the rows it holds before any of it is reused
    (:meth:`pms_luigi.core.risk.FactorHistory.advance`).

    ``mtm_ledger``: the trade ledger after the last MTM's date
    (:class:`pms_luigi.core.mtm.LedgerState`); the next MTM folds only the trades read after
    the ones it holds, when the trades it reads start with exactly those (checked value for
    value by the engine).

    ``performance_index``: the performance index of the books up to the last MTM's date,
    keyed by (date, run_id) of the run that wrote that date's book. MTM(D) reuses it when
    the book it reads for D−1 is that run's and holds the pnl_bps last folded in: MTM(D)
    only runs when the MTM chain back to inception is valid, so every earlier book is then
    the one the index was folded from.
    """

    attribution_runs: dict[tuple[date, str], AttributionRun] = field(default_factory=dict)
    attribution_reference: attribution.Reference | None = None
    risk_factors: risk.FactorHistory | None = None
    mtm_ledger: mtm.LedgerState | None = None
    performance_index: dict[tuple[date, str], risk.PerformanceIndex] = field(
        default_factory=dict)


class RunContext:
    """One build's settings, stores, memo, input window, fund, reference data and carried
    state (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.memo = StatusMemo()
        self.window: InputWindow | None = None
        self.reference = ReferenceFiles(settings.config_dir)
        self.carried = Carried()
        self._stores: tuple[int, Stores] | None = None
        self._fund: Fund | None = None

    @classmethod
    def from_environment(cls) -> RunContext:
        return cls(Settings.from_environment())

    @property
    def stores(self) -> Stores:
        """The stores of this process (a forked worker opens its own connections)."""
        pid = os.getpid()
        if self._stores is None or self._stores[0] != pid:
            s = self.settings
            cache = Cache(get_redis(s.redis_url), s.namespace, s.cache_ttl_days * 86_400)
            self._stores = (pid, Stores(get_engine(s.database_url), cache, s.cache_window_bd,
                                        s.data_dir / "locks"))
        return self._stores[1]

    @property
    def fund(self) -> Fund:
        """The ``fund`` table's row, overridden by ``[pms_fund]`` where set; read once."""
        if self._fund is None:
            self._fund = self._read_fund()
        return self._fund

    def _read_fund(self) -> Fund:
        s = self.settings
        try:
            with self.stores.engine.connect() as conn:
                row = rd.fund_row(conn)
        except sa.exc.OperationalError as exc:
            raise db_unavailable(s.database_url, exc) from exc
        if row is None and not s.inception_override:
            raise RuntimeError("no fund configured: load data (pms-luigi demo / load) or set "
                               "[pms_fund] inception_date and initial_nav")
        inception = date.fromisoformat(s.inception_override) if s.inception_override \
            else row["inception_date"]
        nav = float(s.initial_nav_override) if s.initial_nav_override \
            else float(row["initial_nav"])
        return Fund(row["name"] if row else s.fund_name, inception, nav)

    @contextlib.contextmanager
    def input_window(self, last: date) -> Iterator[InputWindow]:
        """Serve the steps' input reads dated up to ``last`` from one read per table
        (:mod:`pms_luigi.store.window`) while the block runs."""
        outer, self.window = self.window, InputWindow(last)
        try:
            yield self.window
        finally:
            self.window = outer


#: The context of the running build: set by :func:`activated`, or made by :func:`current`.
_CURRENT: contextvars.ContextVar[tuple[bool, RunContext] | None] = contextvars.ContextVar(
    "pms_run_context", default=None)


def active() -> RunContext | None:
    """The context a caller activated (:func:`activated`), if any."""
    held = _CURRENT.get()
    return held[1] if held is not None and held[0] else None


def current() -> RunContext:
    """The active build's context; without one, the environment's (made on first use and
    remade when the store URLs or namespace change)."""
    held = _CURRENT.get()
    if held is not None and (held[0] or held[1].settings.key == environment_key()):
        return held[1]
    ctx = RunContext.from_environment()
    _CURRENT.set((False, ctx))
    return ctx


def forget() -> None:
    """Drop the environment's context (not an activated one): the next :func:`current`
    reads settings and the fund again — after loading a new fund into the same stores."""
    held = _CURRENT.get()
    if held is not None and not held[0]:
        _CURRENT.set(None)


@contextlib.contextmanager
def activated(ctx: RunContext | None = None) -> Iterator[RunContext]:
    """Make ``ctx`` (default: a new one from the environment) the context of every step
    run in this block, in this process and in workers forked from it."""
    ctx = ctx or RunContext.from_environment()
    token = _CURRENT.set((True, ctx))
    try:
        yield ctx
    finally:
        _CURRENT.reset(token)
