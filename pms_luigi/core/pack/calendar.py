"""Section ``calendar``: today's B3 session, the next B3 holiday, closures and maturities
ahead (from the ANBIMA and B3 calendars and the instrument master).

Every count and holiday uses the calendar in force on the pack's date D (``as_of=D``), so a
pack rebuilt for a past date shows what the market counted then.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from pms_luigi.core import calendar as cal
from pms_luigi.core.pack.inputs import PackInputs
from pms_luigi.core.pack.values import instrument_table, rnd, rows_on, unavailable

_YEAR_AHEAD = timedelta(days=400)


def build(inp: PackInputs) -> dict[str, Any]:
    """Calendar notes for D: session today, next session, next holiday, closures within
    ``calendar_horizon_bd`` business days, and the maturities in that horizon."""
    d = inp.date
    horizon_end = cal.add_business_days(d, inp.calendar_horizon_bd, as_of=d)
    year_ahead = cal.b3_holidays_between(d, d + _YEAR_AHEAD, as_of=d)
    nxt = year_ahead[0] if year_ahead else None
    next_session = cal.next_b3_session(d, as_of=d)
    out: dict[str, Any] = {
        "status": "ok",
        "date": d.isoformat(),
        "b3_session_today": cal.is_b3_session(d, as_of=d),
        "next_b3_session": next_session.isoformat(),
        "next_b3_holiday": None if nxt is None else {
            "date": nxt[0].isoformat(), "name": nxt[1], "weekday": nxt[0].strftime("%a"),
            "business_days_away": int(cal.du(d, nxt[0], as_of=d))},
        "closures_ahead": [{"date": x.isoformat(), "name": n, "weekday": x.strftime("%a")}
                           for x, n in year_ahead if x <= horizon_end],
        "horizon_end": horizon_end.isoformat(),
        "notes": _notes(d, next_session),
    }
    ins = instrument_table(inp)
    if ins is None:
        out["maturities_ahead"] = unavailable("the instruments reference table was not provided")
    else:
        out["maturities_ahead"] = _maturities(inp, ins, horizon_end)
    return out


def _notes(d: date, next_session: date) -> list[str]:
    """B3 closed today, Ash Wednesday's late open, B3 closed on the next business day."""
    notes = []
    if not cal.is_b3_session(d, as_of=d):
        notes.append(f"B3 is closed today ({cal.b3_holidays_between(d, d, as_of=d)[0][1]}): no "
                     "settlement prices.")
    if d.weekday() == 2 and "Carnival" in (cal.holiday_name(d - timedelta(days=1), as_of=d) or ""):
        notes.append("Ash Wednesday: B3 opens late (13:00 BRT).")
    next_bd = cal.next_business_day(d, as_of=d)
    if next_session != next_bd:
        notes.append(f"B3 closed on {next_bd.isoformat()}: next session "
                     f"{next_session.isoformat()}.")
    return notes


def _maturities(inp: PackInputs, ins: pd.DataFrame, horizon_end: date) -> list[dict[str, Any]]:
    """Instruments maturing in [D, horizon end] (active, or held at P), with the net
    quantity held and the business days (ANBIMA du) from D."""
    d = inp.date
    held = {}
    if inp.marks is not None and len(inp.marks):
        m = rows_on(inp.marks, "business_date", inp.prev_date)
        held = m.groupby(m["instrument_id"].astype(str))["quantity"].sum().astype(float).to_dict()
    mat = ins.loc[[x is not None and d <= x <= horizon_end for x in ins["maturity_date"]]]
    if "is_active" in mat.columns:
        mat = mat.loc[mat["is_active"].astype(bool)
                      | mat["instrument_id"].astype(str).isin(set(held))]
    mat = mat.sort_values(["maturity_date", "instrument_id"])
    if not len(mat):
        return []
    dus = cal.du(np.full(len(mat), np.datetime64(d, "D")),
                 np.array(list(mat["maturity_date"]), dtype="datetime64[D]"), as_of=d)
    rows = []
    cols = ["instrument_id", "name", "instrument_type", "maturity_date"]
    for (iid, name, typ, m_), du_ in zip(mat[cols].itertuples(index=False), dus, strict=True):
        q = held.get(str(iid))
        rows.append({"instrument_id": str(iid), "name": str(name), "instrument_type": str(typ),
                     "maturity_date": m_.isoformat(), "business_days_away": int(du_),
                     "held": q is not None and q != 0, "net_quantity": rnd(q, 6)})
    return rows
