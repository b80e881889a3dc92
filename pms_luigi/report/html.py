"""Render the morning pack: HTML email body, PNG charts, PDF, the MIME message, files on disk.

Why these choices (finance-conventions.md §4.3-4.4): the PM reads the pack at 06:30 on a
phone, so the **email body is primary** — HTML with inline CSS, no JavaScript (clients strip
it), one fluid column, charts as PNG parts referenced by Content-ID (Gmail/Outlook do not show
data-URI or SVG images reliably). The PDF (A4) is the archive/compliance copy, rendered by
WeasyPrint from the same HTML with the CID images swapped for data URIs. Fonts: DejaVu Sans
(installed with WeasyPrint's system deps and bundled with matplotlib; Arial is absent).

Safety: Jinja2 runs with ``autoescape=True`` and ``StrictUndefined``, so an instrument or
strategy named ``<script>alert(1)</script>`` is shown as text and a template typo fails in
tests instead of rendering blanks; WeasyPrint may fetch only ``data:`` URLs (no network, no
files).

Determinism: same pack -> same HTML string, same PNG bytes (matplotlib Agg without the
"Software" metadata) — the rerun check compares digests.

This module imports jinja2, matplotlib (object API on the Agg canvas, no pyplot global state)
and weasyprint, never luigi/sqlalchemy/redis; only :func:`write_outputs` touches the disk.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import tempfile
import textwrap
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

import jinja2

from pms_luigi.core.pack import fmt_bps, fmt_brl, fmt_pct, pack_json

__all__ = [
    "CHART_NAMES",
    "chart_cids",
    "render_html",
    "render_text",
    "render_charts",
    "render_pdf",
    "pdf_document",
    "build_email",
    "write_outputs",
]

#: Charts in display order: DI1 curve (today vs D-1 vs D-5) and equity curve with drawdown.
CHART_NAMES: tuple[str, ...] = ("di1_curve", "equity_curve")

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "morning_pack.html"

_POS = "#1b7f3b"
_NEG = "#c62828"
_MUTED = "#6b7280"
_LIGHT_COLORS = {"green": "#2e7d32", "amber": "#f9a825", "red": "#c62828", "grey": "#9e9e9e"}
_PRIORITY_COLORS = {"CRITICAL": "#b71c1c", "HIGH": "#e65100", "MEDIUM": "#f9a825", "LOW": "#607d8b"}


def chart_cids(
    names: Sequence[str] | Mapping[str, Any], domain: str = "pms-luigi"
) -> dict[str, str]:
    """Content-IDs for the chart parts: ``name@domain`` (no angle brackets), stable across runs
    so the HTML — and its digest — does not change between identical reruns."""
    return {name: f"{name}@{domain}" for name in names}


# ============================================================================ HTML


def _num(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _f_brl(x: Any, nd: int = 0) -> str:
    return fmt_brl(_num(x), nd)


def _f_brl_signed(x: Any, nd: int = 0) -> str:
    return fmt_brl(_num(x), nd, signed=True)


def _f_bps(x: Any, nd: int = 1) -> str:
    return fmt_bps(_num(x), nd)


def _f_pct(x: Any, nd: int = 2, signed: bool = True) -> str:
    return fmt_pct(_num(x), nd, signed)


def _f_num(x: Any, nd: int = 2, signed: bool = False) -> str:
    v = _num(x)
    if v is None:
        return "n/a"
    if round(v, nd) == 0:
        return f"{0.0:,.{nd}f}"  # no "+0.00" / "-0.00"
    return f"{v:+,.{nd}f}" if signed else f"{v:,.{nd}f}"


def _f_usd(x: Any, nd: int = 0) -> str:
    v = _num(x)
    if v is None:
        return "n/a"
    return f"-US$ {abs(v):,.{nd}f}" if v < 0 else f"US$ {v:,.{nd}f}"


def _f_date(x: Any) -> str:
    """``2026-02-18`` -> ``Wed 18 Feb 2026`` (unambiguous for Brazilian and US readers)."""
    if not x:
        return "n/a"
    d = date.fromisoformat(str(x)[:10])
    return d.strftime("%a %d %b %Y")


def _f_short_date(x: Any) -> str:
    if not x:
        return "n/a"
    d = date.fromisoformat(str(x)[:10])
    return d.strftime("%d %b")


def _sign_color(x: Any, nd: int = 2) -> str:
    """Green/red by sign of the value *as displayed* with ``nd`` decimals: a residual of
    -R$ 0.30 shown as "R$ 0" must not be painted red."""
    v = _num(x)
    if v is None or round(v, nd) == 0:
        return "inherit"
    return _POS if v > 0 else _NEG


def _attribution_table(at: Mapping[str, Any], dim: str) -> list[dict[str, Any]]:
    """MTD and YTD side by side for one dimension: one row per bucket, MTD order first.

    Why: four stacked tables (2 periods x 2 dimensions) made the attribution the longest part
    of the pack (two PDF pages); the PM compares the month with the year bucket by bucket. A
    bucket whose P&L rounds to R$ 0 in both periods (the ``residual`` row of a clean day) is
    left out — it carries no information.
    """
    periods = at.get("periods") or {}
    mtd = {r["bucket"]: r for r in (periods.get("MTD") or {}).get(dim, [])}
    ytd = {r["bucket"]: r for r in (periods.get("YTD") or {}).get(dim, [])}
    order = list(mtd) + [b for b in ytd if b not in mtd]
    rows = []
    for b in order:
        m, y = mtd.get(b, {}), ytd.get(b, {})
        vals = [_num(m.get("pnl_brl")), _num(y.get("pnl_brl"))]
        if all(v is None or round(v) == 0 for v in vals):
            continue
        rows.append({"bucket": b, "mtd_brl": m.get("pnl_brl"), "mtd_bps": m.get("contribution_bps"),
                     "ytd_brl": y.get("pnl_brl"), "ytd_bps": y.get("contribution_bps")})
    return rows


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        {
            "brl": _f_brl,
            "brl_signed": _f_brl_signed,
            "bps": _f_bps,
            "pct": _f_pct,
            "num": _f_num,
            "usd": _f_usd,
            "longdate": _f_date,
            "shortdate": _f_short_date,
            "signcolor": _sign_color,
        }
    )
    env.globals.update(
        {
            "LIGHT_COLORS": _LIGHT_COLORS,
            "PRIORITY_COLORS": _PRIORITY_COLORS,
            "POS": _POS,
            "NEG": _NEG,
            "MUTED": _MUTED,
            "attribution_table": _attribution_table,
        }
    )
    return env


def render_html(pack: Mapping[str, Any], chart_cids: Mapping[str, str] | None = None) -> str:
    """The email body: one self-contained HTML page, inline CSS, no JavaScript.

    ``chart_cids`` maps a chart name (:data:`CHART_NAMES`) to the Content-ID of its PNG part;
    charts without a CID are left out (the numbers stay in the tables). Every pack string is
    autoescaped.
    """
    tpl = _environment().get_template(TEMPLATE_NAME)
    html = tpl.render(pack=pack, cids=dict(chart_cids or {})).lstrip()
    if re.search(r"<\s*script", html, flags=re.IGNORECASE):  # defence in depth: never ship JS
        raise ValueError("rendered morning pack contains a <script> tag")
    return html


def render_text(pack: Mapping[str, Any]) -> str:
    """Plain-text summary: the email's text/plain part and ``pms-luigi pack show``."""
    fund = str(pack.get("fund_name") or "").strip()
    lines = [
        f"{fund + ' - ' if fund else ''}Morning pack {pack['date']} "
        f"(book as of {pack['prev_date']} close)",
        "",
    ]
    s = pack.get("summary", {})
    book = s.get("book", {})
    if book.get("status") == "ok":
        lines.append(f"NAV          {_f_brl(book['nav_brl'])}")
        lines.append(f"P&L D-1      {_f_brl_signed(book['pnl_brl'])}  ({_f_bps(book['pnl_bps'])})")
    else:
        lines.append(f"Book         unavailable: {book.get('reason', 'n/a')}")
    for tag in ("mtd", "ytd"):
        p = s.get(tag, {})
        if p.get("status") == "ok":
            cdi = "" if p.get("pct_of_cdi") is None else f", {p['pct_of_cdi']:.0f}% of CDI"
            lines.append(
                f"{tag.upper():<12} {_f_bps(p['return_bps'])}  ({_f_pct(p['return_pct'], 2)}{cdi})"
            )
        else:
            lines.append(f"{tag.upper():<12} unavailable: {p.get('reason', 'n/a')}")
    v = s.get("var", {})
    if v.get("status") == "ok":
        use = "" if v.get("utilization_pct") is None else f", {v['utilization_pct']:.0f}% of limit"
        lines.append(
            f"VaR 95% 1d   {_f_brl(v['var95_brl'])}  ({_f_num(v['var95_bps'], 0)} bps{use})"
        )
    else:
        lines.append(f"VaR 95% 1d   unavailable: {v.get('reason', 'n/a')}")
    la = s.get("limit_alerts", {})
    if la.get("status") == "ok":
        lines.append(f"Limits       {la['n_breaches']} breach(es), {la['n_warnings']} warning(s)")
    ai = pack.get("action_items", {})
    if ai.get("items"):
        lines += ["", "Action items:"]
        lines += [f"  [{x['priority']}] {x['description']}" for x in ai["items"]]
    nar = pack.get("narrative", {})
    if nar.get("status") == "ok":  # wrapped: read in a terminal and as text/plain mail
        lines += ["", *textwrap.wrap(nar["text"], width=92, break_on_hyphens=False)]
    return "\n".join(lines) + "\n"


# ============================================================================ charts


def _figure(width_in: float, height_in: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None}, facecolor="white")
    return buf.getvalue()


_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e5e7eb",
    "grid.linewidth": 0.8,
    "axes.edgecolor": "#9ca3af",
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "legend.frameon": False,
    "svg.hashsalt": "pms-luigi",
}


def _di1_chart(block: Mapping[str, Any], dpi: int) -> bytes | None:
    """DI1 settlement curve: last session vs the previous one vs 5 sessions before (x = du)."""
    vertices = [v for v in block.get("vertices", []) if v.get("du") is not None]
    if len(vertices) < 2:
        return None
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = _figure(5.0, 3.3)
        ax = fig.add_subplot(1, 1, 1)
        x = [v["du"] for v in vertices]
        series = (
            ("rate_d5_pct", f"D-5 ({_f_short_date(block.get('d5_session'))})", "#9ca3af", "--"),
            ("rate_prev_pct", f"D-1 ({_f_short_date(block.get('vs_session'))})", "#60a5fa", "-"),
            ("rate_pct", f"Last ({_f_short_date(block.get('session'))})", "#1d4ed8", "-"),
        )
        for key, label, color, style in series:
            pts = [(xx, v[key]) for xx, v in zip(x, vertices) if v.get(key) is not None]
            if pts:
                ax.plot(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    style,
                    color=color,
                    marker="o",
                    markersize=3.5,
                    linewidth=1.8 if key == "rate_pct" else 1.3,
                    label=label,
                )
        ax.set_xticks(x)
        ax.set_xticklabels([v.get("vertex") or "" for v in vertices], rotation=0)
        ax.set_ylabel("rate, % a.a.")
        ax.set_title("DI1 curve (B3 settlement)", loc="left")
        ax.legend(loc="best")
        fig.tight_layout()
        return _png(fig, dpi)


def _equity_chart(block: Mapping[str, Any], dpi: int) -> bytes | None:
    """Performance index (flow-neutral, base 100) and drawdown from peak, in %."""
    pts = block.get("points") or []
    if len(pts) < 2:
        return None
    import matplotlib
    from matplotlib.dates import AutoDateLocator, DateFormatter

    with matplotlib.rc_context(_RC):
        fig = _figure(5.0, 3.5)
        gs = fig.add_gridspec(2, 1, height_ratios=(2.2, 1.0), hspace=0.08)
        ax1 = fig.add_subplot(gs[0])
        ax2 = fig.add_subplot(gs[1], sharex=ax1)
        xs = [datetime.fromisoformat(p["date"]) for p in pts]
        idx = [p["index"] for p in pts]
        dd = [p["drawdown_pct"] for p in pts]
        ax1.plot(xs, idx, color="#1d4ed8", linewidth=1.6)
        ax1.axhline(100.0, color="#9ca3af", linewidth=0.8)
        ax1.set_ylabel("index (base 100)")
        ax1.set_title("Equity curve and drawdown", loc="left")
        ax2.fill_between(xs, dd, 0.0, color="#ef4444", alpha=0.35, linewidth=0)
        ax2.plot(xs, dd, color="#b91c1c", linewidth=1.0)
        ax2.set_ylabel("DD %")
        ax2.set_ylim(min(min(dd) * 1.15, -0.05), 0.0)
        ax2.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=6))
        ax2.xaxis.set_major_formatter(DateFormatter("%d %b %y"))
        for lab in ax1.get_xticklabels():
            lab.set_visible(False)
        fig.subplots_adjust(left=0.15, right=0.93, top=0.91, bottom=0.11)
        return _png(fig, dpi)


def render_charts(pack: Mapping[str, Any], dpi: int = 200) -> dict[str, bytes]:
    """PNG bytes per chart name, only for charts whose data is available in the pack.

    di1_curve <- ``pack['market']['di1_curve']``;
    equity_curve <- ``pack['series']['equity_curve']``.
    Drawn 5 in wide with 10-12 pt text so the labels stay legible when the image is shown at
    a phone's ~360 CSS px; 1000 px wide at the default dpi (sharp on high-density screens).
    """
    out: dict[str, bytes] = {}
    di1 = pack.get("market", {}).get("di1_curve", {})
    if di1.get("status") == "ok":
        png = _di1_chart(di1, dpi)
        if png:
            out["di1_curve"] = png
    eq = pack.get("series", {}).get("equity_curve", {})
    if eq.get("status") == "ok":
        png = _equity_chart(eq, dpi)
        if png:
            out["equity_curve"] = png
    return out


# ============================================================================ PDF


_CID_SRC = re.compile(r"""(src\s*=\s*["'])cid:([^"']+)(["'])""", re.IGNORECASE)


def _swap_cids(html: str, replace: Any) -> str:
    return _CID_SRC.sub(lambda m: f"{m.group(1)}{replace(m.group(2))}{m.group(3)}", html)


def _cid_to_name(pngs: Mapping[str, bytes], cids: Mapping[str, str] | None) -> dict[str, str]:
    mapping = {v: k for k, v in (cids or chart_cids(pngs)).items()}
    for name in pngs:  # tolerate any "name@domain" cid scheme
        mapping.setdefault(name, name)
    return mapping


def _lookup(cid: str, mapping: Mapping[str, str], pngs: Mapping[str, bytes]) -> str | None:
    name = mapping.get(cid) or mapping.get(cid.split("@", 1)[0])
    return name if name in pngs else None


def _url_fetcher() -> Any:
    """A fetcher that serves only data: URLs — the PDF never reaches the network or disk."""
    try:
        from weasyprint.urls import URLFetcher
    except ImportError:  # WeasyPrint < 68: fetchers are plain functions
        from weasyprint import default_url_fetcher

        def fetch(url: str, timeout: int = 10, ssl_context: Any = None) -> Any:
            if not url.startswith("data:"):
                raise ValueError(f"blocked URL in morning pack PDF: {url[:60]}")
            return default_url_fetcher(url, timeout=timeout, ssl_context=ssl_context)

        return fetch
    return URLFetcher(allowed_protocols=["data"])


def pdf_document(
    html: str, pngs: Mapping[str, bytes], cids: Mapping[str, str] | None = None
) -> Any:
    """The laid-out WeasyPrint document (pages, for checks) of :func:`render_pdf`."""
    from weasyprint import HTML

    mapping = _cid_to_name(pngs, cids)

    def data_uri(cid: str) -> str:
        name = _lookup(cid, mapping, pngs)
        if name is None:
            return "data:,"
        return "data:image/png;base64," + base64.b64encode(pngs[name]).decode("ascii")

    return HTML(
        string=_swap_cids(html, data_uri), base_url=None, url_fetcher=_url_fetcher()
    ).render()


def render_pdf(
    html: str, pngs: Mapping[str, bytes], cids: Mapping[str, str] | None = None
) -> bytes:
    """A4 PDF of the pack: the email HTML with each ``cid:`` image inlined as a data URI.

    ``cids`` is the name -> Content-ID mapping used for the HTML (default :func:`chart_cids`).
    The print stylesheet in the template sets the body in two columns under a full-width
    header and shrinks the type, so the demo pack fits 4 A4 pages instead of 6
    (finance-conventions §4.3: "A4, 2-4 pages").
    """
    return pdf_document(html, pngs, cids).write_pdf()


# ============================================================================ email


def _subject(pack: Mapping[str, Any]) -> str:
    parts = [f"Morning pack {pack['date']}"]
    book = pack.get("summary", {}).get("book", {})
    if book.get("status") == "ok":
        parts.append(f"D-1 {_f_bps(book['pnl_bps'])}")
    ai = pack.get("action_items", {}).get("counts", {})
    if ai.get("CRITICAL"):
        parts.append(f"{ai['CRITICAL']} CRITICAL")
    fund = str(pack.get("fund_name") or "").strip()
    subject = " | ".join(parts)
    return f"[{fund}] {subject}" if fund else subject


def build_email(
    pack: Mapping[str, Any],
    html: str,
    pngs: Mapping[str, bytes],
    pdf: bytes | None,
    sender: str,
    recipients: Sequence[str] | str,
    *,
    cids: Mapping[str, str] | None = None,
    subject: str | None = None,
    when: datetime | None = None,
) -> EmailMessage:
    """The pack as one message: multipart/mixed [ multipart/alternative [ text/plain,
    multipart/related [ text/html, image/png (Content-ID) ... ] ], application/pdf ].

    ``cids`` must be the mapping the HTML was rendered with (default :func:`chart_cids`).
    ``when`` sets the Date header (the caller's clock; omitted when None so the message bytes
    are reproducible in tests).
    """
    cids = dict(cids or chart_cids(pngs))
    to = [recipients] if isinstance(recipients, str) else list(recipients)
    if not to:
        raise ValueError("build_email: at least one recipient is required")
    msg = EmailMessage()
    msg["Subject"] = subject or _subject(pack)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if when is not None:
        msg["Date"] = format_datetime(when)
    msg.set_content(render_text(pack))
    msg.add_alternative(html, subtype="html")
    html_part = msg.get_payload()[1]
    for name in CHART_NAMES:
        if name in pngs and name in cids and f"cid:{cids[name]}" in html:
            html_part.add_related(
                pngs[name],
                maintype="image",
                subtype="png",
                cid=f"<{cids[name]}>",
                filename=f"{name}.png",
                disposition="inline",
            )
    if pdf is not None:
        msg.add_attachment(
            pdf, maintype="application", subtype="pdf", filename=f"morning_pack_{pack['date']}.pdf"
        )
    return msg


# ============================================================================ files


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder + rename: readers never see half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the pack is read by other users/web server
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_outputs(
    out_dir: str | Path,
    on: date,
    html: str,
    pdf: bytes | None,
    pngs: Mapping[str, bytes],
    pack_json_text: str | Mapping[str, Any],
    cids: Mapping[str, str] | None = None,
    eml: EmailMessage | bytes | None = None,
) -> dict[str, Path]:
    """Write the pack's files into ``out_dir`` and return {kind: path}.

    Files: ``morning_pack.json`` (canonical JSON), ``morning_pack.html`` (browser copy: the
    ``cid:`` images point to the PNG files next to it), ``morning_pack.pdf``,
    ``<chart>.png`` and, when given, ``morning_pack.eml``. ``on`` is recorded in nothing but
    the caller's folder choice; it is checked against the pack JSON when that carries a date.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = pack_json_text if isinstance(pack_json_text, str) else pack_json(pack_json_text)
    try:
        packed_date = json.loads(text).get("date")
    except (ValueError, AttributeError):
        packed_date = None
    if packed_date is not None and packed_date != on.isoformat():
        raise ValueError(f"write_outputs: pack is dated {packed_date}, not {on.isoformat()}")
    paths: dict[str, Path] = {}
    for name in sorted(pngs):
        p = out / f"{name}.png"
        _atomic_write(p, pngs[name])
        paths[name] = p
    mapping = _cid_to_name(pngs, cids)

    def file_ref(cid: str) -> str:
        name = _lookup(cid, mapping, pngs)
        return f"{name}.png" if name else "data:,"

    paths["json"] = out / "morning_pack.json"
    _atomic_write(paths["json"], text.encode("utf-8"))
    paths["html"] = out / "morning_pack.html"
    _atomic_write(paths["html"], _swap_cids(html, file_ref).encode("utf-8"))
    if pdf is not None:
        paths["pdf"] = out / "morning_pack.pdf"
        _atomic_write(paths["pdf"], pdf)
    if eml is not None:
        paths["eml"] = out / "morning_pack.eml"
        _atomic_write(paths["eml"], eml if isinstance(eml, bytes) else eml.as_bytes())
    return paths
