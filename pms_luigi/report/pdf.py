"""The A4 PDF of the pack (the archive and compliance copy), rendered by WeasyPrint from the
e-mail HTML with each ``cid:`` image swapped for a data URI.

WeasyPrint may fetch only ``data:`` URLs: the PDF never reaches the network or the disk.
The print stylesheet in the template sets the body in two columns under a full-width header
and shrinks the type, so the demo pack fits 2-4 A4 pages.
"""
from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from pms_luigi.report.charts import cid_resolver, swap_cids


def render_pdf(html: str, pngs: Mapping[str, bytes],
               cids: Mapping[str, str] | None = None) -> bytes:
    """A4 PDF of the pack: the e-mail HTML with each ``cid:`` image inlined as a data URI.

    ``cids`` is the name -> Content-ID mapping used for the HTML (default
    :func:`~pms_luigi.report.charts.chart_cids`).
    """
    return pdf_document(html, pngs, cids).write_pdf()


def pdf_document(html: str, pngs: Mapping[str, bytes],
                 cids: Mapping[str, str] | None = None) -> Any:
    """The laid-out WeasyPrint document (pages, for checks) of :func:`render_pdf`."""
    from weasyprint import HTML  # noqa: PLC0415 - heavy: loaded only when a PDF is made

    resolve = cid_resolver(pngs, cids)

    def data_uri(cid: str) -> str:
        name = resolve(cid)
        if name is None:
            return "data:,"
        return "data:image/png;base64," + base64.b64encode(pngs[name]).decode("ascii")

    return HTML(string=swap_cids(html, data_uri), base_url=None,
                url_fetcher=_url_fetcher()).render()


def _url_fetcher() -> Any:
    """A fetcher that serves only data: URLs — the PDF never reaches the network or disk."""
    try:
        from weasyprint.urls import URLFetcher  # noqa: PLC0415
    except ImportError:  # WeasyPrint < 68: fetchers are plain functions
        from weasyprint import default_url_fetcher  # noqa: PLC0415

        def fetch(url: str, timeout: int = 10, ssl_context: Any = None) -> Any:
            if not url.startswith("data:"):
                raise ValueError(f"blocked URL in morning pack PDF: {url[:60]}")
            return default_url_fetcher(url, timeout=timeout, ssl_context=ssl_context)

        return fetch
    return URLFetcher(allowed_protocols=["data"])
