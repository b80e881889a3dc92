"""The pack's charts as PNG bytes (matplotlib, Agg canvas), and the Content-IDs that tie
them to the HTML.

Why PNG: mail clients show PNG parts referenced by ``cid:`` reliably, data URIs and SVG not.
Determinism: matplotlib's object API on the Agg canvas (no pyplot global state), PNGs saved
without the "Software" metadata — the same pack gives the same bytes. Fonts: DejaVu Sans
(bundled with matplotlib).
"""
from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from pms_luigi.report.formats import shortdate

#: Charts in display order: DI1 curve (today vs D-1 vs D-5) and equity curve with drawdown.
CHART_NAMES: Final[tuple[str, ...]] = ("di1_curve", "equity_curve")

_CID_SRC: Final = re.compile(r"""(src\s*=\s*["'])cid:([^"']+)(["'])""", re.IGNORECASE)
_RC: Final = MappingProxyType({
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
})


def chart_cids(names: Sequence[str] | Mapping[str, Any],
               domain: str = "pms-luigi") -> dict[str, str]:
    """Content-IDs for the chart parts: ``name@domain`` (no angle brackets), stable across runs
    so the HTML — and its digest — does not change between identical reruns.

    >>> chart_cids(["di1_curve"])
    {'di1_curve': 'di1_curve@pms-luigi'}
    """
    return {name: f"{name}@{domain}" for name in names}


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


def swap_cids(html: str, replace: Callable[[str], str]) -> str:
    """``html`` with every ``src="cid:X"`` image source replaced by ``replace(X)``."""
    return _CID_SRC.sub(lambda m: f"{m.group(1)}{replace(m.group(2))}{m.group(3)}", html)


def cid_resolver(pngs: Mapping[str, bytes],
                 cids: Mapping[str, str] | None) -> Callable[[str], str | None]:
    """Content-ID -> chart name (None when no PNG has it); ``cids`` is the name -> CID mapping
    the HTML was rendered with (default :func:`chart_cids`); any ``name@domain`` is accepted."""
    mapping = {v: k for k, v in (cids or chart_cids(pngs)).items()}
    for name in pngs:
        mapping.setdefault(name, name)

    def resolve(cid: str) -> str | None:
        name = mapping.get(cid) or mapping.get(cid.split("@", 1)[0])
        return name if name in pngs else None

    return resolve


def _figure(width_in: float, height_in: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - heavy, lazy
    from matplotlib.figure import Figure  # noqa: PLC0415 - heavy, lazy

    fig = Figure(figsize=(width_in, height_in), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None}, facecolor="white")
    return buf.getvalue()


def _di1_chart(block: Mapping[str, Any], dpi: int) -> bytes | None:
    """DI1 settlement curve: last session vs the previous one vs 5 sessions before (x = du)."""
    vertices = [v for v in block.get("vertices", []) if v.get("du") is not None]
    if len(vertices) < 2:
        return None
    import matplotlib  # noqa: PLC0415 - heavy: loaded only when a chart is drawn

    with matplotlib.rc_context(_RC):
        fig = _figure(5.0, 3.3)
        ax = fig.add_subplot(1, 1, 1)
        x = [v["du"] for v in vertices]
        series = (
            ("rate_d5_pct", f"D-5 ({shortdate(block.get('d5_session'))})", "#9ca3af", "--"),
            ("rate_prev_pct", f"D-1 ({shortdate(block.get('vs_session'))})", "#60a5fa", "-"),
            ("rate_pct", f"Last ({shortdate(block.get('session'))})", "#1d4ed8", "-"),
        )
        for key, label, color, style in series:
            pts = [(xx, v[key]) for xx, v in zip(x, vertices, strict=True)
                   if v.get(key) is not None]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=color,
                        marker="o", markersize=3.5,
                        linewidth=1.8 if key == "rate_pct" else 1.3, label=label)
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
    import matplotlib  # noqa: PLC0415 - heavy: loaded only when a chart is drawn
    from matplotlib.dates import AutoDateLocator, DateFormatter  # noqa: PLC0415

    with matplotlib.rc_context(_RC):
        fig = _figure(5.0, 3.5)
        gs = fig.add_gridspec(2, 1, height_ratios=(2.2, 1.0), hspace=0.08)
        ax1 = fig.add_subplot(gs[0])
        ax2 = fig.add_subplot(gs[1], sharex=ax1)
        xs = [datetime.fromisoformat(p["date"]) for p in pts]
        dd = [p["drawdown_pct"] for p in pts]
        ax1.plot(xs, [p["index"] for p in pts], color="#1d4ed8", linewidth=1.6)
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
