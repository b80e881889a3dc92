"""The status page's bulk reads on both store pairs: a range's markers (metadata as JSON
text), each cell's latest run and latest failure, and the data-quality issues (listed
newest first up to a limit, counted per date whatever the limit)."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from pms_luigi.store import markers as mk
from pms_luigi.store import schema as s
from pms_luigi.store.status_details import range_details

MTM, PROP, OTHER = "pms.MarkToMarket", "pms.TradeProposals", "pms.MorningPack"
D1, D2, D3, OUT = date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27)
T0 = datetime(2026, 11, 26, 22, 0, tzinfo=UTC)


def _run(run_id: str, family: str, on: date, minutes: int, status: str,
         error: str | None = None, failure: str | None = None) -> dict:
    started = T0 + timedelta(minutes=minutes)
    return dict(run_id=run_id, family=family, business_date=on, started_at=started,
                finished_at=started + timedelta(seconds=3), status=status, attempts=1,
                host="h", error=error, failure=failure)


def _fill(conn: sa.Connection) -> None:
    for fam, on, run in ((MTM, D1, "m1"), (MTM, D2, "m2"), (MTM, OUT, "m9"), (OTHER, D2, "o2")):
        mk.upsert_marker(conn, family=fam, business_date=on, version=2, run_id=run,
                         started_at=T0, rows_written=7, payload_digest="d" * 64,
                         upstream={f"{MTM}@{D1}": "m1"},
                         metadata={"nav_brl": 1.5, "chain": {"blob": "x" * 50}})
    conn.execute(sa.insert(s.task_runs), [
        _run("m1", MTM, D1, 0, "DONE"),
        _run("f1", MTM, D2, 1, "FAILED", "MissingPrice: DI1F27", "MISSING_DATA"),
        _run("f2", MTM, D2, 2, "FAILED", "store gone", "STORE_UNAVAILABLE"),
        _run("m2", MTM, D2, 3, "DONE"),                          # latest: DONE after two failures
        _run("p1", PROP, D3, 4, "FAILED", "boom", "FAILED"),     # latest is the failure
        _run("m9", MTM, OUT, 5, "DONE"),                         # outside the range
        _run("o2", OTHER, D2, 6, "FAILED", "other family", "FAILED"),  # family not asked for
    ])
    conn.execute(sa.insert(s.data_quality_issues), [
        dict(business_date=on, step=MTM, instrument_id=inst, field="price", severity=sev,
             message=f"{inst} {sev}", run_id="m2")
        for on, inst, sev in ((D1, "A", "WARNING"), (D2, "B", "WARNING"), (D2, "C", "ERROR"),
                              (D3, "D", "WARNING"), (OUT, "E", "ERROR"))])


def test_range_details_reads_a_range_in_bulk(world) -> None:
    with world.engine.begin() as conn:
        _fill(conn)
    with world.engine.connect() as conn:
        got = range_details(conn, [MTM, PROP], D1, D3)

    assert set(got.markers) == {(MTM, D1), (MTM, D2)}
    m = got.markers[(MTM, D2)]
    assert (m["run_id"], m["version"], m["rows_written"]) == ("m2", 2, 7)
    assert json.loads(m["metadata_json"]) == {"nav_brl": 1.5, "chain": {"blob": "x" * 50}}
    assert m["upstream"] == {f"{MTM}@{D1}": "m1"}

    assert {k: r["run_id"] for k, r in got.last_runs.items()} == \
        {(MTM, D1): "m1", (MTM, D2): "m2", (PROP, D3): "p1"}
    assert got.last_runs[(MTM, D2)]["runs"] == 3 and got.last_runs[(PROP, D3)]["runs"] == 1
    assert {k: (r["run_id"], r["failure"], r["error"]) for k, r in got.last_failures.items()} == \
        {(MTM, D2): ("f2", "STORE_UNAVAILABLE", "store gone"),
         (PROP, D3): ("p1", "FAILED", "boom")}
    assert "rn" not in got.last_runs[(MTM, D2)]

    # newest date first, ERROR before WARNING within a date; the outside date left out
    assert [(i["business_date"], i["instrument_id"]) for i in got.dq_issues] == \
        [(D3, "D"), (D2, "C"), (D2, "B"), (D1, "A")]
    assert got.dq_counts == {D1: {"WARNING": 1}, D2: {"WARNING": 1, "ERROR": 1},
                             D3: {"WARNING": 1}}


def test_range_details_reads_the_metadata_asked_for_and_limits_the_issue_list(world) -> None:
    with world.engine.begin() as conn:
        _fill(conn)
    with world.engine.connect() as conn:
        got = range_details(conn, [MTM], D1, OUT, metadata_from=OUT, metadata_of={(MTM, D1)},
                            dq_limit=2)
        empty = range_details(conn, [MTM], date(2020, 1, 1), date(2020, 12, 31))
    assert {k[1]: m["metadata_json"] is not None for k, m in got.markers.items()} == \
        {D1: True, D2: False, OUT: True}
    assert [(i["business_date"], i["instrument_id"]) for i in got.dq_issues] == \
        [(OUT, "E"), (D3, "D")]
    assert sum(sum(c.values()) for c in got.dq_counts.values()) == 5
    assert set(got.markers) == {(MTM, D1), (MTM, D2), (MTM, OUT)}
    assert (empty.markers, empty.last_runs, empty.last_failures, empty.dq_issues,
            empty.dq_counts) == ({}, {}, {}, [], {})
