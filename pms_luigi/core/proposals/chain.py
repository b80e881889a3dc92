"""The decision journal's hash chain: how an entry is hashed and how a chain is verified.

Every APPROVE / REJECT / MODIFY / BOOK entry stores ``prev_hash`` (the hash of the entry
before it) and ``hash = journal_hash(prev_hash, entry)`` over every field, so an edited,
deleted or re-ordered entry is found by walking the chain (:func:`verify_chain`). The
entries are written by :mod:`pms_luigi.store.journal`.

The hashed text is its own canonical JSON, not :func:`pms_luigi.core.frames.canonical_json`:
it keeps non-ASCII text as UTF-8 (a reason written in Portuguese hashes as typed), refuses
NaN instead of writing ``null``, writes timestamps as UTC with microseconds and integral
floats as integers (a JSON store may hand 1.0 back as 1). Changing any of these would break
every chain already stored.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

import numpy as np
import pandas as pd

from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.frames import require

GENESIS_HASH: Final = "0" * 64
JOURNAL_FIELDS: Final = ("entry_id", "proposal_id", "action", "actor", "reason", "at", "payload")
_HEX: Final = frozenset("0123456789abcdef")


def _canon(value: Any, path: str) -> Any:
    """Canonical JSON value: timestamps as UTC ISO-8601 with microseconds, naive = UTC."""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC) if value.tzinfo is None \
            else value.astimezone(UTC)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _canon(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canon(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating | Decimal):
        f = float(value)
        if not math.isfinite(f):
            raise InvalidInput(f"decision_journal: field {path} is not finite ({value!r})",
                               table="decision_journal", field=path)
        return int(f) if f.is_integer() else f
    if value is None or isinstance(value, str):
        return value
    raise InvalidInput(f"decision_journal: field {path} has a non-JSON type "
                       f"{type(value).__name__}", table="decision_journal", field=path)


def journal_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of every journal field plus ``prev_hash``.

    Hashed document: ``{"prev_hash": prev_hash, entry_id, proposal_id, action, actor, reason,
    at, payload}`` serialised with sorted keys, ``(",", ":")`` separators and UTF-8.
    ``entry_id`` is hashed, so the writer assigns it (last id + 1) under the same lock with
    which it reads the last hash. Genesis ``prev_hash`` = 64 zeros.

    Args:
        prev_hash: the hash of the entry before (64 lowercase hex).
        entry: the fields of :data:`JOURNAL_FIELDS`; a key ``hash`` is ignored, a key
            ``prev_hash`` must equal the argument, any other key is refused so no field can
            escape the hash.

    Raises:
        InvalidInput: a malformed prev_hash, a missing or unexpected field, a non-finite or
            non-JSON value.
    """
    if not isinstance(prev_hash, str) or len(prev_hash) != 64 or not set(prev_hash) <= _HEX:
        raise InvalidInput(f"decision_journal: prev_hash must be 64 lowercase hex, got "
                           f"{prev_hash!r}", table="decision_journal",
                           row=entry.get("entry_id"), field="prev_hash")
    keys = set(entry) - {"hash"}
    if "prev_hash" in keys:
        if entry["prev_hash"] != prev_hash:
            raise InvalidInput("decision_journal: entry prev_hash differs from the prev_hash "
                               "argument", table="decision_journal", row=entry.get("entry_id"),
                               field="prev_hash")
        keys.discard("prev_hash")
    missing = [k for k in JOURNAL_FIELDS if k not in keys]
    extra = sorted(keys - set(JOURNAL_FIELDS))
    if missing or extra:
        name = (missing or extra)[0]
        raise InvalidInput(f"decision_journal entry {entry.get('entry_id')}: "
                           f"{'missing' if missing else 'unexpected'} field {name}",
                           table="decision_journal", row=entry.get("entry_id"), field=name)
    doc = {k: _canon(entry[k], k) for k in JOURNAL_FIELDS}
    doc["prev_hash"] = prev_hash
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify_chain(entries: pd.DataFrame, *, expected_head: str | None = None) -> list[int]:
    """entry_ids whose stored hash or link is broken, in entry_id order ([] = intact).

    Rows are taken in entry_id order. Row k is broken when its ``hash`` is not
    ``journal_hash(prev_hash_k, fields_k)`` (an edited row) or its ``prev_hash`` is not the
    stored ``hash`` of row k-1 (genesis for the first row): a deleted or re-ordered row
    breaks the link of its successor, a re-hashed edited row breaks its successor's link.
    Deleting the *last* rows leaves a valid shorter chain; pass the head hash kept elsewhere
    (marker, Redis) as ``expected_head`` to catch that: a mismatch reports the last
    entry_id (0 for an empty journal).
    """
    require(entries, [*JOURNAL_FIELDS, "prev_hash", "hash"], "decision_journal")
    rows = entries.sort_values("entry_id", kind="mergesort").to_dict("records")
    broken: list[int] = []
    expected_prev = GENESIS_HASH
    for row in rows:  # a chain is sequential by definition
        fields = {k: row[k] for k in JOURNAL_FIELDS}
        try:
            ok = journal_hash(row["prev_hash"], fields) == row["hash"]
        except InvalidInput:
            ok = False
        if not ok or row["prev_hash"] != expected_prev:
            broken.append(int(row["entry_id"]))
        expected_prev = row["hash"]
    if expected_head is not None and rows and rows[-1]["hash"] != expected_head:
        last = int(rows[-1]["entry_id"])
        if last not in broken:
            broken.append(last)
    if expected_head is not None and not rows and expected_head != GENESIS_HASH:
        broken.append(0)
    return broken
