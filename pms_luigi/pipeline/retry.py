"""In-process retries of transient store errors (``[pms_retry]``), with tenacity.

Only connection-level failures of the database or Redis are retried (the original
system's policy: 2 retries, 30 s apart, configurable); anything else fails at once. Every
store access of a step goes through :func:`call` — its lock, status checks, run history,
input reads, the write, the publish — and so do the runner's own reads
(:mod:`pms_luigi.ops.runner`): a database restart shorter than the policy's span is ridden
out, a longer one ends the command with STORE_UNAVAILABLE (6), Redis with
CACHE_UNAVAILABLE (5).
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TypeVar

import redis
import tenacity

from pms_luigi.core.errors import TransientStoreError
from pms_luigi.pipeline.context import RetrySettings
from pms_luigi.store.engine import CONNECTION_ERRORS

log = logging.getLogger("pms_luigi")
T = TypeVar("T")

#: What is retried: a lost or refused connection to the database or Redis, and
#: ``TransientStoreError`` (the database found unreachable where a caller already turned the
#: driver's error into the one-line message).
TRANSIENT = (*CONNECTION_ERRORS, TransientStoreError, redis.exceptions.ConnectionError,
             redis.exceptions.TimeoutError)


def retrying(policy: RetrySettings, what: str) -> tenacity.Retrying:
    """The retry policy for ``what`` (a phase name for the log line)."""
    wait = tenacity.wait_exponential(multiplier=policy.wait_seconds, exp_base=policy.backoff) \
        if policy.backoff > 1 else tenacity.wait_fixed(policy.wait_seconds)
    if policy.jitter_seconds > 0:
        wait = wait + tenacity.wait_random(0, policy.jitter_seconds)

    def _log(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("transient error during %s (attempt %d of %d): %s", what,
                    state.attempt_number, policy.attempts, brief(exc))

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts), wait=wait,
        retry=tenacity.retry_if_exception_type(TRANSIENT), before_sleep=_log, reraise=True)


def brief(exc: BaseException | None) -> str:
    """One line for a transient error: a database error's class and the driver's first line
    (never the statement or its parameters), a Redis error's class only (its text may
    quote the URL)."""
    if exc is None:
        return ""
    if isinstance(exc, CONNECTION_ERRORS):
        orig = exc.orig or exc
        first = (str(orig).strip().splitlines() or [""])[0]
        return f"{type(orig).__name__}: {first}"
    if isinstance(exc, TransientStoreError):
        return str(exc)
    return type(exc).__name__


def call(policy: RetrySettings, what: str, attempts: dict[str, int],
         fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` under the policy; ``attempts[what]`` counts the attempts made (the
    largest count when ``what`` is retried in several places of one run)."""
    for attempt in retrying(policy, what):
        with attempt:
            attempts[what] = max(attempts.get(what, 0), attempt.retry_state.attempt_number)
            return fn(*args)
    raise AssertionError("unreachable")  # pragma: no cover


def single(policy: RetrySettings) -> RetrySettings:
    """The policy with one attempt: for a last record after the store already failed a
    whole policy's worth of attempts (waiting that long again would only delay the exit)."""
    return dataclasses.replace(policy, attempts=1)


@dataclasses.dataclass
class Guard:
    """The store accesses of one run under one policy, their attempts counted per phase
    (``lock``, ``history``, ``status``, ``read``, ``write``, ``publish``): the marker's
    metadata and ``task_runs.attempts`` report them."""

    policy: RetrySettings
    attempts: dict[str, int] = dataclasses.field(default_factory=dict)

    def __call__(self, what: str, fn: Callable[..., T], *args: object) -> T:
        return call(self.policy, what, self.attempts, fn, *args)

    @property
    def most(self) -> int:
        """The most attempts any phase took (1 when nothing was tried yet)."""
        return max(self.attempts.values(), default=0) or 1
