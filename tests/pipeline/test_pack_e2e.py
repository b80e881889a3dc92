"""The morning pack end to end on both store pairs: demo fund -> EOD -> PreOpen -> pack.

One world per backend for the module (a copy of the session's demo fund ``FUND_11``: 40
business days of EOD ending Thu 2026-11-26, then PreOpen for Fri 2026-11-27 and for Mon
2026-11-23, the first session after the Black Awareness Day closure of Fri 2026-11-20). The
tests read like an operator's morning: every section populated, numbers equal to the rows
they come from, the closure covered, `pack show` / `pack send` (to a real SMTP server on
127.0.0.1), an identical rerun, and hostile names loaded through the ordinary loader rendered
as text.

The risk model needs ``[pms_mtm] var_min_history`` scenarios for VaR; the 40-day world has
35-39, so the module lowers that setting to 30 (luigi.cfg says 60) to keep the world cheap,
while it builds the last close and the pre-opens (the shared history before is built under
the default: no pack here reads a risk snapshot other than its previous close's).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

import luigi
import pytest
import sqlalchemy as sa

from pms_luigi import demo
from pms_luigi import report as render
from pms_luigi.cli import pack as cli_pack
from pms_luigi.core import calendar
from pms_luigi.core.proposals import ProposalPolicy
from pms_luigi.ops import backfill as backfills
from pms_luigi.ops import invalidate as invalidation
from pms_luigi.ops import runner, workflow
from pms_luigi.report import formats
from pms_luigi.store import markers as mk
from pms_luigi.store import schema as s
from pms_luigi.store.identity import store_id
from pms_luigi.store.loader import load_inputs
from tests.conftest import BACKENDS, FUND_11, DemoWorlds, World
from tests.smtp_sink import SmtpSink

END = FUND_11.end                 # last EOD (Thu 2026-11-26)
D = date(2026, 11, 27)            # PreOpen (Fri): P = END
AFTER_HOLIDAY = date(2026, 11, 23)  # Mon after Fri 2026-11-20 (B3 and ANBIMA closed)
HOLIDAY = date(2026, 11, 20)
P_HOLIDAY = date(2026, 11, 19)
XSS = "<script>alert(1)</script>"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=BACKENDS)
def built(request: pytest.FixtureRequest, demo_worlds: DemoWorlds,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, demo.DemoData]]:
    """The shared demo fund, its last close and both pre-opens built here with VaR on 30
    scenarios (see the module docstring)."""
    with demo_worlds.copy(FUND_11, request.param, tmp_path_factory.mktemp("pack")) as built:
        conf = luigi.configuration.get_config()
        before = conf.get("pms_mtm", "var_min_history", None)
        conf.set("pms_mtm", "var_min_history", "30")
        try:
            assert backfills.backfill(built[1].start, END, chunk=50) == runner.ExitCode.OK
            assert runner.run_kind("preopen", D) == runner.ExitCode.OK
            assert runner.run_kind("preopen", AFTER_HOLIDAY) == runner.ExitCode.OK
            yield built
        finally:
            if before is None:
                conf.remove_option("pms_mtm", "var_min_history")
            else:
                conf.set("pms_mtm", "var_min_history", before)


def _pack_row(w: World, on: date) -> dict:
    with w.engine.connect() as conn:
        return dict(conn.execute(sa.select(s.morning_packs).where(
            s.morning_packs.c.business_date == on)).mappings().one())


def _folder(w: World, on: date) -> Path:
    """Where the pack of ``on`` of this world's store is: ``<out>/<store-id>/<fund>/<D>/``."""
    return cli_pack.pack_folder(on, _pack_row(w, on)["payload"]["fund_name"])


def _rows(w: World, tbl: sa.Table, on: date) -> list[dict]:
    with w.engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(tbl).where(tbl.c.business_date == on)).mappings()]


def _unavailable(obj: object, path: str = "pack") -> list[str]:
    """Every block anywhere in the pack that says it had no input."""
    found: list[str] = []
    if isinstance(obj, dict):
        if obj.get("status") in ("unavailable", "partial"):
            found.append(f"{path}: {obj.get('status')} {obj.get('reason', '')}")
        for k, v in obj.items():
            found += _unavailable(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            found += _unavailable(v, f"{path}[{i}]")
    return found


def test_every_section_is_populated_from_real_numbers(built) -> None:
    w, _ = built
    pack = _pack_row(w, D)["payload"]
    assert pack["date"] == D.isoformat() and pack["prev_date"] == END.isoformat()
    assert pack["sections"] == ["summary", "action_items", "market", "positions", "risk",
                                "proposals", "signal_changes", "calendar", "narrative"]
    assert [n for n in pack["sections"] if pack[n]["status"] != "ok"] == []
    assert _unavailable(pack) == []
    assert pack["action_items"]["items"] and pack["proposals"]["items"]
    assert len(pack["market"]["di1_curve"]["vertices"]) >= 3
    assert pack["positions"]["top_contributors"] and pack["positions"]["top_detractors"]
    assert pack["signal_changes"]["n_signals"] > 0
    assert "NAV R$" in pack["narrative"]["text"]
    out = _folder(w, D)
    assert out == (w.data_dir / "out" / store_id(w.database_url, w.namespace) / "pms-macro-fim"
                   / D.isoformat())
    assert sorted(p.name for p in out.iterdir()) == [
        "di1_curve.png", "equity_curve.png", "morning_pack.html", "morning_pack.json",
        "morning_pack.pdf"]
    assert (out / "morning_pack.pdf").read_bytes().startswith(b"%PDF")
    with w.engine.connect() as conn:
        marker = mk.read_markers(conn, "pms.MorningPack", [D])[D]
    assert marker.metadata["paths"]["pdf"] == str(out / "morning_pack.pdf")


def test_pack_numbers_equal_the_database_rows_they_come_from(built) -> None:
    w, _ = built
    pack = _pack_row(w, D)["payload"]
    (book,) = _rows(w, s.book_snapshots, END)
    b = pack["summary"]["book"]
    assert b["nav_brl"] == pytest.approx(float(book["nav_brl"]), abs=0.005)
    assert b["pnl_brl"] == pytest.approx(float(book["pnl_brl"]), abs=0.005)
    assert b["pnl_bps"] == pytest.approx(float(book["pnl_bps"]), abs=0.005)
    assert pack["positions"]["n_positions"] == book["n_positions"]

    (risk,) = _rows(w, s.risk_snapshots, END)
    assert risk["status"] == "OK"
    assert pack["summary"]["var"]["var95_brl"] == pytest.approx(float(risk["var95_brl"]),
                                                                abs=0.005)
    by_key = {m["key"]: m["value_brl"] for m in pack["risk"]["var"]}
    for col in ("var95_brl", "var99_brl", "es975_brl", "param_var95_brl", "param_var99_brl"):
        assert by_key[col] == pytest.approx(float(risk[col]), abs=0.005), col
    assert pack["risk"]["n_scenarios"] == risk["n_scenarios"]

    props = sorted(_rows(w, s.proposals, D), key=lambda r: (r["rank"], r["proposal_id"]))
    items = pack["proposals"]["items"]
    assert pack["proposals"]["n_proposals"] == len(props) == len(items) > 0
    assert [p["proposal_id"] for p in items] == [r["proposal_id"] for r in props]
    assert [(p["instrument_id"], p["side"]) for p in items] == \
        [(r["instrument_id"], r["side"]) for r in props]
    assert [p["notional_brl"] for p in items] == \
        pytest.approx([float(r["notional_brl"]) for r in props], abs=0.005)

    marks = sorted(_rows(w, s.position_marks, END),
                   key=lambda r: (-float(r["pnl_brl"]), r["instrument_id"], r["strategy_id"]))
    top = pack["positions"]["top_contributors"]
    expect = [m for m in marks if float(m["pnl_brl"]) > 0][:len(top)]
    assert [(t["instrument_id"], t["strategy_id"]) for t in top] == \
        [(m["instrument_id"], m["strategy_id"]) for m in expect]
    assert [t["pnl_brl"] for t in top] == pytest.approx([float(m["pnl_brl"]) for m in expect],
                                                       abs=0.005)
    worst = [m for m in reversed(marks) if float(m["pnl_brl"]) < 0][:len(
        pack["positions"]["top_detractors"])]
    assert [t["instrument_id"] for t in pack["positions"]["top_detractors"]] == \
        [m["instrument_id"] for m in worst]

    stats = {r["period"]: r["stats"] for r in _rows(w, s.performance_stats, END)}
    for period in ("MTD", "YTD"):
        st = stats[period] if isinstance(stats[period], dict) else json.loads(stats[period])
        p = pack["summary"][period.lower()]
        assert p["return_bps"] == pytest.approx(st["return"] * 1e4, abs=0.005)
        assert p["pct_of_cdi"] == pytest.approx(st["pct_of_cdi"] * 100, abs=0.005)
        assert p["pnl_brl"] == pytest.approx(st["pnl_brl"], abs=0.005)

    cached = w.redis.get(f"{w.namespace}:morning_pack:{D}")
    assert json.loads(cached)["data"] == pack  # Redis carries exactly the committed payload


def test_after_a_holiday_the_market_section_covers_the_whole_closure(built) -> None:
    w, _ = built
    row = _pack_row(w, AFTER_HOLIDAY)
    pack = row["payload"]
    assert pack["prev_date"] == P_HOLIDAY.isoformat()
    win = pack["market"]["window"]
    assert win["covers_closure"] is True
    assert win["last_session"] == P_HOLIDAY.isoformat()
    assert win["start"] == P_HOLIDAY.isoformat() and win["end"] == AFTER_HOLIDAY.isoformat()
    assert win["calendar_days"] == (AFTER_HOLIDAY - P_HOLIDAY).days == 4
    assert [c["date"] for c in win["closed_days"]] == [HOLIDAY.isoformat()]
    assert "Black Awareness" in win["closed_days"][0]["name"]
    assert "B3 closed in the window" in row["html"] and "Fri 20 Nov 2026" in row["html"]
    # the moves are last session (11-19) vs the one before (11-18), from market_prices
    with w.engine.connect() as conn:
        rates = {(r.instrument_id, r.business_date): float(r.rate) for r in conn.execute(
            sa.select(s.market_prices.c.instrument_id,
                      s.market_prices.c.price_date.label("business_date"),
                      s.market_prices.c.rate).where(
                s.market_prices.c.price_date.in_([P_HOLIDAY, date(2026, 11, 18)]),
                s.market_prices.c.rate.is_not(None)))}
    vertices = pack["market"]["di1_curve"]["vertices"]
    assert vertices
    for v in vertices:
        now, before = rates[(v["instrument_id"], P_HOLIDAY)], \
            rates[(v["instrument_id"], date(2026, 11, 18))]
        assert v["rate_pct"] == pytest.approx(now * 100, abs=0.0005)
        assert v["change_bp"] == pytest.approx((now - before) * 1e4, abs=0.005)
    assert not calendar.is_b3_session(HOLIDAY)


def test_pack_show_prints_the_stored_summary(built) -> None:
    w, _ = built
    pack = _pack_row(w, D)["payload"]
    proc = subprocess.run(
        [sys.executable, "-m", "pms_luigi.cli.pack", "pack", "show", "--date", D.isoformat()],
        cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith(render.render_text(pack))
    assert formats.brl(pack["summary"]["book"]["nav_brl"]) in proc.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "pms_luigi.cli.pack", "pack", "show", "--date", "2026-11-30"],
        cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert missing.returncode == 3
    assert "no morning pack stored for 2026-11-30" in missing.stderr
    assert str(_folder(w, D)) in proc.stdout  # the files of this store, not another's
    saturday = subprocess.run(
        [sys.executable, "-m", "pms_luigi.cli.pack", "pack", "show", "--date", "2026-11-28"],
        cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert saturday.returncode == 2  # ExitCode.BAD_REQUEST
    assert saturday.stderr.strip().count("\n") == 0 and "Traceback" not in saturday.stderr
    assert "2026-11-28 is not an ANBIMA business day: Saturday" in saturday.stderr


def test_pack_send_emails_html_with_cid_charts_and_the_pdf(built, tmp_path) -> None:
    w, _ = built
    row = _pack_row(w, D)
    conf = luigi.configuration.get_config()
    with SmtpSink() as sink:
        for k, v in {"host": "127.0.0.1", "port": str(sink.port), "sender": "pms@fund.example",
                     "recipients": "pm@fund.example, risk@fund.example",
                     "starttls": "false"}.items():
            conf.set("pms_smtp", k, v)
        try:
            eml = tmp_path / "pack.eml"
            code = cli_pack.main(["pack", "send", "--date", D.isoformat(), "--eml", str(eml)])
            code_to = cli_pack.main(["pack", "send", "--date", D.isoformat(),
                                     "--to", "cio@fund.example"])
        finally:
            conf.remove_section("pms_smtp")
        assert code == code_to == 0
        assert [m.rcpt_to for m in sink.messages] == [
            ["pm@fund.example", "risk@fund.example"], ["cio@fund.example"]]
        got = message_from_bytes(sink.messages[0].data, policy=policy.default)
    with w.engine.connect() as conn:
        fund_name = conn.execute(sa.select(s.fund.c.name)).scalar_one()
    assert got["Subject"].startswith(f"[{fund_name}] Morning pack {D} | D-1 ")
    html = got.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert html == row["html"]
    images = {p["Content-ID"].strip("<>"): p.get_content() for p in got.walk()
              if p.get_content_type() == "image/png"}
    assert sorted(images) == ["di1_curve@pms-luigi", "equity_curve@pms-luigi"]
    out = _folder(w, D)
    for cid, png in images.items():
        assert f'src="cid:{cid}"' in html
        assert png == (out / f"{cid.split('@')[0]}.png").read_bytes()  # same chart as archived
    (pdf,) = [p for p in got.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert pdf.get_filename() == f"morning_pack_{D}.pdf"
    assert pdf.get_content().startswith(b"%PDF")
    assert message_from_bytes(eml.read_bytes(), policy=policy.default)["To"] == \
        "pm@fund.example, risk@fund.example"


def test_rerun_with_unchanged_inputs_keeps_ids_digest_and_every_file(built) -> None:
    w, _ = built
    key = f"{w.namespace}:morning_pack:{D}"
    before, cached = _pack_row(w, D), w.redis.get(key)
    ids = {(p["instrument_id"], p["side"], p["action"]): p["proposal_id"]
           for p in before["payload"]["proposals"]["items"]}
    old_runs = {r["run_id"] for r in _rows(w, s.proposals, D)}
    out = _folder(w, D)
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "morning_pack.pdf" in files
    hit = invalidation.invalidate("pms.TradeProposals", D, downstream=True)
    assert sorted(hit) == [("pms.MorningPack", D), ("pms.TradeProposals", D)]
    assert runner.run_kind("preopen", D) == runner.ExitCode.OK
    after = _pack_row(w, D)
    assert after["run_id"] != before["run_id"]  # it really ran again
    props = _rows(w, s.proposals, D)
    assert {(r["instrument_id"], r["side"], r["action"]): r["proposal_id"] for r in props} == ids
    assert not {r["run_id"] for r in props} & old_runs  # rewritten in place by the new run
    assert after["digest"] == before["digest"]
    assert after["html"] == before["html"]
    again = json.loads(w.redis.get(key))  # the same pack, in the envelope of the new run
    assert again["data"] == json.loads(cached)["data"]
    assert again["run_id"] == after["run_id"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files  # PDF included
    for pid in ids.values():  # an id quoted from the 06:30 pack still names its proposal
        row, _, _ = workflow.show(w.engine, pid)
        assert (row["instrument_id"], row["side"], row["action"]) in ids


def test_the_packs_net_leverage_is_the_signed_notionals_of_its_close(built) -> None:
    w, _ = built
    pack = _pack_row(w, D)["payload"]
    marks = _rows(w, s.position_marks, END)
    (book,) = _rows(w, s.book_snapshots, END)
    nav = float(book["nav_brl"])
    signed = [float(m["notional_brl"]) for m in marks]
    net, gross = abs(sum(signed)) / nav, sum(abs(n) for n in signed) / nav
    assert net < 0.8 * gross  # a long/short book: the two differ
    limits = {lim["name"]: lim for lim in pack["risk"]["limits"]}
    cents = 0.005 * len(signed) / nav  # marks are stored in centavos
    assert limits["NET_LEVERAGE"]["value"] == pytest.approx(net, abs=5e-5 + cents)
    assert limits["GROSS_LEVERAGE"]["value"] == pytest.approx(gross, abs=5e-5 + cents)
    assert pack["risk"]["exposures"]["net_notional_brl"] == pytest.approx(sum(signed),
                                                                          abs=0.005 * len(signed))
    for item in pack["action_items"]["items"]:  # an item on it quotes the net figure
        if item["key"] == "NET_LEVERAGE":
            assert f"{limits['NET_LEVERAGE']['value']:,.2f}" in item["description"]


def test_no_proposal_exceeds_its_caps_in_the_demo(built) -> None:
    w, _ = built
    policy = ProposalPolicy.from_mapping(json.loads((REPO / "config" / "proposal_policy.json")
                                                    .read_text()))
    checked = 0
    for on in (D, AFTER_HOLIDAY):
        (book,) = _rows(w, s.book_snapshots, calendar.previous_business_day(on))
        nav = float(book["nav_brl"])
        for r in _rows(w, s.proposals, on):
            ri = r["risk_impact"]
            ff = policy.budgets[ri["asset_class"]].fat_finger_notional_brl
            assert float(r["notional_brl"]) <= ff + 0.005, r["instrument_id"]
            if r["action"] not in ("REDUCE", "CLOSE"):  # NAV caps bound the risk added
                assert float(r["notional_brl"]) <= policy.caps.notional_pct_nav / 100 * nav \
                    + 0.005, r["instrument_id"]
                assert ri["risk_1d_brl"] <= policy.caps.risk_1d_pct_nav / 100 * nav, \
                    r["instrument_id"]
            assert ri["nav_brl"] == pytest.approx(nav)
            checked += 1
    assert checked >= 5


def test_hostile_names_loaded_by_the_loader_render_as_text(built) -> None:
    w, data = built
    top = _pack_row(w, D)["payload"]["positions"]["top_contributors"][0]
    ins = data.instruments.loc[data.instruments["instrument_id"] == top["instrument_id"]]
    strat = data.strategies.loc[data.strategies["strategy_id"] == top["strategy_id"]]
    counts = load_inputs(w.engine, {"instruments": ins.assign(name=XSS),
                                    "strategies": strat.assign(name=XSS)})
    assert counts == {"instruments": 1, "strategies": 1}
    invalidation.invalidate("pms.MorningPack", D, downstream=True)
    assert runner.run_kind("preopen", D) == runner.ExitCode.OK
    row = _pack_row(w, D)
    shown = row["payload"]["positions"]["top_contributors"][0]
    assert shown["name"] == XSS and shown["strategy_name"] == XSS  # the data is kept as is
    html = row["html"]
    assert "<script" not in html.lower()
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2  # instrument + strategy
    on_disk = (_folder(w, D) / "morning_pack.html").read_text()
    assert "<script" not in on_disk.lower()
