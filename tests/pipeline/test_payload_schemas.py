"""Every Redis payload a real run publishes, checked against its JSON Schema (docs/schemas).

One world per backend for the module: a copy of the session's demo fund ``FUND_11`` whose
last close is built here with VaR on 30 scenarios (the history before it was built with the
default 60, so the published risk payloads hold both an ``OK`` and an
``INSUFFICIENT_HISTORY`` snapshot, nulls included), then the pre-open of the next day (the
proposals and the morning pack). Every ``<ns>:<kind>:<date>`` and ``<ns>:<kind>:latest`` value
is validated, its envelope compared with the database (the marker's run_id, the fund's name,
the date in the key and in the data), and the marker's digest recomputed from the bytes in
Redis. A schema must also reject a payload that lacks a required field: the schemas are
checks, not decoration.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import date
from functools import cache
from pathlib import Path

import jsonschema
import luigi
import pytest
import sqlalchemy as sa

from pms_luigi import demo
from pms_luigi.core import calendar
from pms_luigi.ops import backfill as backfills
from pms_luigi.ops import runner
from pms_luigi.pipeline.graph import FAMILIES
from pms_luigi.pipeline.step import payload_digest
from pms_luigi.store import markers as mk
from pms_luigi.store import schema as s
from tests.conftest import BACKENDS, FUND_11, DemoWorlds, World

END = FUND_11.end                          # the last close, built here
NEXT = calendar.next_business_day(END)     # its pre-open
SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
#: kind -> the step family that publishes it
FAMILY_OF = {kind: family for family, cls in FAMILIES.items() for kind in cls.kinds}
#: where the data of each kind says its own date
DATA_DATE = {"book": "business_date", "risk": "business_date", "attribution": "date",
             "proposals": "date", "morning_pack": "date"}


@cache
def validator(kind: str) -> jsonschema.Draft202012Validator:
    """The kind's schema (itself checked against the 2020-12 meta-schema), formats checked."""
    schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _problem(kind: str, value: object) -> str | None:
    """The most relevant schema violation of ``value``, or None when it is valid."""
    error = jsonschema.exceptions.best_match(validator(kind).iter_errors(value))
    if error is None:
        return None
    return f"{'/'.join(map(str, error.absolute_path))}: {error.message[:300]}"


@pytest.fixture(scope="module", params=BACKENDS)
def published(request: pytest.FixtureRequest, demo_worlds: DemoWorlds,
              tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[World, demo.DemoData]]:
    """The shared demo fund, its last close (VaR on 30 scenarios) and the next pre-open."""
    with demo_worlds.copy(FUND_11, request.param, tmp_path_factory.mktemp("payloads")) as built:
        conf = luigi.configuration.get_config()
        before = conf.get("pms_mtm", "var_min_history", None)
        conf.set("pms_mtm", "var_min_history", "30")
        try:
            assert backfills.backfill(built[1].start, END, chunk=50) == runner.ExitCode.OK
            assert runner.run_kind("preopen", NEXT) == runner.ExitCode.OK
            yield built
        finally:
            if before is None:
                conf.remove_option("pms_mtm", "var_min_history")
            else:
                conf.set("pms_mtm", "var_min_history", before)


def _payloads(w: World) -> dict[tuple[str, str], str]:
    """Every payload value in the world's namespace: (kind, date or "latest") -> text."""
    out = {}
    for key in w.keys():
        _, kind, suffix = key.split(":", 2)
        if kind != "marker" and suffix != "latest_date":
            out[kind, suffix] = w.redis.get(key)
    return out


def _markers(w: World, family: str, dates: list[date]) -> dict[date, mk.Marker]:
    with w.engine.connect() as conn:
        return mk.read_markers(conn, family, dates)


def _fund_name(w: World) -> str:
    with w.engine.connect() as conn:
        return conn.execute(sa.select(s.fund.c.name)).scalar_one()


def test_every_published_payload_matches_its_schema_and_its_marker(published) -> None:
    w, _ = published
    payloads = _payloads(w)
    assert {kind for kind, _ in payloads} == set(FAMILY_OF)  # every kind was published
    fund = _fund_name(w)
    risk_status = set()
    for (kind, suffix), text in sorted(payloads.items()):
        envelope = json.loads(text)
        assert _problem(kind, envelope) is None, (kind, suffix, _problem(kind, envelope))
        on = date.fromisoformat(suffix if suffix != "latest" else
                                w.redis.get(f"{w.namespace}:{kind}:latest_date"))
        marker = _markers(w, FAMILY_OF[kind], [on])[on]
        assert (envelope["kind"], envelope["business_date"], envelope["fund"]) == \
            (kind, on.isoformat(), fund), (kind, suffix)
        assert envelope["run_id"] == marker.run_id, (kind, suffix)
        assert envelope["data"][DATA_DATE[kind]] == on.isoformat(), (kind, suffix)
        if kind == "risk":
            risk_status.add(envelope["data"]["status"])
    assert risk_status == {"OK", "INSUFFICIENT_HISTORY"}  # the nullable figures were seen


def test_the_marker_digest_covers_the_enveloped_bytes(published) -> None:
    w, _ = published
    payloads = _payloads(w)
    for family, cls in FAMILIES.items():
        dates = sorted({date.fromisoformat(sfx) for kind, sfx in payloads
                        if kind in cls.kinds and sfx != "latest"})
        assert dates, family
        markers = _markers(w, family, dates)
        for on in dates:
            texts = {kind: payloads[kind, on.isoformat()] for kind in cls.kinds}
            assert payload_digest(texts) == markers[on].payload_digest, (family, on)


def test_a_lost_cache_is_republished_byte_for_byte(published) -> None:
    """Re-publishing from the database rebuilds the envelopes of the runs that wrote the
    rows (their run_id, not the republishing run's): the same bytes as first published."""
    w, _ = published
    before = _payloads(w)
    w.redis.delete(*w.keys())
    assert runner.run_kind("eod", END) == runner.ExitCode.OK
    assert runner.run_kind("preopen", NEXT) == runner.ExitCode.OK
    after = _payloads(w)
    assert {kind for kind, _ in after} == set(FAMILY_OF)
    assert {key: before[key] for key in after} == after
    with w.engine.connect() as conn:
        republished = conn.execute(sa.select(sa.func.count()).select_from(s.task_runs).where(
            s.task_runs.c.status == "REPUBLISHED")).scalar_one()
    assert republished >= len(FAMILIES)  # nothing was recomputed


#: kind -> the path of a field its schema requires, inside ``data``
REQUIRED_FIELD = {"book": ("positions", 0, "notional_brl"),
                  "risk": ("details", "metrics", "var99_bps"),
                  "attribution": ("rows", 0, "contribution_bps"),
                  "proposals": ("date",),
                  "morning_pack": ("positions", "totals")}


@pytest.mark.parametrize("kind", sorted(REQUIRED_FIELD))
def test_a_schema_rejects_a_payload_without_a_required_field(published, kind: str) -> None:
    w, _ = published
    envelope = json.loads(_payloads(w)[kind, "latest"])
    assert _problem(kind, envelope) is None
    *parents, field = REQUIRED_FIELD[kind]
    broken = copy.deepcopy(envelope)
    holder = broken["data"]
    for step in parents:
        holder = holder[step]
    del holder[field]
    assert _problem(kind, broken) is not None, f"{kind}: {field} is not required"
    for name in ("run_id", "fund", "data"):
        assert _problem(kind, {k: v for k, v in envelope.items() if k != name}) is not None
    assert _problem(kind, {**envelope, "schema_version": 2}) is not None
