"""Reference files under the config folder: limits, stress scenarios, proposal policy,
and the instrument/strategy master CSVs. Read on demand; the caller passes the folder.

Each read reads the file's bytes, but parses them only when they differ from the last
parse of that file (content, not modification time, decides: no timestamp granularity to
trust): a backfill's MTM step reads limits and scenarios once per date, and parsing them
was ~2 ms of each. Callers get their own copy, so nothing they do reaches the cache.
"""
from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

T = TypeVar("T")
#: per file: (its bytes at the last parse, what they parsed to)
_PARSED: dict[Path, tuple[bytes, Any]] = {}


def _parsed(path: Path, parse: Callable[[bytes], T]) -> T:
    raw = path.read_bytes()
    held = _PARSED.get(path)
    if held is None or held[0] != raw:
        held = _PARSED[path] = (raw, parse(raw))
    return copy.deepcopy(held[1])


def limits(config_dir: Path) -> pd.DataFrame:
    return _parsed(config_dir / "limits.csv", lambda raw: pd.read_csv(io.BytesIO(raw)))


def stress_scenarios(config_dir: Path) -> dict[str, Any]:
    return _parsed(config_dir / "stress_scenarios.json", json.loads)


def proposal_policy(config_dir: Path) -> dict[str, Any]:
    return _parsed(config_dir / "proposal_policy.json", json.loads)
