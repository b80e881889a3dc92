"""The pack's files in the output folder, each written atomically, under a folder of their
store and fund (:func:`pack_dir`)."""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from pms_luigi.core.pack import pack_json
from pms_luigi.core.pack.formats import slug
from pms_luigi.report.charts import cid_resolver, swap_cids


def pack_dir(output_dir: str | Path, store: str, fund_name: str, on: date) -> Path:
    """``<output_dir>/<store>/<fund>/<D>/``: where the pack of D of one store and fund goes.

    ``store`` is :func:`pms_luigi.store.identity.store_id` (namespace and a hash of where the
    database lives, never a credential), ``fund`` the :func:`slug` of the fund's name, so two
    stores or two funds sharing an output folder never overwrite each other's files.

    >>> pack_dir("/srv/out", "pms-acd57f7862", "PMS Macro FIM", date(2026, 12, 7)).as_posix()
    '/srv/out/pms-acd57f7862/pms-macro-fim/2026-12-07'
    """
    return Path(output_dir) / slug(store) / slug(fund_name) / on.isoformat()


def output_paths(out_dir: str | Path, charts: Sequence[str], pdf: bool,
                 eml: bool = False) -> dict[str, Path]:
    """Where :func:`write_outputs` puts each file ({kind: path}): ``<chart>.png`` per chart,
    ``morning_pack.json``, ``morning_pack.html``, and ``morning_pack.pdf`` / ``.eml`` when
    written. Known before anything is written, so a step can record them with its rows."""
    out = Path(out_dir)
    paths = {name: out / f"{name}.png" for name in sorted(charts)}
    paths.update(json=out / "morning_pack.json", html=out / "morning_pack.html")
    if pdf:
        paths["pdf"] = out / "morning_pack.pdf"
    if eml:
        paths["eml"] = out / "morning_pack.eml"
    return paths


def write_outputs(out_dir: str | Path, on: date, html: str, pdf: bytes | None,
                  pngs: Mapping[str, bytes], pack_json_text: str | Mapping[str, Any],
                  cids: Mapping[str, str] | None = None,
                  eml: EmailMessage | bytes | None = None) -> dict[str, Path]:
    """Write the pack's files into ``out_dir`` and return {kind: path}.

    Files: ``morning_pack.json`` (canonical JSON), ``morning_pack.html`` (browser copy: the
    ``cid:`` images point to the PNG files next to it), ``morning_pack.pdf``,
    ``<chart>.png`` and, when given, ``morning_pack.eml``.

    Raises:
        ValueError: the pack JSON carries a date other than ``on`` (a wrong folder).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = pack_json_text if isinstance(pack_json_text, str) else pack_json(pack_json_text)
    try:
        packed_date = json.loads(text).get("date")
    except (ValueError, AttributeError):
        packed_date = None
    if packed_date is not None and packed_date != on.isoformat():
        raise ValueError(f"write_outputs: pack is dated {packed_date}, not {on.isoformat()}")
    paths = output_paths(out, list(pngs), pdf is not None, eml is not None)
    for name in sorted(pngs):
        _atomic_write(paths[name], pngs[name])
    resolve = cid_resolver(pngs, cids)

    def file_ref(cid: str) -> str:
        name = resolve(cid)
        return f"{name}.png" if name else "data:,"

    _atomic_write(paths["json"], text.encode("utf-8"))
    _atomic_write(paths["html"], swap_cids(html, file_ref).encode("utf-8"))
    if pdf is not None:
        _atomic_write(paths["pdf"], pdf)
    if eml is not None:
        _atomic_write(paths["eml"], eml if isinstance(eml, bytes) else eml.as_bytes())
    return paths


def _atomic_write(path: Path, data: bytes) -> Path:
    """Write via a temp file in the same folder + rename: readers never see half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the pack is read by other users/web server
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
