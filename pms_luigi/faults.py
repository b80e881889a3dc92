"""Deterministic fault injection for the crash and outage suites.

A fault point is a named place in a step's run (``after_read``, ``before_commit`` inside the
DB transaction, ``after_commit`` before publishing, ``mid_publish`` inside the Redis
MULTI/EXEC before EXEC). It is inert unless the environment names it:

    PMS_FAULT=<family>:<point>          SIGKILL the process there, as a power cut would
    PMS_FAULT=<family>:<point>:pause    SIGSTOP the process there once, so a test can break
                                        a store (stop Redis, terminate the DB backend) at an
                                        exact moment and then SIGCONT it

Why SIGKILL: no ``finally``, no atexit, no rollback sent by the client — the stores must cope
on their own (the DB rolls back the open transaction, Redis never sees EXEC). Why a one-shot
pause: a retried attempt passes the same point again and must not stop a second time.

Pure stdlib, so ``cache`` (which knows nothing of Luigi) can call it too.
"""
from __future__ import annotations

import os
import signal

POINTS = ("after_read", "before_commit", "after_commit", "mid_publish")


def fault_point(name: str, family: str) -> None:
    """Kill (or pause once) the process here when ``PMS_FAULT`` names ``family:name``."""
    target = os.environ.get("PMS_FAULT")
    if not target:
        return
    where = f"{family}:{name}"
    if target == where:
        os.kill(os.getpid(), signal.SIGKILL)
    elif target == f"{where}:pause":
        del os.environ["PMS_FAULT"]  # once: this process never pauses again
        os.kill(os.getpid(), signal.SIGSTOP)
