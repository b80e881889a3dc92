"""One status-grid cell's drill-down, as display text: the marker, its metadata, the latest
run and the latest failure of a (family, date).

The output is a list of sections ``[title, [[label, value], ...]]`` of plain strings — the
shape the page's embedded JSON carries and its script renders as tables (with
``textContent``: nothing here is ever parsed as HTML), and the shape a JSON endpoint of the
desk console can return for the same script. Times are shown in BRT; a database that
returns naive timestamps (SQLite) stored them in UTC.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from pms_luigi.core.calendar import TIMEZONE

Section = list[Any]  # [title, [[label, value], ...]]

#: Longest metadata value shown whole (characters); longer ones are summarised.
VALUE_CHARS: Final = 120
#: Longest error text shown (the head of a traceback names the failure).
ERROR_CHARS: Final = 2000


def brt(ts: datetime | None, seconds: bool = True) -> str:
    """``2026-11-26 19:02:11`` in BRT (naive input is UTC); ``""`` for None."""
    if ts is None:
        return ""
    aware = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
    return aware.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M:%S" if seconds else
                                               "%Y-%m-%d %H:%M")


def short_run(run_id: str | None) -> str:
    """The first 8 hex digits of a run id: enough to grep a log or ``task_runs``."""
    return (run_id or "")[:8]


def basic(marker: Mapping[str, Any] | None) -> list[Any] | None:
    """The one-line marker every cell carries: ``[short run id, finished (BRT, minutes),
    duration in seconds]``; None without a marker."""
    if marker is None:
        return None
    return [short_run(marker["run_id"]), brt(marker["finished_at"], seconds=False),
            round(float(marker["duration_s"]), 2)]


def summarise(value: Any) -> str:
    """A metadata value as one short line: scalars as they are, a list or object as compact
    JSON when it is short, else its size (``{2 keys: pnl_sum, contrib_sum} 9.3 kB``)."""
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if len(text) <= VALUE_CHARS:
        return text
    size = f"{len(text) / 1000:.1f} kB"
    if isinstance(value, dict):
        keys = ", ".join(list(value)[:4]) + (", …" if len(value) > 4 else "")
        return f"{{{len(value)} keys: {keys}}} {size}"
    if isinstance(value, list):
        return f"[{len(value)} items] {size}"
    return f"{text[:VALUE_CHARS]}… {size}"


def _marker_section(marker: Mapping[str, Any]) -> Section:
    rows = [["run_id", marker["run_id"]], ["version", str(marker["version"])],
            ["started", brt(marker["started_at"])], ["finished", brt(marker["finished_at"])],
            ["duration", f"{float(marker['duration_s']):.2f} s"],
            ["rows written", f"{int(marker['rows_written']):,}"],
            ["payload digest", f"{marker['payload_digest'][:16]}…"]]
    rows += [[f"upstream {key}", short_run(run)]
             for key, run in sorted(dict(marker["upstream"] or {}).items())]
    return ["marker", rows]


def _metadata_section(metadata_json: str | None) -> Section:
    if metadata_json is None:  # the caller read the metadata of other cells only
        return ["metadata", [["not read", "for this cell"]]]
    return ["metadata", [[str(k), summarise(v)] for k, v in json.loads(metadata_json).items()]]


def _run_rows(run: Mapping[str, Any]) -> list[list[str]]:
    return [["run_id", run["run_id"]], ["status", run["status"]],
            ["started", brt(run["started_at"])], ["finished", brt(run["finished_at"])],
            ["attempts", str(run["attempts"])], ["host", run["host"]]]


def _last_run_section(run: Mapping[str, Any], marker: Mapping[str, Any] | None) -> Section:
    rows = _run_rows(run)
    if marker is not None and run["run_id"] == marker["run_id"]:
        rows = [["run_id", "the marker's"], rows[1], *rows[4:]]  # its times are above
    return ["last run", [*rows, ["runs", str(run["runs"])]]]


def _failure_section(failure: Mapping[str, Any], last_run: Mapping[str, Any] | None) -> Section:
    rows = _run_rows(failure)[:4]
    if last_run is not None and failure["run_id"] == last_run["run_id"]:
        rows = [["run_id", "the last run's"]]  # its times are above
    error = failure["error"] or ""
    if len(error) > ERROR_CHARS:
        error = f"{error[:ERROR_CHARS]}… ({len(error):,} characters)"
    return ["last failure", [*rows, ["failure class", failure["failure"] or "unrecorded"],
                             ["error", error]]]


def sections(marker: Mapping[str, Any] | None, last_run: Mapping[str, Any] | None,
             failure: Mapping[str, Any] | None) -> list[Section]:
    """The cell's drill-down: marker and metadata (or that there is none), the latest run
    and how many the cell had, the latest failure's class and error (a row that would
    repeat the section above says so instead)."""
    out: list[Section] = []
    if marker is None:
        out.append(["marker", [["none", "no marker: not built, or invalidated"]]])
    else:
        out += [_marker_section(marker), _metadata_section(marker["metadata_json"])]
    if last_run is not None:
        out.append(_last_run_section(last_run, marker))
    if failure is not None:
        out.append(_failure_section(failure, last_run))
    return out
