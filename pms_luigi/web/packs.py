"""The pack archive: every stored morning pack, any date's pack as HTML or PDF, and the
difference between two dates' headline numbers.

The record is the database (``morning_packs``: the payload, the HTML, their digest), as for
``pms-luigi pack show|send``. The page's HTML is the stored HTML with its charts pointed at
this site — the same bytes the step wrote to ``morning_pack.html``. The PDF and the chart
PNGs are served from the files the pack step wrote (its marker records their paths) when
those files are this pack's — the ``morning_pack.json`` beside them hashes to the stored
digest — and re-rendered from the stored pack otherwise (deterministic renderers: the same
document), so a pack whose folder was cleaned up, or overwritten by another store's run,
still shows as it was stored.
"""
from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

from pms_luigi import report
from pms_luigi.core.errors import BadRequest, MissingData
from pms_luigi.pipeline.context import RunContext
from pms_luigi.report.charts import cid_resolver, swap_cids
from pms_luigi.store import console_queries as cq
from pms_luigi.web.base import ConsoleHandler, to_date

PACK_FAMILY = "pms.MorningPack"
#: the headline numbers compared between two packs: (label, path in the payload, format)
HEADLINES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("NAV", ("summary", "book", "nav_brl"), "brl"),
    ("P&L", ("summary", "book", "pnl_brl"), "brl"),
    ("P&L (bps of NAV)", ("summary", "book", "pnl_bps"), "bps"),
    ("MTD return", ("summary", "mtd", "return_bps"), "bps"),
    ("YTD return", ("summary", "ytd", "return_bps"), "bps"),
    ("YTD % of CDI", ("summary", "ytd", "pct_of_cdi"), "pct"),
    ("Gross notional", ("summary", "book", "gross_notional_brl"), "brl"),
    ("Net notional", ("summary", "book", "net_notional_brl"), "brl"),
    ("Leverage", ("summary", "book", "leverage"), "num"),
    ("Positions", ("summary", "book", "n_positions"), "int"),
    ("VaR 95%", ("summary", "var", "var95_brl"), "brl"),
    ("Limit breaches", ("risk", "n_breaches"), "int"),
    ("Limit warnings", ("risk", "n_warnings"), "int"),
    ("Data-quality errors", ("summary", "data_quality", "n_errors"), "int"),
    ("Proposals", ("proposals", "n_proposals"), "int"),
    ("Action items", ("action_items", "n_items"), "int"),
)


def _at(payload: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = payload
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def headlines(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline numbers of one pack (None where the pack has none)."""
    return [{"label": label, "format": fmt, "value": _at(payload, path)}
            for label, path, fmt in HEADLINES]


def diff(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Each headline of pack ``a`` and pack ``b`` and the change from a to b."""
    rows = []
    for x, y in zip(headlines(a), headlines(b), strict=True):
        change = y["value"] - x["value"] if None not in (x["value"], y["value"]) else None
        rows.append({"label": x["label"], "format": x["format"], "a": x["value"],
                     "b": y["value"], "change": change})
    return rows


def _stored(ctx: RunContext, on: date) -> tuple[dict[str, Any], dict[str, Path]]:
    """(the stored pack, its files when they are this pack's, else {})."""
    with ctx.stores.engine.connect() as conn:
        row = cq.pack_row(conn, on)
        marker = cq.marker_row(conn, PACK_FAMILY, on)
    if row is None:
        raise MissingData(f"no morning pack stored for {on}")
    paths = {k: Path(v) for k, v in ((marker or {}).get("metadata") or {}).get("paths", {}).items()}
    try:
        ours = hashlib.sha256(paths["json"].read_bytes()).hexdigest() == row["digest"]
    except (KeyError, OSError):
        ours = False
    return row, paths if ours else {}


def packs_model(ctx: RunContext) -> dict[str, Any]:
    """The archive: every stored pack's date, digest and run."""
    with ctx.stores.engine.connect() as conn:
        return {"packs": cq.pack_index(conn)}


def pack_model(ctx: RunContext, on: date) -> dict[str, Any]:
    """One pack: its headlines, digest, run, whether its files are on disk; the archive's
    dates to compare it with."""
    row, files = _stored(ctx, on)
    with ctx.stores.engine.connect() as conn:
        dates = [p["business_date"] for p in cq.pack_index(conn)]
    earlier = [d for d in dates if d < on]
    return {"date": on, "digest": row["digest"], "run_id": row["run_id"],
            "headlines": headlines(row["payload"]), "files_on_disk": bool(files),
            "dates": dates, "compare_with": earlier[0] if earlier else None}


def diff_model(ctx: RunContext, a: date, b: date) -> dict[str, Any]:
    """The headlines of the packs of ``a`` and ``b`` side by side, with the change."""
    with ctx.stores.engine.connect() as conn:
        payloads = cq.pack_payloads(conn, [a, b])
        dates = [p["business_date"] for p in cq.pack_index(conn)]
    missing = [d for d in (a, b) if d not in payloads]
    if missing:
        raise MissingData("no morning pack stored for " + ", ".join(map(str, missing)))
    return {"a": a, "b": b, "rows": diff(payloads[a], payloads[b]), "dates": dates}


def _chart_file(cid: str) -> str:
    name = cid_resolver(dict.fromkeys(report.CHART_NAMES, b""), None)(cid)
    return f"{name}.png" if name else "data:,"


def pack_file(ctx: RunContext, on: date, kind: str) -> bytes:
    """The pack's HTML (stored, charts as files beside it) or PDF (file, else rendered)."""
    row, files = _stored(ctx, on)
    if kind == "html":
        return swap_cids(row["html"], _chart_file).encode("utf-8")
    if "pdf" in files and files["pdf"].is_file():
        return files["pdf"].read_bytes()
    pngs = report.render_charts(row["payload"])
    return report.render_pdf(row["html"], pngs, report.chart_cids(pngs))


def pack_chart(ctx: RunContext, on: date, name: str) -> bytes:
    """One chart PNG of the pack (file, else rendered from the stored payload)."""
    if name not in report.CHART_NAMES:
        raise BadRequest(f"no chart named {name!r}")
    row, files = _stored(ctx, on)
    if name in files and files[name].is_file():
        return files[name].read_bytes()
    png = report.render_charts(row["payload"]).get(name)
    if png is None:
        raise MissingData(f"the pack of {on} has no {name} chart")
    return png


class PacksPage(ConsoleHandler):
    async def get(self) -> None:
        self.page("packs.html", **await self.store(packs_model))


class PacksJson(ConsoleHandler):
    async def get(self) -> None:
        self.json(await self.store(packs_model))


class PackPage(ConsoleHandler):
    async def get(self, iso: str) -> None:
        self.page("pack.html", **await self.store(pack_model, to_date("date", iso)))


class PackJson(ConsoleHandler):
    async def get(self, iso: str) -> None:
        self.json(await self.store(pack_model, to_date("date", iso)))


class _Diff(ConsoleHandler):
    async def model(self) -> dict[str, Any]:
        a, b = self.date_arg("a"), self.date_arg("b")
        if a is None or b is None:
            raise BadRequest("compare needs two dates: ?a=YYYY-MM-DD&b=YYYY-MM-DD")
        return await self.store(diff_model, a, b)


class DiffPage(_Diff):
    async def get(self) -> None:
        self.page("pack_diff.html", **await self.model())


class DiffJson(_Diff):
    async def get(self) -> None:
        self.json(await self.model())


#: the pack's own page: inline styles of the e-mail body, images from here, no script
PACK_CSP = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class PackFile(ConsoleHandler):
    async def get(self, iso: str, kind: str) -> None:
        body = await self.store(pack_file, to_date("date", iso), kind)
        if kind == "html":
            self.set_header("Content-Security-Policy", PACK_CSP)
            self.set_header("Content-Type", "text/html; charset=utf-8")
        else:
            self.set_header("Content-Type", "application/pdf")
            self.set_header("Content-Disposition", f'inline; filename="morning_pack_{iso}.pdf"')
        self.finish(body)


class PackChart(ConsoleHandler):
    async def get(self, iso: str, name: str) -> None:
        self.set_header("Content-Type", "image/png")
        self.finish(await self.store(pack_chart, to_date("date", iso), name))
