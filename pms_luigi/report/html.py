"""The e-mail body of the morning pack: one self-contained HTML page from the Jinja2
template ``templates/morning_pack.html``.

Why this shape: the PM reads the pack at 06:30 on a phone, so the e-mail body is primary —
inline CSS, no JavaScript (clients strip it), one fluid column, charts as PNG parts
referenced by Content-ID (web and desktop mail clients do not reliably show data-URI or SVG
images).

Safety: Jinja2 runs with ``autoescape=True`` and ``StrictUndefined``, so an instrument or
strategy named ``<script>alert(1)</script>`` is shown as text and a template typo fails in
tests instead of rendering blanks; a rendered ``<script>`` tag is refused as a last line of
defence. Determinism: the same pack gives the same HTML string.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import jinja2

from pms_luigi.report import formats

TEMPLATE_DIR: Final = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME: Final = "morning_pack.html"
_SCRIPT: Final = re.compile(r"<\s*script", flags=re.IGNORECASE)


def render_html(pack: Mapping[str, Any], chart_cids: Mapping[str, str] | None = None) -> str:
    """The e-mail body: one self-contained HTML page, inline CSS, no JavaScript.

    Args:
        pack: an assembled pack (``pms_luigi.core.pack.assemble_pack``).
        chart_cids: chart name -> Content-ID of its PNG part; charts without a CID are left
            out (the numbers stay in the tables).

    Raises:
        ValueError: the rendered page contains a ``<script>`` tag.
    """
    tpl = _environment().get_template(TEMPLATE_NAME)
    html = tpl.render(pack=pack, cids=dict(chart_cids or {})).lstrip()
    if _SCRIPT.search(html):  # defence in depth: never ship JS
        raise ValueError("rendered morning pack contains a <script> tag")
    return html


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update({
        "brl": formats.brl,
        "brl_signed": formats.brl_signed,
        "bps": formats.bps,
        "pct": formats.pct,
        "num": formats.num,
        "usd": formats.usd,
        "longdate": formats.longdate,
        "shortdate": formats.shortdate,
        "signcolor": formats.sign_color,
    })
    env.globals.update({
        "LIGHT_COLORS": formats.LIGHT_COLORS,
        "PRIORITY_COLORS": formats.PRIORITY_COLORS,
        "POS": formats.POS,
        "NEG": formats.NEG,
        "MUTED": formats.MUTED,
        "attribution_table": attribution_table,
    })
    return env


def attribution_table(at: Mapping[str, Any], dim: str) -> list[dict[str, Any]]:
    """MTD and YTD side by side for one dimension: one row per bucket, MTD order first.

    Why: four stacked tables (2 periods x 2 dimensions) made the attribution the longest part
    of the pack; the PM compares the month with the year bucket by bucket. A bucket whose
    P&L rounds to R$ 0 in both periods (the ``residual`` row of a clean day) is left out — it
    carries no information.
    """
    periods = at.get("periods") or {}
    mtd = {r["bucket"]: r for r in (periods.get("MTD") or {}).get(dim, [])}
    ytd = {r["bucket"]: r for r in (periods.get("YTD") or {}).get(dim, [])}
    rows = []
    for b in list(mtd) + [b for b in ytd if b not in mtd]:
        m, y = mtd.get(b, {}), ytd.get(b, {})
        vals = [formats.number(m.get("pnl_brl")), formats.number(y.get("pnl_brl"))]
        if all(v is None or round(v) == 0 for v in vals):
            continue
        rows.append({"bucket": b, "mtd_brl": m.get("pnl_brl"), "mtd_bps": m.get("contribution_bps"),
                     "ytd_brl": y.get("pnl_brl"), "ytd_bps": y.get("contribution_bps")})
    return rows
