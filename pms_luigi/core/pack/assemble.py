"""Assemble the morning pack from its sections, and its canonical JSON and digest.

The pack is read at 06:30 on a phone and archived for compliance, so it must be
reproducible to the byte from persisted inputs: every list has an explicit total sort order,
every dict is emitted with sorted keys (:func:`canonical`), and floats are rounded once, in
the sections, at the precision of what they measure (:mod:`.values`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from datetime import date
from typing import Any, Final

import numpy as np

from pms_luigi.core import calendar as cal
from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.frames import json_safe
from pms_luigi.core.pack import (
    action_items,
    calendar,
    market,
    narrative,
    positions,
    proposals,
    risk,
    series,
    signal_changes,
    summary,
)
from pms_luigi.core.pack.inputs import PackInputs
from pms_luigi.core.pack.values import date_col, iso, to_date

SCHEMA_VERSION: Final = 1

#: Reading order of the pack's sections (the HTML follows it).
SECTIONS: Final[tuple[str, ...]] = (
    "summary",
    "action_items",
    "market",
    "positions",
    "risk",
    "proposals",
    "signal_changes",
    "calendar",
    "narrative",
)


def assemble_pack(inp: PackInputs) -> dict[str, Any]:
    """Assemble the morning pack for D from persisted outputs; pure and deterministic.

    Returns:
        The canonical pack: schema_version, date, prev_date, fund_name, sections (the
        reading order), series (chart data: the equity curve) and one block per section.

    Raises:
        InvalidInput: when D is not an ANBIMA business day, P is not before D, or the book /
            risk snapshot passed is dated other than P (a wiring bug, not a data gap).
    """
    d, p = _checked_dates(inp)
    inp = dataclasses.replace(inp, date=d, prev_date=p)
    dq = inp.dq_issues
    if dq is not None and len(dq):
        dq = dq.loc[date_col(dq["business_date"]).isin([p, d])]

    equity = series.equity_series(inp)
    risk_section = risk.build(inp)
    sections: dict[str, Any] = {
        "summary": summary.build(inp, risk_section, equity, dq),
        "market": market.build(inp),
        "positions": positions.build(inp),
        "risk": risk_section,
        "proposals": proposals.build(inp),
        "signal_changes": signal_changes.build(inp),
        "calendar": calendar.build(inp),
    }
    sections["action_items"] = action_items.build(inp, sections, dq)
    sections["narrative"] = narrative.build(p, sections)
    return canonical({
        "schema_version": SCHEMA_VERSION,
        "date": d.isoformat(),
        "prev_date": p.isoformat(),
        "fund_name": inp.fund_name,
        "sections": list(SECTIONS),
        "series": {"equity_curve": equity},
        **sections,
    })


def _checked_dates(inp: PackInputs) -> tuple[date, date]:
    """(D, P) as dates: D an ANBIMA business day, P before it, the book and risk rows at P."""
    d, p = to_date(inp.date), to_date(inp.prev_date)
    if d is None or p is None:
        raise InvalidInput("pack date and prev_date are required", table="morning_packs",
                           field="business_date")
    if not cal.is_business_day(d):
        raise InvalidInput(f"morning pack date {d.isoformat()} is not an ANBIMA business day: "
                           f"{cal.holiday_name(d)}", table="morning_packs", row=d.isoformat(),
                           field="business_date")
    if p >= d:
        raise InvalidInput(f"prev_date {p.isoformat()} must be before the pack date "
                           f"{d.isoformat()}", table="morning_packs", row=d.isoformat(),
                           field="prev_date")
    for label, row, tbl in (("book", inp.book, "book_snapshots"),
                            ("risk", inp.risk, "risk_snapshots")):
        if row is not None and row.get("business_date") is not None \
                and to_date(row["business_date"]) != p:
            raise InvalidInput(f"{label} snapshot is dated {iso(row['business_date'])}, expected "
                               f"P = {p.isoformat()} for the pack of {d.isoformat()}",
                               table=tbl, row=iso(row["business_date"]), field="business_date")
    return d, p


def canonical(obj: Any) -> Any:
    """A JSON-able copy with sorted dict keys: ``frames.json_safe`` values, -0.0 as 0.0.

    Why sorted keys: the pack's digest (and the idempotent rerun check) must not depend on
    dict insertion order, numpy scalar types or pandas' NaN; and -0.0 would print as a
    move that did not happen.

    >>> canonical({"b": np.float64(-0.0), "a": [np.int64(1), float("nan")]})
    {'a': [1, None], 'b': 0.0}
    """
    if isinstance(obj, Mapping):
        return {str(k): canonical(obj[k]) for k in sorted(obj, key=str)}
    if isinstance(obj, list | tuple | np.ndarray):
        return [canonical(v) for v in obj]
    v = json_safe(obj)
    return 0.0 if isinstance(v, float) and v == 0 else v


def pack_json(pack: Mapping[str, Any]) -> str:
    """The canonical JSON text of a pack: sorted keys, compact, UTF-8 (what the DB stores)."""
    return json.dumps(canonical(pack), sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"), allow_nan=False)


def pack_digest(pack: Mapping[str, Any]) -> str:
    """SHA-256 of :func:`pack_json`: equal inputs give an equal digest (rerun check)."""
    return hashlib.sha256(pack_json(pack).encode("utf-8")).hexdigest()
