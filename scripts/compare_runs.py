"""Compare what two runs of the batch stored: same NAV path, marks, risk, attribution, proposals,
data-quality rows and morning packs?

Usage::

    python scripts/compare_runs.py BEFORE/pms.db AFTER/pms.db

Each argument is a SQLite database written by ``pms-luigi demo`` (``<data_dir>/pms.db``).
Rows are matched on their natural key; columns that name a run rather than a result
(``run_id``, timestamps, surrogate ids) are left out. Prints one line per table with the
number of rows, the rows that differ and the largest absolute difference of a number, and
exits 1 when anything differs. Used to show that a refactoring kept every figure.
"""
from __future__ import annotations

import argparse
import json
import math
import sqlite3
import sys
from typing import Any

#: table -> natural key (ordering), columns ignored
TABLES: dict[str, tuple[list[str], set[str]]] = {
    "book_snapshots": (["business_date"], {"run_id"}),
    "position_marks": (["business_date", "instrument_id", "strategy_id"], {"run_id"}),
    "risk_snapshots": (["business_date"], {"run_id"}),
    "attribution": (["business_date", "period", "dimension", "bucket"], {"run_id"}),
    "performance_stats": (["business_date", "period"], {"run_id"}),
    "data_quality_issues": (["business_date", "step", "instrument_id", "field"], {"run_id"}),
    "proposals": (["business_date", "instrument_id", "action", "side"],
                  {"run_id", "proposal_id", "created_at", "updated_at"}),
    "morning_packs": (["business_date"], {"run_id", "digest", "html"}),
}
#: keys inside JSON documents that identify a run, not a result
VOLATILE_KEYS = {"run_id", "generated_at", "proposal_id", "digest", "upstream_run_ids"}


def _rows(path: str, table: str, key: list[str], ignored: set[str]) -> dict[tuple, dict]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        cur = conn.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - fixed table names
        rows = [dict(r) for r in cur]
    finally:
        conn.close()
    return {tuple(r[k] for k in key): {c: _load(v) for c, v in r.items() if c not in ignored}
            for r in rows}


def _load(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return _strip(json.loads(value))
        except json.JSONDecodeError:
            return value
    return value


def _strip(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _strip(v) for k, v in doc.items() if k not in VOLATILE_KEYS}
    if isinstance(doc, list):
        return [_strip(v) for v in doc]
    return doc


def _diff(a: Any, b: Any, path: str, out: list[tuple[str, float | None]]) -> None:
    """Collect (path, |a-b| or None) for every leaf that differs."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            _diff(a.get(k), b.get(k), f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{path}[{i}]", out)
    elif isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        if a != b and not (math.isnan(a) and math.isnan(b)):
            out.append((path, abs(a - b)))
    elif a != b:
        out.append((path, None))


def compare(before: str, after: str, show: int = 5) -> bool:
    same = True
    for table, (key, ignored) in TABLES.items():
        a, b = _rows(before, table, key, ignored), _rows(after, table, key, ignored)
        diffs: list[tuple[str, float | None]] = []
        only = len(set(a) ^ set(b))
        for k in sorted(set(a) & set(b), key=str):
            _diff(a[k], b[k], f"{table}{list(k)}", diffs)
        worst = max((d for _, d in diffs if d is not None), default=0.0)
        ok = not diffs and not only
        same &= ok
        print(f"{table:22s} rows {len(a):7d} / {len(b):7d}  only-in-one {only:5d}  "
              f"differing values {len(diffs):6d}  max |diff| {worst:.3g}  "
              f"{'SAME' if ok else 'DIFFERENT'}")
        for path, d in diffs[:show]:
            print(f"    {path}: {'changed' if d is None else f'|diff| {d:.3g}'}")
    return same


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--show", type=int, default=5, help="differences to print per table")
    args = p.parse_args(argv)
    return 0 if compare(args.before, args.after, args.show) else 1


if __name__ == "__main__":
    sys.exit(main())
