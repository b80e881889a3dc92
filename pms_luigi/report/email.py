"""The pack as one e-mail message (MIME), ready for :mod:`pms_luigi.report.delivery`."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from pms_luigi.report.charts import CHART_NAMES, chart_cids
from pms_luigi.report.formats import bps
from pms_luigi.report.text import render_text


def build_email(pack: Mapping[str, Any], html: str, pngs: Mapping[str, bytes],
                pdf: bytes | None, sender: str, recipients: Sequence[str] | str, *,
                cids: Mapping[str, str] | None = None, subject: str | None = None,
                when: datetime | None = None) -> EmailMessage:
    """The pack as one message: multipart/mixed [ multipart/alternative [ text/plain,
    multipart/related [ text/html, image/png (Content-ID) ... ] ], application/pdf ].

    Args:
        pack: the assembled pack (subject line and text part).
        html: the body from ``render_html``, rendered with ``cids``.
        pngs: chart name -> PNG bytes; only charts the HTML references are attached.
        pdf: the PDF attachment, or None.
        sender / recipients: the From and To headers.
        cids: the name -> Content-ID mapping the HTML was rendered with (default
            :func:`~pms_luigi.report.charts.chart_cids`).
        subject: overrides the default "[fund] Morning pack D | D-1 +x bps | n CRITICAL".
        when: the Date header (the caller's clock; omitted when None so the message bytes
            are reproducible in tests).

    Raises:
        ValueError: no recipient.
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
            html_part.add_related(pngs[name], maintype="image", subtype="png",
                                  cid=f"<{cids[name]}>", filename=f"{name}.png",
                                  disposition="inline")
    if pdf is not None:
        msg.add_attachment(pdf, maintype="application", subtype="pdf",
                           filename=f"morning_pack_{pack['date']}.pdf")
    return msg


def _subject(pack: Mapping[str, Any]) -> str:
    parts = [f"Morning pack {pack['date']}"]
    book = pack.get("summary", {}).get("book", {})
    if book.get("status") == "ok":
        parts.append(f"D-1 {bps(book['pnl_bps'])}")
    ai = pack.get("action_items", {}).get("counts", {})
    if ai.get("CRITICAL"):
        parts.append(f"{ai['CRITICAL']} CRITICAL")
    fund = str(pack.get("fund_name") or "").strip()
    subject = " | ".join(parts)
    return f"[{fund}] {subject}" if fund else subject
