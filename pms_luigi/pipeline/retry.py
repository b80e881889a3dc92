"""In-process retries of transient store errors (``[pms_retry]``), with tenacity.

Only connection-level failures of the database or Redis are retried (the original
system's policy: 2 retries, 30 s apart, configurable); anything else fails at once.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import redis
import sqlalchemy as sa
import tenacity

from pms_luigi.pipeline.context import RetrySettings

log = logging.getLogger("pms_luigi")
T = TypeVar("T")

TRANSIENT = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError,
             redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def retrying(policy: RetrySettings, what: str) -> tenacity.Retrying:
    """The retry policy for ``what`` (a phase name for the log line)."""
    wait = tenacity.wait_exponential(multiplier=policy.wait_seconds, exp_base=policy.backoff) \
        if policy.backoff > 1 else tenacity.wait_fixed(policy.wait_seconds)
    if policy.jitter_seconds > 0:
        wait = wait + tenacity.wait_random(0, policy.jitter_seconds)

    def _log(state: tenacity.RetryCallState) -> None:
        log.warning("transient error during %s (attempt %d): %s", what, state.attempt_number,
                    state.outcome.exception() if state.outcome else "")

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts), wait=wait,
        retry=tenacity.retry_if_exception_type(TRANSIENT), before_sleep=_log, reraise=True)


def call(policy: RetrySettings, what: str, attempts: dict[str, int],
         fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` under the policy; ``attempts[what]`` counts the attempts made."""
    for attempt in retrying(policy, what):
        with attempt:
            attempts[what] = attempt.retry_state.attempt_number
            return fn(*args)
    raise AssertionError("unreachable")  # pragma: no cover
