"""``pms-luigi reconcile --date D``: every price of D with a rate recomputed from it, now.

Runs ``pms.Reconcile(D)`` again (its earlier run, if any, is invalidated): when
``[pms_ingest]`` sources feed D it first ingests D's landed price files; otherwise it reads
the prices loaded by hand. The step replaces its data-quality rows of D; the command then
prints, per instrument type, the prices checked and those off, and every difference above
tolerance (``--all``: every price checked).

Exit codes: 0 when every price is its rate's; 8 (BAD_INPUT) when any is not — a finding
about the data or about us, to be looked at by a person, which is why cron's
``--wait-until`` never waits on it (the end-of-day itself does not fail on a finding: the
book is marked at the published settlements and the morning pack lists the rows); 3 when
a file or the prices are missing, 8 for a bad file, as any run.
"""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from pms_luigi.cli.common import ensure_schema, parse_date

if TYPE_CHECKING:
    import pandas as pd

    from pms_luigi.core.reconcile import Reconciliation

#: The columns printed per price, with their headings.
COLUMNS = (("instrument_id", "instrument"), ("instrument_type", "type"), ("rate", "rate %"),
           ("published", "published"), ("computed", "computed"),
           ("difference", "difference"), ("days", "du/dc"))


def table(rows: pd.DataFrame, decimals: dict[str, int]) -> str:
    """The rows of a reconciliation as an aligned text table (prices to their type's
    published decimals)."""
    lines = [[head for _, head in COLUMNS]]
    for r in rows.itertuples(index=False):
        d = decimals[r.instrument_type]
        lines.append([r.instrument_id, r.instrument_type, f"{r.rate * 100:.4f}",
                      f"{r.published:.{d}f}", f"{r.computed:.{d}f}",
                      f"{r.difference:+.{d}f}", str(r.days)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(line, widths, strict=True)))
                     for line in lines)


def summary(result: Reconciliation, vna_origin: str) -> str:
    """Per type: publisher, checked, off, formula; then what was not checked and the VNA
    (``vna_origin``: where it came from)."""
    from pms_luigi.core.reconcile import RULES

    rows = [f"{'type':5} {'publisher':9} {'checked':>7} {'off':>4}  formula"]
    for kind, n in result.summary().items():
        rule = RULES[kind]
        rows.append(f"{kind:5} {rule.publisher:9} {n['checked']:>7} {n['off']:>4}  "
                    f"{rule.formula}")
    skipped = result.skipped
    rows.append(f"not checked: {skipped['no rate']} without a rate (loaded as published), "
                f"{skipped['no rule']} without a rule (e.g. LFT), {skipped['matured']} at "
                "or past maturity")
    if result.vna is not None:
        rows.append(f"NTN-B VNA {result.vna:.6f} ({vna_origin})")
    return "\n".join(rows)


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Run the reconciliation of ``--date`` now and print it (see the module)."""
    from pms_luigi.core.errors import ExitCode
    from pms_luigi.core.reconcile import RULES
    from pms_luigi.ops import runner
    from pms_luigi.ops.invalidate import invalidate
    from pms_luigi.pipeline import context
    from pms_luigi.pipeline.steps.reconcile import Reconcile, run, vna_origin

    ensure_schema()
    step = Reconcile(date=args.date)  # a non-business date is refused here (exit 2)
    invalidate(step.family(), args.date, downstream=False)
    code = runner.build([step])
    if code != ExitCode.OK:
        return code
    inputs = step.read_inputs(context.current())
    result = run(inputs, args.date)
    findings = result.findings()
    print(f"reconcile {args.date}: {len(result.checked)} prices checked against their rates, "
          f"{len(findings)} off")
    print(summary(result, vna_origin(result, inputs)))
    decimals = {kind: rule.decimals for kind, rule in RULES.items()}
    shown = result.checked if args.all else findings
    if len(shown):
        print(table(shown, decimals))
    if len(findings):
        print(f"{len(findings)} price(s) off their rate: data_quality_issues of {args.date}, "
              f"step {step.family()} {ExitCode.BAD_INPUT.tag}")
        return ExitCode.BAD_INPUT
    print("every price is its rate's")
    return ExitCode.OK


def register(sub: Any) -> None:
    """Add ``reconcile`` to the ``pms-luigi`` subcommands."""
    s = sub.add_parser("reconcile", help="recompute a date's prices from their rates",
                       description=__doc__.split("\n\n")[0])
    s.add_argument("--date", type=parse_date, required=True)
    s.add_argument("--all", action="store_true", help="print every price checked")
    s.set_defaults(fn=cmd_reconcile)
