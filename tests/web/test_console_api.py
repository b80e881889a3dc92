"""The desk console over HTTP on both store pairs: its JSON endpoints say what the commands'
functions say, decisions land in the journal under the signed-in user, and the access rules
hold (sign-in, roles, CSRF, cookie flags, no secret in a page or the log).

One world per backend for the module (``tests/web/desk.py``): the demo fund with the
pre-opens of END and D built, served in-process. The tests read in file order; the decisions
each takes a proposal of its own.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from pms_luigi.core import calendar
from pms_luigi.ops import status, workflow
from pms_luigi.pipeline import context
from pms_luigi.store import console_queries as cq
from tests.conftest import BACKENDS, FUND_11, DemoWorlds
from tests.web.desk import END, EVIL, SECRET, USERS, D, Desk, desk

assert FUND_11  # the module's demo world (conftest builds the template in the background)


@pytest.fixture(scope="module", params=BACKENDS)
def console(request: pytest.FixtureRequest, demo_worlds: DemoWorlds,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    with desk(demo_worlds, request.param, tmp_path_factory.mktemp("console")) as d:
        yield d


def _pending(console: Desk, n: int = 1) -> list[int]:
    _, frame = workflow.list_proposals(console.world.engine, D)
    ids = [int(i) for i in frame.loc[frame["status"] == "PENDING", "proposal_id"]]
    assert len(ids) >= n, "the demo gives enough proposals"
    return ids[-n:]


def _status(console: Desk, pid: int) -> str:
    return workflow.show(console.world.engine, pid)[0]["status"]


# ------------------------------------------------------------------------- access


def test_every_view_needs_a_signed_in_user(console: Desk) -> None:
    anonymous = console.client()
    page = anonymous.get("/grid?start=2026-11-02")
    assert page.status == 302
    assert page.headers["Location"] == "/login?next=%2Fgrid%3Fstart%3D2026-11-02"
    for path in ("/api/today", "/api/grid", f"/api/cell/pms.MarkToMarket/{END}",
                 "/api/proposals", "/api/packs", f"/packs/{D}/pack.html"):
        reply = anonymous.get(path)
        assert reply.status in (302, 401), path
    assert anonymous.get("/api/grid").json() == {"error": "sign in first", "status": 401}
    missing = anonymous.get("/api/nowhere")
    assert missing.status == 404 and missing.json()["error"] == "no such page: /api/nowhere"
    assert "no such page: /nowhere" in anonymous.get("/nowhere").text


def test_sign_in_sets_httponly_samesite_cookies_and_logs_failures(
        console: Desk, caplog: pytest.LogCaptureFixture) -> None:
    c = console.client()
    first = c.get("/login")
    assert first.status == 200
    xsrf_cookie = [h for h in first.headers.get_all("Set-Cookie") if h.startswith("_xsrf=")]
    assert xsrf_cookie
    status, reply = c.sign_in("ana", USERS["ana"][1])
    assert status == 303 and reply.headers["Location"] == "/"
    cookies = reply.headers.get_all("Set-Cookie")
    session = next(h for h in cookies if h.startswith("pms_console="))
    assert "HttpOnly" in session and "SameSite=Strict" in session
    assert all("HttpOnly" in h and "SameSite=Strict" in h for h in xsrf_cookie)
    page = c.get("/")
    assert page.status == 200 and 'id="who"' in page.text and "ana" in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"

    with caplog.at_level("INFO", logger="pms_luigi"):
        status, bad = console.client().sign_in("ana", "not-her-password")
        unknown, _ = console.client().sign_in("mallory", USERS["ana"][1])
    assert (status, unknown) == (401, 401)
    assert "wrong name or password" in bad.text
    logged = caplog.text
    assert "failed sign-in as 'ana'" in logged and "failed sign-in as 'mallory'" in logged
    assert "not-her-password" not in logged and USERS["ana"][1] not in logged


def test_a_form_without_its_csrf_token_is_refused(console: Desk) -> None:
    pid = _pending(console)[0]
    ana = console.client("ana")
    for form in ({"action": "approve"}, {"action": "approve", "_xsrf": "2|00|00|0"}):
        reply = ana.post(f"/proposals/{pid}/decide", form, xsrf=False)
        assert reply.status == 403
        assert "CSRF token is missing or wrong" in reply.text
    assert ana.post("/logout", {}, xsrf=False).status == 403
    assert _status(console, pid) == "PENDING"


def test_only_a_pm_decides(console: Desk) -> None:
    pid = _pending(console)[0]
    for user in ("vic", "olga"):
        reply = console.client(user).post(f"/proposals/{pid}/decide",
                                          {"action": "approve", "date": str(D)})
        assert reply.status == 403
        assert f"{user} ({USERS[user][0]}) may not decide" in reply.text
    page = console.client("vic").get(f"/proposals?date={D}")
    assert page.status == 200 and 'action="/proposals/' not in page.text
    assert _status(console, pid) == "PENDING"


# ------------------------------------------------------------------------- the views


def test_grid_json_is_the_status_grid(console: Desk) -> None:
    start = calendar.business_days(FUND_11.end.replace(day=1), END)[0]
    got = console.client("vic").get(f"/api/grid?start={start}&end={D}").json()
    grid = status.grid(start, D)
    assert got["dates"] == [d.isoformat() for d in grid.dates]
    assert got["families"] == grid.families
    for fam in grid.families:
        assert got["states"][fam] == [grid.cells[(fam, d)] for d in grid.dates]
        assert got["counts"][fam] == grid.counts(fam)
    assert got["states"]["pms.MorningPack"][-2:] == ["done", "done"]
    bad = console.client("vic").get("/api/grid?start=2026-13-01")
    assert bad.status == 400 and "start: not a date" in bad.json()["error"]


def test_cell_json_shows_marker_runs_and_upstream(console: Desk) -> None:
    got = console.client("vic").get(f"/api/cell/pms.PerformanceAttribution/{END}").json()
    with console.world.engine.connect() as conn:
        marker = cq.marker_row(conn, "pms.PerformanceAttribution", END)
    assert got["state"] == "done"
    assert got["marker"]["run_id"] == marker["run_id"]
    assert got["marker"]["duration_s"] == pytest.approx(marker["duration_s"])
    assert got["runs"][0]["run_id"] == marker["run_id"] and got["runs"][0]["status"] == "DONE"
    assert {(u["family"], u["date"]) for u in got["upstream"]} == {
        ("pms.MarkToMarket", END.isoformat())}
    assert all(u["current"] for u in got["upstream"])
    assert got["error"] is None and got["rerun"] is None
    assert console.client("vic").get("/api/cell/pms.Nope/2026-11-02").status == 400
    assert console.client("vic").get("/api/cell/pms.MarkToMarket/2026-11-15").status == 400


def test_today_json_says_what_is_done_late_and_not_started(console: Desk) -> None:
    vic = console.client("vic")
    morning = vic.get(f"/api/today?at={D}T07:10").json()
    assert (morning["eod"]["date"], morning["preopen"]["date"]) == (str(END), str(D))
    assert (morning["eod"]["verdict"], morning["preopen"]["verdict"]) == ("done", "done")
    assert morning["pack"] == {"date": str(D), "stored": True, "digest": morning["pack"]["digest"]}
    assert morning["proposals"]["date"] == str(D) and morning["proposals"]["total"] > 0
    later = calendar.next_business_day(D)
    early = vic.get(f"/api/today?at={later}T05:30").json()
    assert early["preopen"]["verdict"] == "not started"
    late = vic.get(f"/api/today?at={later}T07:00").json()
    assert late["preopen"]["verdict"] == "late"
    assert {(s["family"], s["late"]) for s in late["preopen"]["steps"]} >= {
        ("pms.TradeProposals", True), ("pms.MorningPack", True)}
    assert all(s["reason"] for s in late["preopen"]["steps"] if s["state"] != "done")
    assert late["eod"]["date"] == str(D) and late["eod"]["verdict"] == "late"
    assert vic.get("/api/today?at=yesterday").status == 400


def test_proposals_json_is_the_workflows_list_with_checks(console: Desk) -> None:
    got = console.client("vic").get(f"/api/proposals?date={D}").json()
    _, frame = workflow.list_proposals(console.world.engine, D)
    assert [p["proposal_id"] for p in got["proposals"]] == list(frame["proposal_id"])
    assert got["journal"]["ok"] is True
    top = got["proposals"][0]
    assert top["checks"]["verdict"] in ("OK", "WARNING", "BREACH")
    assert top["strategies"][0]["name"] == EVIL
    assert {"APPROVE", "REJECT", "MODIFY"} >= set(top["allowed"])


def test_packs_json_and_the_headline_difference(console: Desk) -> None:
    vic = console.client("vic")
    dates = [p["business_date"] for p in vic.get("/api/packs").json()["packs"]]
    assert dates == [str(D), str(END)]
    diff = vic.get(f"/api/packs/diff?a={END}&b={D}").json()
    with console.world.engine.connect() as conn:
        payloads = cq.pack_payloads(conn, [END, D])
    nav = next(r for r in diff["rows"] if r["label"] == "NAV")
    a, b = (payloads[d]["summary"]["book"]["nav_brl"] for d in (END, D))
    assert (nav["a"], nav["b"]) == (a, b)
    assert nav["change"] == pytest.approx(b - a)
    assert a != b  # two closes apart: the difference is real
    missing = vic.get(f"/api/packs/diff?a=2020-01-02&b={D}")
    assert missing.status == 404
    assert "no morning pack stored for 2020-01-02" in missing.json()["error"]


def test_pack_html_pdf_and_charts_with_or_without_the_files(console: Desk) -> None:
    vic = console.client("vic")
    html = vic.get(f"/packs/{D}/pack.html")
    assert html.status == 200 and "cid:" not in html.text
    assert "style-src 'unsafe-inline'" in html.headers["Content-Security-Policy"]
    ctx = context.current()
    with ctx.stores.engine.connect() as conn:
        marker = cq.marker_row(conn, "pms.MorningPack", D)
    paths = marker["metadata"]["paths"]
    with open(paths["html"], encoding="utf-8") as fh:
        assert html.text == fh.read()  # the stored HTML, pointed like the file
    pdf = vic.get(f"/packs/{D}/pack.pdf")
    assert pdf.status == 200 and pdf.body.startswith(b"%PDF")
    chart = vic.get(f"/packs/{D}/equity_curve.png")
    assert chart.status == 200 and chart.body.startswith(b"\x89PNG")
    with open(paths["pdf"], "rb") as fh:
        assert pdf.body == fh.read()
    for kind in ("json", "pdf"):  # the folder cleaned up: rendered from the stored pack
        os.rename(paths[kind], paths[kind] + ".gone")
    again = vic.get(f"/packs/{D}/pack.pdf")
    assert again.status == 200 and again.body.startswith(b"%PDF")


# ------------------------------------------------------------------------- decisions


def test_a_pm_approves_rejects_and_modifies_under_her_name(console: Desk) -> None:
    approve, reject, modify = _pending(console, 3)
    ana = console.client("ana")
    reply = ana.post(f"/proposals/{approve}/decide", {"action": "approve", "date": str(D),
                                                      "seen_status": "PENDING"})
    assert reply.status == 303 and reply.headers["Location"] == f"/proposals?date={D}#p{approve}"
    assert "PENDING -&gt; APPROVED by ana" in ana.get(f"/proposals?date={D}").flash()
    refused = ana.post(f"/proposals/{reject}/decide", {"action": "reject", "reason": " "})
    assert refused.status == 303
    assert "reason" in (ana.get(f"/proposals?date={D}").flash() or "")
    assert _status(console, reject) == "PENDING"
    ana.post(f"/proposals/{reject}/decide", {"action": "reject", "reason": "too close to expiry"})
    quantity = workflow.show(console.world.engine, modify)[0]["quantity"]
    ana.post(f"/proposals/{modify}/decide", {"action": "modify", "reason": "half size",
                                             "quantity": str(quantity / 2)})
    got = {p["proposal_id"]: p for p in ana.get(f"/api/proposals?date={D}").json()["proposals"]}
    assert [(e["action"], e["actor"], e["reason"]) for e in got[approve]["journal"]] == [
        ("APPROVE", "ana", "")]
    assert [(e["action"], e["actor"], e["reason"]) for e in got[reject]["journal"]] == [
        ("REJECT", "ana", "too close to expiry")]
    assert got[modify]["status"] == "MODIFIED"
    assert abs(got[modify]["quantity"]) < abs(quantity)
    assert workflow.verify(console.world.engine).ok


def test_two_users_deciding_at_once_one_wins_the_other_sees_why(console: Desk) -> None:
    pid = _pending(console)[0]
    ana, bea = console.client("ana"), console.client("bea")
    for c in (ana, bea):
        c.get(f"/proposals?date={D}")  # both pages show it PENDING
    start = threading.Barrier(2)
    replies: dict[str, object] = {}

    def decide(name: str, client: object, form: dict[str, str]) -> None:
        start.wait()
        replies[name] = client.post(f"/proposals/{pid}/decide", {**form, "date": str(D),
                                                                  "seen_status": "PENDING"})

    threads = [threading.Thread(target=decide, args=("ana", ana, {"action": "approve"})),
               threading.Thread(target=decide, args=("bea", bea, {"action": "reject",
                                                                 "reason": "no room"}))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    flashes = {name: c.get(f"/proposals?date={D}").flash() for name, c in
               (("ana", ana), ("bea", bea))}
    _, entries, _ = workflow.show(console.world.engine, pid)
    assert len(entries) == 1, "exactly one decision committed"
    winner = entries.iloc[0]["actor"]
    loser = "bea" if winner == "ana" else "ana"
    assert "by " + winner in flashes[winner] and "journal entry" in flashes[winner]
    assert f"last decision: {entries.iloc[0]['action']} by {winner}" in flashes[loser]
    assert workflow.verify(console.world.engine).ok


# ------------------------------------------------------------------------- secrets, reruns


def test_no_secret_in_any_page_or_the_log(console: Desk, caplog: pytest.LogCaptureFixture) -> None:
    users = console.app.settings["console"].settings.users
    with caplog.at_level("INFO"):
        ana = console.client("ana")
        bodies = [ana.get(p).text for p in (
            "/", "/grid", f"/cell/pms.MarkToMarket/{END}", f"/proposals?date={D}", "/packs",
            f"/packs/{D}", f"/packs/diff?a={END}&b={D}", "/reruns", "/api/today")]
    secrets = [SECRET, *(pw for _, pw in USERS.values()),
               *(u.password.split("$")[2] for u in users.values())]
    for text in [*bodies, caplog.text]:
        assert not any(secret in text for secret in secrets)
    assert "ConsoleSettings(" in repr(console.app.settings["console"].settings)
    assert SECRET not in repr(console.app.settings["console"].settings)


def test_ops_reruns_a_step_downstream_in_a_process_logged_with_the_user(
        console: Desk, caplog: pytest.LogCaptureFixture) -> None:
    with console.world.engine.connect() as conn:
        before = cq.marker_row(conn, "pms.MorningPack", D)["run_id"]
    assert console.client("ana").post("/rerun", {"family": "pms.MorningPack",
                                                 "date": str(D)}).status == 403
    olga = console.client("olga")
    cell = olga.get(f"/api/cell/pms.MorningPack/{D}").json()
    assert cell["rerun"] is None  # the JSON twin shows no form; the page does
    assert 'id="rerun-button"' in olga.get(f"/cell/pms.MorningPack/{D}").text
    with caplog.at_level("INFO", logger="pms_luigi"):
        reply = olga.post("/rerun", {"family": "pms.MorningPack", "date": str(D)})
        assert reply.status == 303 and reply.headers["Location"] == "/reruns/1"
        busy = olga.post("/rerun", {"family": "pms.MorningPack", "date": str(D)})
        assert busy.status == 409 and "still running" in busy.text
        deadline = time.monotonic() + 120
        while (job := olga.get("/api/reruns").json()["reruns"][0])["state"] == "running":
            assert time.monotonic() < deadline, "the rerun did not finish"
            time.sleep(0.5)
    assert (job["user"], job["family"], job["state"]) == ("olga", "pms.MorningPack", "done")
    assert "started by olga" in caplog.text and "by olga finished with exit code 0" in caplog.text
    with console.world.engine.connect() as conn:
        after = cq.marker_row(conn, "pms.MorningPack", D)
    assert after["run_id"] != before
    assert olga.get(f"/api/cell/pms.MorningPack/{D}").json()["state"] == "done"
    assert f"reran pms.MorningPack {D}" in olga.get("/reruns/1").text
