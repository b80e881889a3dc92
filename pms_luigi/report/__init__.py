"""The morning pack rendered and delivered: HTML e-mail body, PNG charts, A4 PDF, the MIME
message, the files in the output folder, and SMTP delivery.

Modules: :mod:`.html` (Jinja2, autoescaped, ``templates/``), :mod:`.charts` (matplotlib
PNGs and their Content-IDs), :mod:`.pdf` (WeasyPrint), :mod:`.text` (the plain-text
summary), :mod:`.email` (the message), :mod:`.files` (atomic writes under a folder per
store and fund), :mod:`.formats` (display filters), :mod:`.delivery` (SMTP). Every
renderer is deterministic — the same pack gives the same HTML, PNG and PDF — and none
imports luigi, sqlalchemy or redis; only :func:`write_outputs` touches the disk and only
:mod:`.delivery` the network.

Also the status page's view model and template (:mod:`.status_page`, :mod:`.status_cells`:
a cell's drill-down), rendered from plain data the caller read.
"""
from __future__ import annotations

from pms_luigi.report.charts import CHART_NAMES, chart_cids, render_charts
from pms_luigi.report.email import build_email
from pms_luigi.report.files import output_paths, pack_dir, write_outputs
from pms_luigi.report.html import render_html
from pms_luigi.report.pdf import pdf_document, render_pdf
from pms_luigi.report.text import render_text

__all__ = [
    "CHART_NAMES",
    "build_email",
    "chart_cids",
    "output_paths",
    "pack_dir",
    "pdf_document",
    "render_charts",
    "render_html",
    "render_pdf",
    "render_text",
    "write_outputs",
]
