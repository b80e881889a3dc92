"""``pms-luigi proposals list|show|approve|reject|modify|book|verify``: the PM's desk.

Wired into the main command by ``register(subparsers)``; also runnable on its own as
``python -m pms_luigi.cli.proposals …`` (same arguments, same exit codes). Exit codes
(:class:`pms_luigi.core.errors.ExitCode`): 0 done · 1 the journal chain is broken
(``verify``) · 3 no price to book at (missing data) · 8 refused (unknown proposal, illegal
transition, missing reason/actor, bad quantity/price) — nothing written.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from pms_luigi.cli.common import parse_date, run_alone
from pms_luigi.core.errors import ExitCode


def _engine():  # noqa: ANN202 - sqlalchemy Engine
    from pms_luigi.pipeline import config as cfg
    from pms_luigi.store.engine import get_engine

    return get_engine(cfg.database_url())


def _dump(obj: Any) -> str:
    from pms_luigi.core.frames import json_safe

    return json.dumps(json_safe(obj), indent=2, sort_keys=True, ensure_ascii=False)


def cmd_list(args: argparse.Namespace) -> int:
    from pms_luigi.ops import workflow

    on, frame = workflow.list_proposals(_engine(), args.date, args.status)
    if args.json:
        cols = [c for c in frame.columns if c not in ("risk_impact", "rationale")]
        print(_dump({"date": on, "proposals": frame[cols].to_dict("records")}))
        return ExitCode.OK
    if on is None:
        print("no proposals")
        return ExitCode.OK
    print(f"proposals for {on}: {len(frame)}")
    print(f"{'id':>5} {'rank':>4} {'status':<9} {'action':<8} {'side':<4} {'instrument':<24} "
          f"{'quantity':>16} {'notional R$':>18} {'dv01 R$/bp':>12} {'delta R$':>16} "
          f"{'conv':>7}  flags")
    for r in frame.itertuples(index=False):
        flags = ",".join(b["limit"] for b in (r.breaches or []))
        print(f"{r.proposal_id:>5} {r.rank:>4} {r.status:<9} {r.action:<8} {r.side:<4} "
              f"{r.instrument_id:<24} {r.quantity:>16,.0f} {r.notional_brl:>18,.2f} "
              f"{r.dv01_brl:>12,.2f} {r.delta_brl:>16,.2f} {r.conviction:>+7.3f}  "
              f"{'BREACH ' + flags if flags else ''}")
    return ExitCode.OK


def cmd_show(args: argparse.Namespace) -> int:
    from pms_luigi.ops import workflow

    row, entries, trades = workflow.show(_engine(), args.proposal_id)
    doc = {"proposal": row, "journal": entries.to_dict("records"),
           "trades": trades.to_dict("records")}
    if args.json:
        print(_dump(doc))
        return ExitCode.OK
    for key in ("proposal_id", "business_date", "instrument_id", "status", "action", "side",
                "quantity", "notional_brl", "dv01_brl", "delta_brl", "conviction", "rank",
                "origin"):
        print(f"{key:>14}: {row[key]}")
    print(f"{'strategies':>14}: " + ", ".join(
        f"{c.get('strategy_id')} {c.get('conviction', 0):+.2f} x w {c.get('weight') or 0:.2f}"
        for c in row["strategies"]))
    print(f"{'breaches':>14}: " + (", ".join(
        f"{b['limit']} {b['value']:.4g} > {b['limit_value']:.4g} (headroom {b['headroom']:.4g})"
        for b in row["breaches"]) or "none"))
    print(f"{'rationale':>14}: {row['rationale']}")
    for e in entries.itertuples(index=False):
        print(f"  journal #{e.entry_id} {e.at} {e.action} by {e.actor}: {e.reason or '-'} "
              f"[{e.hash[:12]}]")
    for t in trades.itertuples(index=False):
        print(f"  trade {t.trade_id} {t.trade_date} {t.strategy_id} qty {t.quantity:+,g} @ "
              f"{t.price:,.6g} cost R$ {t.cost_brl:,.2f}")
    return ExitCode.OK


def _report(decision: Any) -> int:  # workflow.Decision
    p, e = decision.proposal, decision.entry
    print(f"proposal {p['proposal_id']} {p['instrument_id']} {decision.before_status} -> "
          f"{p['status']} by {e['actor']} (journal entry {e['entry_id']}, head {e['hash']})")
    if e["action"] == "MODIFY":
        print(f"  quantity {p['quantity']:+,g}, notional R$ {p['notional_brl']:,.2f}, "
              f"dv01 {p['dv01_brl']:,.2f}, delta R$ {p['delta_brl']:,.2f}")
    if decision.trade:
        t = decision.trade
        print(f"  trade {t['trade_id']} {t['trade_date']} {t['instrument_id']} {t['strategy_id']} "
              f"qty {t['quantity']:+,g} @ {t['price']:,.8g} cost R$ {t['cost_brl']:,.2f}")
    for w in decision.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return ExitCode.OK


def cmd_approve(args: argparse.Namespace) -> int:
    from pms_luigi.ops import workflow

    return _report(workflow.approve(_engine(), args.proposal_id, args.actor, args.reason))


def cmd_reject(args: argparse.Namespace) -> int:
    from pms_luigi.ops import workflow

    return _report(workflow.reject(_engine(), args.proposal_id, args.reason, args.actor))


def cmd_modify(args: argparse.Namespace) -> int:
    from pms_luigi.ops import workflow

    return _report(workflow.modify(_engine(), args.proposal_id, args.quantity, args.reason,
                                   args.actor))


def cmd_book(args: argparse.Namespace) -> int:
    from pms_luigi.ops import workflow

    return _report(workflow.book(_engine(), args.proposal_id, args.actor, args.reason,
                                 price=args.price, strategy_id=args.strategy, cost_brl=args.cost))


def cmd_verify(args: argparse.Namespace) -> int:
    from pms_luigi.ops import workflow

    report = workflow.verify(_engine(), args.expect_head)
    if report.ok:
        print(f"decision journal OK: {report.n_entries} entries, head {report.head}")
        return ExitCode.OK
    print(f"decision journal BROKEN: {len(report.broken)} of {report.n_entries} entries fail "
          f"(first: entry {report.broken[0]})", file=sys.stderr)
    for line in report.details:
        print(f"  {line}", file=sys.stderr)
    return ExitCode.FAILED


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``proposals`` and its sub-commands to the ``pms-luigi`` parser."""
    p = subparsers.add_parser("proposals", help="list, decide on and book trade proposals")
    sub = p.add_subparsers(dest="proposals_command", required=True)

    def who(s: argparse.ArgumentParser) -> None:
        s.add_argument("--actor", help="who decides (default $USER)")

    s = sub.add_parser("list", help="proposals of a date (default: the latest)")
    s.add_argument("--date", type=parse_date)
    s.add_argument("--status", choices=["PENDING", "APPROVED", "REJECTED", "MODIFIED", "BOOKED"])
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_list)

    s = sub.add_parser("show", help="one proposal with its journal entries and trade")
    s.add_argument("proposal_id", type=int)
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_show)

    s = sub.add_parser("approve", help="PENDING -> APPROVED")
    s.add_argument("proposal_id", type=int)
    s.add_argument("--reason", default="")
    who(s)
    s.set_defaults(fn=cmd_approve)

    s = sub.add_parser("reject", help="PENDING -> REJECTED (reason required)")
    s.add_argument("proposal_id", type=int)
    s.add_argument("--reason", default="")
    who(s)
    s.set_defaults(fn=cmd_reject)

    s = sub.add_parser("modify", help="PENDING/MODIFIED -> MODIFIED at a new signed quantity")
    s.add_argument("proposal_id", type=int)
    s.add_argument("--quantity", type=float, required=True,
                   help="signed, in price terms (+ buy, - sell); rounded to the lot")
    s.add_argument("--reason", default="")
    who(s)
    s.set_defaults(fn=cmd_modify)

    s = sub.add_parser("book", help="APPROVED/MODIFIED -> BOOKED, writing trade P<id>")
    s.add_argument("proposal_id", type=int)
    s.add_argument("--price", type=float, help="execution price (default: last settlement <= D)")
    s.add_argument("--strategy", help="strategy the trade is booked to (default: top contributor)")
    s.add_argument("--cost", type=float, help="cost in BRL (default: original bps table)")
    s.add_argument("--reason", default="")
    who(s)
    s.set_defaults(fn=cmd_book)

    s = sub.add_parser("verify", help="walk the decision journal's hash chain")
    s.add_argument("--expect-head", help="head hash recorded elsewhere (catches truncation)")
    s.set_defaults(fn=cmd_verify)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pms_luigi.cli.proposals …``: the same as ``pms-luigi proposals …``."""
    return run_alone(register, ["proposals", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
