"""The plain-text summary of a pack: the e-mail's text/plain part and ``pms-luigi pack show``."""
from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

from pms_luigi.report.formats import bps, brl, brl_signed, num, pct

_WIDTH = 92  # read in a terminal and as text/plain mail


def render_text(pack: Mapping[str, Any]) -> str:
    """Header, NAV and P&L, MTD/YTD, VaR, limit counts, action items and the narrative."""
    fund = str(pack.get("fund_name") or "").strip()
    lines = [f"{fund + ' - ' if fund else ''}Morning pack {pack['date']} "
             f"(book as of {pack['prev_date']} close)", ""]
    s = pack.get("summary", {})
    lines += _summary_lines(s)
    ai = pack.get("action_items", {})
    if ai.get("items"):
        lines += ["", "Action items:"]
        lines += [f"  [{x['priority']}] {x['description']}" for x in ai["items"]]
    nar = pack.get("narrative", {})
    if nar.get("status") == "ok":
        lines += ["", *textwrap.wrap(nar["text"], width=_WIDTH, break_on_hyphens=False)]
    return "\n".join(lines) + "\n"


def _summary_lines(s: Mapping[str, Any]) -> list[str]:
    """The summary block: one line per figure, its reason when unavailable."""
    lines = []
    book = s.get("book", {})
    if book.get("status") == "ok":
        lines.append(f"NAV          {brl(book['nav_brl'])}")
        lines.append(f"P&L D-1      {brl_signed(book['pnl_brl'])}  ({bps(book['pnl_bps'])})")
    else:
        lines.append(f"Book         unavailable: {book.get('reason', 'n/a')}")
    for tag in ("mtd", "ytd"):
        p = s.get(tag, {})
        if p.get("status") == "ok":
            cdi = "" if p.get("pct_of_cdi") is None else f", {p['pct_of_cdi']:.0f}% of CDI"
            lines.append(f"{tag.upper():<12} {bps(p['return_bps'])}  "
                         f"({pct(p['return_pct'], 2)}{cdi})")
        else:
            lines.append(f"{tag.upper():<12} unavailable: {p.get('reason', 'n/a')}")
    v = s.get("var", {})
    if v.get("status") == "ok":
        use = "" if v.get("utilization_pct") is None else f", {v['utilization_pct']:.0f}% of limit"
        lines.append(f"VaR 95% 1d   {brl(v['var95_brl'])}  ({num(v['var95_bps'], 0)} bps{use})")
    else:
        lines.append(f"VaR 95% 1d   unavailable: {v.get('reason', 'n/a')}")
    la = s.get("limit_alerts", {})
    if la.get("status") == "ok":
        lines.append(f"Limits       {la['n_breaches']} breach(es), {la['n_warnings']} warning(s)")
    return lines
