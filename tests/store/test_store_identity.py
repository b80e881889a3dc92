"""The store id that names a store's output folder: stable, distinct per store, never secret."""
from __future__ import annotations

from pathlib import Path

from pms_luigi.store.identity import store_id, store_location

PG = "postgresql+psycopg2://pms:s3cret@db.example:5432/pms"


def test_the_same_data_gives_the_same_id_whatever_the_driver_or_the_credentials() -> None:
    assert store_id(PG, "pms") == store_id("postgresql://ops:other@db.example:5432/pms", "pms")
    assert store_id(PG, "pms") == store_id(PG, "pms")  # stable: a hash, no clock, no salt


def test_another_database_schema_namespace_or_file_gives_another_id(tmp_path: Path) -> None:
    ids = {
        store_id(PG, "pms"),
        store_id(PG, "fund2"),  # another namespace
        store_id(PG.replace("/pms", "/pms_uat"), "pms"),  # another database
        store_id(PG.replace("db.example", "db2.example"), "pms"),  # another server
        store_id(f"{PG}?options=-csearch_path%3Dt1", "pms"),  # another schema
        store_id(f"sqlite:///{tmp_path / 'a.db'}", "pms"),
        store_id(f"sqlite:///{tmp_path / 'b.db'}", "pms"),
    }
    assert len(ids) == 7
    assert all(i.startswith(("pms-", "fund2-")) and len(i.split("-")[-1]) == 10 for i in ids)


def test_no_part_of_a_password_reaches_the_id_or_the_location() -> None:
    for url in (PG, "postgresql://u:p@ss/w@rd@host:5432/db", "postgresql://u:pass%40word@host/db"):
        for text in (store_id(url, "pms"), store_location(url)):
            assert "s3cret" not in text and "ss/w" not in text and "pass" not in text
            assert "@" not in text
    assert store_location("postgresql://u:p@ss/w@rd@host:5432/db") == "postgresql://host:5432/db"
