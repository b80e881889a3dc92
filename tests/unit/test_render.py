"""Tests of the morning-pack renderers (pms_luigi.report): HTML, charts, PDF, email, files.

The pack comes from the same hand-built inputs as test_morning_pack.py. Nothing is mocked:
matplotlib draws real PNGs, WeasyPrint writes a real PDF, the email is parsed back by the
stdlib parser.
"""

from __future__ import annotations

import io
import json
import re
from email import message_from_bytes, policy

import pytest
from PIL import Image

from pms_luigi import report as render
from pms_luigi.core.pack import PackInputs, assemble_pack, pack_json
from tests.unit.test_morning_pack import ASH_WED, FRI_13, XSS, make_inputs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# WeasyPrint 70 warns once, at import, when the system lacks libharfbuzz-subset (a future
# requirement; rendering is unaffected). Filtered by its exact message, nothing broader.
pytestmark = pytest.mark.filterwarnings(
    "ignore:HarfBuzz-Subset will be required by future versions of WeasyPrint:DeprecationWarning"
)


@pytest.fixture(scope="module")
def pack() -> dict:
    return assemble_pack(make_inputs())


@pytest.fixture(scope="module")
def pngs(pack) -> dict[str, bytes]:
    return render.render_charts(pack)


@pytest.fixture(scope="module")
def cids(pngs) -> dict[str, str]:
    return render.chart_cids(pngs)


@pytest.fixture(scope="module")
def html(pack, cids) -> str:
    return render.render_html(pack, cids)


@pytest.fixture(scope="module")
def pdf(html, pngs, cids) -> bytes:
    return render.render_pdf(html, pngs, cids)


def _xss_inputs() -> PackInputs:
    """Hostile names everywhere a name can come from: strategy, instrument, signal, rationale."""
    inp = make_inputs()
    inp.strategies.loc[inp.strategies["strategy_id"] == "FX_02", "name"] = XSS
    for frame in (inp.instruments, inp.marks, inp.curve_prices, inp.proposals):
        frame.loc[frame["instrument_id"] == "WDOJ26", "instrument_id"] = XSS
    inp.instruments.loc[inp.instruments["instrument_id"] == XSS, "name"] = XSS
    inp.signals_now.loc[inp.signals_now["strategy_id"] == "FX_02", "signal_id"] = XSS
    inp.proposals.loc[inp.proposals["proposal_id"] == 11, "rationale"] = (
        f'"><img src=x onerror=alert(1)>{XSS}'
    )
    inp.fund_name = XSS
    return inp


# ============================================================================ HTML


def test_html_has_every_section_in_order_and_the_numbers(html, pack):
    heads = re.findall(r"<h2[^>]*>([^<]+)</h2>", html)
    assert heads == [
        "Summary",
        "Action items",
        "Markets since the last B3 session",
        "Positions and P&amp;L",
        "Risk vs limits",
        "Trade proposals",
        "Signal changes",
        "Calendar",
        "In short",
    ]
    for text in (
        "R$ 250,172,280",
        "+R$ 172,280",
        "+6.9 bps",
        "+41.2 bps",
        "81% of CDI",
        "R$ 3,912,346",
        "78% of limit",
        "CONC_RATES",
        "Carnival",
        "Fri 13 Feb 2026",
        "DI1F27",
        "14.250",
        "+4.0",
        "Good Friday",
        "BUY 300 DI1F28",
        "Breach CONC_FX",
        "FX_02",
        pack["narrative"]["text"][:40],
    ):
        assert text in html, text


def test_html_is_email_safe_no_script_no_remote_resources(html, cids):
    low = html.lower()
    assert "<script" not in low and "javascript:" not in low
    assert not re.search(r"\son[a-z]+\s*=", low)  # no event-handler attributes
    assert not re.search(r"""(src|href)\s*=\s*["']https?:""", low)
    assert "<link" not in low
    assert f'src="cid:{cids["di1_curve"]}"' in html and f'src="cid:{cids["equity_curve"]}"' in html
    assert 'name="viewport"' in html and "max-width:640px" in html and "DejaVu Sans" in html


def test_hostile_names_render_as_text():
    pk = assemble_pack(_xss_inputs())
    out = render.render_html(pk, render.chart_cids(render.CHART_NAMES))
    assert "<script" not in out.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "<img src=x" not in out and "&lt;img src=x onerror=alert(1)&gt;" in out
    # the strategy name, the instrument id (positions, market, proposals) and the signal all
    # went through
    assert out.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5
    assert XSS in render.render_text(
        pk
    )  # text/plain is not HTML: shown verbatim, nothing to escape


def test_html_is_deterministic(pack, cids, html):
    assert render.render_html(pack, cids) == html
    again = assemble_pack(make_inputs())
    assert render.render_html(again, cids) == html


def test_html_renders_a_pack_with_every_input_missing():
    pk = assemble_pack(PackInputs(date=ASH_WED, prev_date=FRI_13))
    out = render.render_html(pk, {})
    assert out.count("unavailable &mdash;") >= 6
    assert "cid:" not in out  # no chart without data
    assert "R$ 0" not in out  # nothing invented
    assert "B3 closed in the window" in out


def test_text_summary(pack):
    txt = render.render_text(pack)
    assert "NAV          R$ 250,172,280" in txt
    assert "[CRITICAL] Limit CONC_RATES breached" in txt


# ============================================================================ charts and PDF


def test_charts_are_valid_deterministic_pngs(pack, pngs):
    assert sorted(pngs) == ["di1_curve", "equity_curve"]
    for name, data in pngs.items():
        assert data.startswith(PNG_MAGIC), name
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "PNG" and im.size[0] == 1000 and 600 <= im.size[1] <= 720, (
                name,
                im.size,
            )
    assert render.render_charts(pack) == pngs


def test_no_chart_without_data():
    assert render.render_charts(assemble_pack(PackInputs(date=ASH_WED, prev_date=FRI_13))) == {}


def test_pdf_renders_with_the_charts_embedded(pdf, html, pngs, cids):
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Subtype\s*/Image", pdf)) >= len(pngs)
    doc = render.pdf_document(html, pngs, cids)
    assert 2 <= len(doc.pages) <= 4, len(doc.pages)  # A4 archive copy: 2-4 pages
    assert doc.pages[0].width == pytest.approx(210 / 25.4 * 96, abs=1)  # A4 width in CSS px


# ============================================================================ email and files


def test_build_email_multipart_related_with_cid_images_and_pdf(pack, html, pngs, pdf, cids):
    msg = render.build_email(
        pack,
        html,
        pngs,
        pdf,
        "pms@fund.example",
        ["pm@fund.example", "risk@fund.example"],
        cids=cids,
    )
    parsed = message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    assert parsed["To"] == "pm@fund.example, risk@fund.example"
    assert (
        parsed["Subject"].strip()
        == "[PMS Macro FIM] Morning pack 2026-02-18 | D-1 +6.9 bps | 1 CRITICAL"
    )
    types = [p.get_content_type() for p in parsed.walk()]
    assert types == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
        "image/png",
        "application/pdf",
    ]
    related = next(p for p in parsed.walk() if p.get_content_type() == "multipart/related")
    body = related.get_body(preferencelist=("html",)).get_content()
    images = {
        p["Content-ID"]: p.get_content()
        for p in related.iter_parts()
        if p.get_content_type() == "image/png"
    }
    assert images == {f"<{cids[n]}>": pngs[n] for n in ("di1_curve", "equity_curve")}
    for cid in cids.values():
        assert f"cid:{cid}" in body
    att = next(parsed.iter_attachments())
    assert att.get_filename() == "morning_pack_2026-02-18.pdf" and att.get_content() == pdf
    assert "NAV" in parsed.get_body(preferencelist=("plain",)).get_content()


def test_write_outputs(tmp_path, pack, html, pdf, pngs, cids):
    msg = render.build_email(
        pack, html, pngs, pdf, "pms@fund.example", "pm@fund.example", cids=cids
    )
    paths = render.write_outputs(
        tmp_path / "2026-02-18", ASH_WED, html, pdf, pngs, pack_json(pack), cids, eml=msg
    )
    assert sorted(paths) == ["di1_curve", "eml", "equity_curve", "html", "json", "pdf"]
    assert json.loads(paths["json"].read_text()) == pack
    assert paths["pdf"].read_bytes() == pdf
    assert paths["di1_curve"].read_bytes() == pngs["di1_curve"]
    on_disk = paths["html"].read_text()
    assert 'src="di1_curve.png"' in on_disk and "cid:" not in on_disk  # opens in a browser
    assert (
        message_from_bytes(paths["eml"].read_bytes(), policy=policy.default)["To"]
        == "pm@fund.example"
    )
    assert not list(paths["html"].parent.glob(".*"))  # no temp files left
    with pytest.raises(ValueError, match="pack is dated 2026-02-18, not 2026-02-19"):
        render.write_outputs(tmp_path, ASH_WED.replace(day=19), html, pdf, pngs, pack_json(pack))
