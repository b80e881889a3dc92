"""``pms.Reconcile(D)``: every price of D with a rate recomputed from it (the pure
:func:`pms_luigi.core.reconcile.reconcile`), each difference above tolerance a
data-quality row.

A finding is a WARNING row (``data_quality_issues``, ``step = pms.Reconcile``, one per
instrument, replacing the step's own rows of D), never a failure: the batch marks at the
published settlements whatever the reconciliation says, and the morning pack lists the rows.
With ``[pms_ingest]`` sources feeding D, ``EndOfDay(D)`` requires the step and the step
consumes the ingestion of D's price files (a corrected file makes it stale); without, it
reads the prices loaded by hand (``PricesReady``). ``pms-luigi reconcile --date D`` runs it
and prints the table. No cache output.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import luigi
import pandas as pd
import sqlalchemy as sa

from pms_luigi.core import reconcile
from pms_luigi.core.frames import canonical_json, json_safe
from pms_luigi.pipeline.context import RunContext
from pms_luigi.pipeline.inputs import PricesReady
from pms_luigi.pipeline.step import PmsTask, StepResult, payload_digest
from pms_luigi.pipeline.steps import ingest
from pms_luigi.store import ingested
from pms_luigi.store import readers as rd
from pms_luigi.store import schema as s
from pms_luigi.store.writers import replace_step_rows


@dataclass(frozen=True)
class ReconcileInputs:
    """The date's prices, the instruments' types and maturities, and the NTN-B VNA stored
    for the date (None: none) with where it came from (``by hand``, or the landed file
    whose NTN-B rows implied it)."""

    prices: pd.DataFrame
    instruments: pd.DataFrame
    vna: float | None
    vna_source: str = ""


class Reconcile(PmsTask):
    """The published prices of D against their rates (see the module)."""

    version = 1
    kinds = ()
    rank = 1

    @classmethod
    def upstream_for(cls, on: date, ctx: RunContext) -> list[tuple[type[PmsTask], date]]:
        """The ingestion of D's price files (B3, ANBIMA) when sources feed D; else none."""
        return ingest.price_steps_for(on, ctx.settings.landing)

    def external_requires(self) -> list[luigi.Task]:
        """The date's prices loaded by hand, unless landed files feed the date (then its
        price files are upstream: none on a day B3 is closed and no bond file is used)."""
        fed = ingest.steps_for(self.date, self.ctx.settings.landing)
        return [] if fed else [PricesReady(date=self.date)]

    def read_inputs(self, ctx: RunContext) -> ReconcileInputs:
        with ctx.stores.engine.connect() as conn:
            vna = ingested.provenance(conn, s.vna, self.date)
            prices, instruments = rd.prices_between(conn, self.date, self.date), \
                rd.instruments(conn)
        ntnb = vna[vna["index_name"] == "NTNB"]
        if ntnb.empty:
            return ReconcileInputs(prices, instruments, None)
        row = ntnb.iloc[0]
        source = "by hand" if pd.isna(row["file_name"]) else f"from {row['file_name']}"
        return ReconcileInputs(prices, instruments, float(row["value"]), source)

    def compute(self, inputs: ReconcileInputs) -> StepResult:
        result = run(inputs, self.date)
        issues = result.issues(self.family())
        metadata = {"checked": len(result.checked), "findings": len(issues),
                    "vna": result.vna, "vna_origin": vna_origin(result, inputs),
                    "by_type": result.summary(), "skipped": result.skipped}
        digest = payload_digest({"checked": canonical_json(
            json_safe(result.checked.to_dict("records")))})
        return StepResult(frames={s.data_quality_issues: issues}, metadata=metadata,
                          digest=digest)

    def write(self, conn: sa.Connection, result: StepResult, run_id: str) -> int:
        """Replace the step's own data-quality rows of D (other steps' rows stay)."""
        frame = result.frames[s.data_quality_issues].assign(run_id=run_id)
        return replace_step_rows(conn, s.data_quality_issues, self.date, self.family(), frame)

    def payloads(self, conn: sa.Connection) -> dict[str, Any]:
        return {}


def run(inputs: ReconcileInputs, on: date) -> reconcile.Reconciliation:
    """The pure reconciliation of what :meth:`Reconcile.read_inputs` read."""
    return reconcile.reconcile(inputs.prices, inputs.instruments, on, inputs.vna)


def vna_origin(result: reconcile.Reconciliation, inputs: ReconcileInputs) -> str:
    """Where the VNA used came from: ``loaded by hand``, ``loaded from <file>`` (the ANBIMA
    file whose NTN-B rows implied it), ``implied by the NTN-B prices``; ``""`` for none."""
    if result.vna_origin == "loaded":
        return f"loaded {inputs.vna_source}"
    return "implied by the NTN-B prices" if result.vna_origin == "implied" else ""
