"""The proposal workflow on both store pairs: list, approve, reject, modify, book, the
hash-chained decision journal, reruns of TradeProposals next to human decisions, bad signals.

One world per backend for the module: a copy of the session's demo fund (``conftest.FUND_11``,
EOD history to the day before P), then TradeProposals for the next business day D (the
proposal step of PreOpen(D), which builds the MTM of P; the morning pack is not needed here
and would triple the time). The tests read as a PM's morning, in file order: each leaves the world
consistent for the next one.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from pms_luigi.cli import proposals as cli
from pms_luigi.core import calendar, mtm, proposals, validation
from pms_luigi.core.errors import InvalidInput
from pms_luigi.ops import invalidate as invalidation
from pms_luigi.ops import runner, workflow
from pms_luigi.pipeline.steps.proposals import TradeProposals
from pms_luigi.store import journal
from pms_luigi.store import readers as rd
from pms_luigi.store import schema as s
from pms_luigi.store.loader import load_inputs
from tests.conftest import BACKENDS, FUND_11, DemoWorlds, World

END = FUND_11.end  # P: the last close
D = calendar.next_business_day(END)  # the trading day of the proposals
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=BACKENDS)
def desk(request: pytest.FixtureRequest, demo_worlds: DemoWorlds,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The shared demo fund with the proposals for D built here."""
    with demo_worlds.copy(FUND_11, request.param,
                          tmp_path_factory.mktemp("workflow")) as (w, _):
        # TradeProposals(D) pulls the MarkToMarket chain up to P (attribution is not needed)
        assert runner.build([TradeProposals(date=D)]) == runner.ExitCode.OK
        yield w


def _proposals(w: World) -> pd.DataFrame:
    with w.engine.connect() as conn:
        return rd.proposals_on(conn, D)


def _journal(w: World) -> pd.DataFrame:
    with w.engine.connect() as conn:
        return journal.entries(conn)


def _trades(w: World, where: sa.ColumnElement | None = None) -> pd.DataFrame:
    stmt = sa.select(s.trades).order_by(s.trades.c.trade_id)
    with w.engine.connect() as conn:
        return rd.fetch(conn, stmt if where is None else stmt.where(where))


def _pending(w: World, n: int = 1, skip: tuple[int, ...] = ()) -> list[dict]:
    frame = _proposals(w)
    frame = frame[(frame["status"] == "PENDING") & ~frame["proposal_id"].isin(skip)]
    assert len(frame) >= n, "the demo book should give enough proposals"
    return frame.head(n).to_dict("records")


def _cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_shows_the_pipeline_proposals(desk: World, capsys) -> None:
    frame = _proposals(desk)
    assert len(frame) >= 5
    assert set(frame["status"]) == {"PENDING"} and set(frame["origin"]) == {"PIPELINE"}
    code, out, _ = _cli(capsys, "list", "--date", D.isoformat())
    assert code == 0 and f"proposals for {D}: {len(frame)}" in out
    for r in frame.itertuples():
        assert f" {r.instrument_id} " in out and str(r.proposal_id) in out
    code, out, _ = _cli(capsys, "list", "--json")  # default: the latest date with proposals
    doc = json.loads(out)
    assert code == 0 and doc["date"] == D.isoformat()
    assert [p["proposal_id"] for p in doc["proposals"]] == frame["proposal_id"].tolist()
    code, out, _ = _cli(capsys, "list", "--status", "APPROVED")
    assert code == 0 and f"proposals for {D}: 0" in out


def test_approve_changes_status_and_appends_a_chained_journal_row(desk: World, capsys,
                                                                  monkeypatch) -> None:
    first, second = _pending(desk, 2)
    decision = workflow.approve(desk.engine, first["proposal_id"], actor="pm.silva",
                                reason="fits the rates book")
    assert decision.before_status == "PENDING" and decision.proposal["status"] == "APPROVED"
    monkeypatch.setenv("USER", "pm.costa")  # the CLI falls back to $USER
    code, out, _ = _cli(capsys, "approve", str(second["proposal_id"]))
    assert code == 0 and "PENDING -> APPROVED by pm.costa" in out

    after = _proposals(desk).set_index("proposal_id")
    assert after.at[first["proposal_id"], "status"] == "APPROVED"
    for col in ("quantity", "notional_brl", "dv01_brl", "delta_brl", "rank", "rationale"):
        assert after.at[first["proposal_id"], col] == first[col], col
    j = _journal(desk)
    assert j["entry_id"].tolist() == [1, 2]
    e1, e2 = j.to_dict("records")
    assert (e1["proposal_id"], e1["action"], e1["actor"], e1["reason"]) == \
        (first["proposal_id"], "APPROVE", "pm.silva", "fits the rates book")
    assert (e2["proposal_id"], e2["actor"], e2["reason"]) == (second["proposal_id"], "pm.costa", "")
    assert e1["payload"]["before"]["status"] == "PENDING"
    assert e1["payload"]["after"]["status"] == "APPROVED"
    assert e1["payload"]["after"]["quantity"] == first["quantity"]
    assert e1["prev_hash"] == proposals.GENESIS_HASH and e2["prev_hash"] == e1["hash"]
    assert e1["hash"] == proposals.journal_hash(
        e1["prev_hash"], {k: e1[k] for k in proposals.JOURNAL_FIELDS})  # as read back
    assert workflow.verify(desk.engine).ok


def test_reject_needs_a_reason_and_illegal_transitions_name_the_states(desk: World,
                                                                      capsys) -> None:
    (target,) = _pending(desk, 1)
    pid = target["proposal_id"]
    before_j = len(_journal(desk))
    with pytest.raises(workflow.WorkflowError) as exc:
        workflow.reject(desk.engine, pid, reason="   ", actor="pm.silva")
    assert exc.value.field == "reason" and str(pid) in str(exc.value)
    code, _, err = _cli(capsys, "reject", str(pid), "--actor", "pm.silva")
    assert code == cli.ExitCode.BAD_INPUT and "REJECT needs a reason" in err
    assert len(_journal(desk)) == before_j
    assert _proposals(desk).set_index("proposal_id").at[pid, "status"] == "PENDING"

    decision = workflow.reject(desk.engine, pid, reason="crowded trade", actor="pm.silva")
    assert decision.proposal["status"] == "REJECTED"
    assert decision.entry["reason"] == "crowded trade"
    for action, call in [("APPROVE", lambda: workflow.approve(desk.engine, pid, "pm.silva")),
                         ("BOOK", lambda: workflow.book(desk.engine, pid, "pm.silva"))]:
        with pytest.raises(workflow.WorkflowError) as exc:
            call()
        msg = str(exc.value)
        assert f"proposal {pid} ({target['instrument_id']}" in msg
        assert "is REJECTED" in msg and action in msg and "final" in msg
    approved = int(_journal(desk).iloc[0]["proposal_id"])
    code, _, err = _cli(capsys, "reject", str(approved), "--reason", "changed my mind",
                        "--actor", "pm.silva")
    assert code == cli.ExitCode.BAD_INPUT and f"proposal {approved}" in err
    assert "is APPROVED" in err and "BOOK" in err
    with pytest.raises(workflow.WorkflowError, match="not found"):
        workflow.approve(desk.engine, 999_999, "pm.silva")
    assert len(_journal(desk)) == before_j + 1  # only the accepted rejection


def test_modify_resizes_to_lots_and_rescales_risk(desk: World) -> None:
    frame = _proposals(desk)
    with desk.engine.connect() as conn:
        lots = rd.instruments(conn).set_index("instrument_id")["lot_size"]
    pending = frame[frame["status"] == "PENDING"].assign(lot=lambda f: f["instrument_id"].map(lots))
    target = pending.sort_values(["lot", "proposal_id"], ascending=[False, True]).iloc[0].to_dict()
    pid, lot, q = target["proposal_id"], float(target["lot"]), float(target["quantity"])
    n_j = len(_journal(desk))
    with pytest.raises(workflow.WorkflowError, match="needs a reason"):
        workflow.modify(desk.engine, pid, q / 2, reason="", actor="pm.silva")
    with pytest.raises(workflow.WorkflowError, match="fat-finger"):
        workflow.modify(desk.engine, pid, q * 1000, reason="typo", actor="pm.silva")
    with pytest.raises(workflow.WorkflowError, match="rounds to 0"):
        workflow.modify(desk.engine, pid, lot * 0.4, reason="tiny", actor="pm.silva")
    assert len(_journal(desk)) == n_j

    lots_half = round(abs(q) / lot / 2)
    requested = (lots_half + 0.3) * lot * (1 if q > 0 else -1)  # off-lot: rounds to lots_half
    expected = lots_half * lot * (1 if q > 0 else -1)
    k = expected / q
    d = workflow.modify(desk.engine, pid, requested, reason="half size into the data",
                        actor="pm.silva")
    p = d.proposal
    assert (p["status"], p["quantity"]) == ("MODIFIED", expected)
    assert p["notional_brl"] == pytest.approx(abs(target["notional_brl"] * k), abs=0.011)
    assert p["dv01_brl"] == pytest.approx(target["dv01_brl"] * k, abs=0.011)
    assert p["delta_brl"] == pytest.approx(target["delta_brl"] * k, abs=0.011)
    assert p["side"] == target["side"]
    assert p["risk_impact"]["modified"]["from_quantity"] == q
    assert d.entry["payload"]["before"]["quantity"] == q
    assert d.entry["payload"]["after"]["quantity"] == expected
    assert d.entry["payload"]["requested_quantity"] == requested
    assert workflow.verify(desk.engine).ok


def test_rerun_keeps_decided_proposals_intact_and_every_pending_id(desk: World) -> None:
    before = _proposals(desk)
    decided = before[before["status"] != "PENDING"].set_index("proposal_id").sort_index()
    assert set(decided["status"]) == {"APPROVED", "REJECTED", "MODIFIED"}
    keys = ["instrument_id", "side", "action"]
    old_pending = before[before["status"] == "PENDING"].set_index("proposal_id")[keys]
    old_run = set(before.loc[before["status"] == "PENDING", "run_id"])
    head = workflow.verify(desk.engine).head
    hit = invalidation.invalidate("pms.TradeProposals", D)
    assert ("pms.TradeProposals", D) in hit
    assert runner.build([TradeProposals(date=D)]) == runner.ExitCode.OK

    after = _proposals(desk)
    kept = after[after["proposal_id"].isin(decided.index)].set_index("proposal_id").sort_index()
    pd.testing.assert_frame_equal(kept, decided)  # same ids, statuses, values, timestamps
    pending = after[after["status"] == "PENDING"]
    assert not set(pending["run_id"]) & old_run  # rewritten by the new run, not accumulated
    assert pending.groupby("instrument_id").size().max() == 1
    # every PENDING proposal keeps its id: same (date, instrument, side, action), same id
    kept_pending = pending.set_index("proposal_id")[keys]
    pd.testing.assert_frame_equal(kept_pending.loc[old_pending.index], old_pending)
    # a decided instrument is not proposed again, and the journal is untouched
    assert not set(pending["instrument_id"]) & set(decided["instrument_id"])
    report = workflow.verify(desk.engine)
    assert report.ok and report.head == head


def test_book_creates_exactly_one_valid_trade(desk: World, capsys) -> None:
    frame = _proposals(desk)
    approved = frame[frame["status"] == "APPROVED"].iloc[0].to_dict()
    modified = frame[frame["status"] == "MODIFIED"].iloc[0].to_dict()
    pending = frame[frame["status"] == "PENDING"].iloc[0].to_dict()
    n_trades = len(_trades(desk))
    with pytest.raises(workflow.WorkflowError, match="is PENDING: BOOK is not allowed"):
        workflow.book(desk.engine, pending["proposal_id"], "pm.silva")

    pid = approved["proposal_id"]
    d = workflow.book(desk.engine, pid, actor="ops.lima", reason="filled at settlement")
    assert d.before_status == "APPROVED" and d.proposal["status"] == "BOOKED"
    trades = _trades(desk, s.trades.c.proposal_id == pid)
    assert len(trades) == 1
    t = trades.iloc[0].to_dict()
    with desk.engine.connect() as conn:
        inst = rd.instruments(conn).set_index("instrument_id").loc[approved["instrument_id"]]
        settle = conn.execute(sa.select(s.market_prices.c.price).where(
            s.market_prices.c.instrument_id == approved["instrument_id"],
            s.market_prices.c.price_date == END)).scalar_one()
        fx = conn.execute(sa.select(s.fx_fixings.c.rate).where(
            s.fx_fixings.c.fixing_date == END, s.fx_fixings.c.kind == "CLOSE")).scalar_one()
    assert (t["trade_id"], t["trade_date"], t["source"], t["proposal_id"]) == \
        (f"P{pid}", D, "PROPOSAL", pid)
    assert (t["instrument_id"], t["quantity"], t["price"]) == \
        (approved["instrument_id"], approved["quantity"], settle)
    assert t["strategy_id"] in {c["strategy_id"] for c in approved["strategies"]}
    ccy_fx = fx if inst["currency"] == "USD" else 1.0
    bps = proposals.COST_BPS.get(inst["instrument_type"], proposals.DEFAULT_COST_BPS)
    assert t["cost_brl"] == pytest.approx(
        abs(t["quantity"]) * inst["contract_size"] * settle * ccy_fx * bps / 1e4, abs=0.006)
    with desk.engine.connect() as conn:
        instruments, strategies = rd.instruments(conn), rd.strategies(conn)
        ledger = rd.trades_upto(conn, D)
    validation.validate("trades", trades, {"instruments": set(instruments["instrument_id"]),
                                           "strategies": set(strategies["strategy_id"])},
                        instruments)
    # MarkToMarket(D) reads trades_upto(D): the position moves by exactly the booked quantity
    key = (t["instrument_id"], t["strategy_id"])
    pos = mtm.positions_as_of(ledger, D).set_index(["instrument_id", "strategy_id"])
    base = mtm.positions_as_of(ledger[ledger["trade_id"] != t["trade_id"]], D) \
        .set_index(["instrument_id", "strategy_id"])
    q0 = base["quantity"].get(key, 0.0)
    assert pos.at[key, "quantity"] == pytest.approx(q0 + t["quantity"])
    assert d.entry["payload"]["trade"]["trade_id"] == f"P{pid}"

    with pytest.raises(workflow.WorkflowError, match="is BOOKED: BOOK is not allowed"):
        workflow.book(desk.engine, pid, "ops.lima")
    code, _, err = _cli(capsys, "book", str(pid), "--actor", "ops.lima")
    assert code == cli.ExitCode.BAD_INPUT and "is BOOKED" in err

    mid = modified["proposal_id"]
    code, out, _ = _cli(capsys, "book", str(mid), "--price", "1234.5", "--cost", "10",
                        "--actor", "ops.lima")
    assert code == 0 and "MODIFIED -> BOOKED" in out and f"trade P{mid}" in out
    tm = _trades(desk, s.trades.c.proposal_id == mid).iloc[0]
    assert (tm["quantity"], tm["price"], tm["cost_brl"]) == (modified["quantity"], 1234.5, 10.0)
    assert len(_trades(desk)) == n_trades + 2
    code, out, _ = _cli(capsys, "show", str(mid))
    assert code == 0 and "MODIFY by pm.silva" in out and "BOOK by ops.lima" in out
    assert workflow.verify(desk.engine).ok


def test_concurrent_decisions_never_fork_the_chain(desk: World) -> None:
    targets = [p["proposal_id"] for p in _pending(desk, 3)]
    n_before = len(_journal(desk))
    jobs = [pid for pid in targets for _ in range(2)]  # every proposal approved twice at once
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def run(i: int, pid: int) -> None:
        barrier.wait()
        try:
            results[i] = workflow.approve(desk.engine, pid, actor=f"pm.{i}")
        except InvalidInput as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, pid)) for i, pid in enumerate(jobs)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    wins = [r for r in results if isinstance(r, workflow.Decision)]
    losses = [r for r in results if isinstance(r, workflow.WorkflowError)]
    assert len(wins) == len(targets) and len(losses) == len(targets), results
    assert all("is APPROVED: APPROVE is not allowed" in str(e) for e in losses)
    j = _journal(desk)
    assert len(j) == n_before + len(targets)
    assert j["entry_id"].tolist() == list(range(1, len(j) + 1))
    assert j["prev_hash"].iloc[1:].tolist() == j["hash"].iloc[:-1].tolist()
    assert workflow.verify(desk.engine).ok


def test_bad_signals_fail_the_step_naming_the_row_and_write_nothing(desk: World) -> None:
    g = s.signals
    with desk.engine.connect() as conn:
        strategy = conn.execute(sa.select(g.c.strategy_id).where(g.c.signal_date == END)
                                .limit(1)).scalar_one()
        marker_before = conn.execute(sa.select(s.task_markers.c.run_id).where(
            s.task_markers.c.family == "pms.TradeProposals",
            s.task_markers.c.business_date == D)).scalar_one()
    rows_before = _proposals(desk)

    # conviction outside [-1, 1] and an unknown strategy cannot even reach the table ...
    for field, bad in (
            ("conviction", {"strategy_id": strategy, "signal_id": "DI_PRE", "conviction": 1.5}),
            ("strategy_id", {"strategy_id": "NO_SUCH_STRATEGY", "signal_id": "DI_PRE",
                             "conviction": 0.5})):
        with pytest.raises(sa.exc.IntegrityError), desk.engine.begin() as conn:
            conn.execute(sa.insert(g), [{"signal_date": END, **bad}])
        with pytest.raises(InvalidInput) as exc:
            load_inputs(desk.engine, {"signals": pd.DataFrame([{"signal_date": END, **bad}])})
        assert exc.value.field == field and END.isoformat() in str(exc.value)
        assert bad["strategy_id"] in str(exc.value)
    # ... and a signal dated after P is refused by the loader's point-in-time check
    late = pd.DataFrame([{"signal_date": D, "strategy_id": strategy, "signal_id": "DI_PRE",
                          "conviction": 0.9}])
    with pytest.raises(InvalidInput, match=f"dated after {END}") as exc:
        load_inputs(desk.engine, {"signals": late}, as_of=END)
    assert exc.value.field == "signal_date" and strategy in str(exc.value)

    # an unknown signal id has no foreign key: it reaches the step, which fails naming it
    with desk.engine.begin() as conn:
        conn.execute(sa.insert(g), [{"signal_date": END, "strategy_id": strategy,
                                     "signal_id": "NO_SUCH_ALIAS", "conviction": 0.5}])
    invalidation.invalidate("pms.TradeProposals", D)
    try:
        assert runner.build([TradeProposals(date=D)]) == runner.ExitCode.BAD_INPUT
        with desk.engine.connect() as conn:
            error = conn.execute(sa.select(s.task_runs.c.error).where(
                s.task_runs.c.family == "pms.TradeProposals", s.task_runs.c.status == "FAILED")
                .order_by(s.task_runs.c.started_at.desc()).limit(1)).scalar_one()
            marker = conn.execute(sa.select(s.task_markers.c.run_id).where(
                s.task_markers.c.family == "pms.TradeProposals",
                s.task_markers.c.business_date == D)).scalar_one_or_none()
        assert f"signal_date={END}" in error and strategy in error and "NO_SUCH_ALIAS" in error
        assert marker is None
        pd.testing.assert_frame_equal(_proposals(desk), rows_before)  # nothing written
    finally:
        with desk.engine.begin() as conn:
            conn.execute(sa.delete(g).where(g.c.signal_id == "NO_SUCH_ALIAS"))
    assert runner.build([TradeProposals(date=D)]) == runner.ExitCode.OK
    cols = ["instrument_id", "status", "quantity", "conviction", "notional_brl", "rank"]
    clean = _proposals(desk)[cols]
    # a signal dated after P that is in the table anyway is not read by TradeProposals(D):
    # the reader is point-in-time (signals of P only), so the result does not change
    with desk.engine.begin() as conn:
        conn.execute(sa.insert(g), [late.iloc[0].to_dict()])
    invalidation.invalidate("pms.TradeProposals", D)
    assert runner.build([TradeProposals(date=D)]) == runner.ExitCode.OK
    pd.testing.assert_frame_equal(_proposals(desk)[cols], clean)
    assert marker_before is not None


def test_tampered_journal_row_is_detected_by_verify(desk: World, capsys) -> None:
    report = workflow.verify(desk.engine)
    assert report.ok and report.n_entries >= 8
    original = _journal(desk).set_index("entry_id").at[2, "reason"]
    code, out, _ = _cli(capsys, "verify", "--expect-head", report.head)
    assert code == 0 and f"{report.n_entries} entries" in out
    with desk.engine.begin() as conn:
        conn.execute(sa.update(s.decision_journal).where(s.decision_journal.c.entry_id == 2)
                     .values(reason="approved after the committee (edited)"))
    proc = subprocess.run([sys.executable, "-m", "pms_luigi.cli.proposals", "verify"],
                          cwd=REPO, env=os.environ.copy(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "BROKEN" in proc.stderr and "entry 2 (proposal" in proc.stderr
    assert workflow.verify(desk.engine).broken == [2]
    # truncation: dropping the last entry leaves a valid shorter chain, caught by the head
    with desk.engine.begin() as conn:
        conn.execute(sa.update(s.decision_journal).where(s.decision_journal.c.entry_id == 2)
                     .values(reason=original))
        conn.execute(sa.delete(s.decision_journal).where(
            s.decision_journal.c.entry_id == report.n_entries))
    assert workflow.verify(desk.engine).ok
    code, _, err = _cli(capsys, "verify", "--expect-head", report.head)
    assert code == 1 and f"entry {report.n_entries - 1}" in err
