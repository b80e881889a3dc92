"""The reference data as attribution reads it: asset class per instrument, factor-tag weights
and style per strategy, validated, with the digest that decides whether a date may chain.

:class:`Reference` is a value the caller may prepare once (``Reference.of(strategies,
instruments)``) and pass to every :func:`~pms_luigi.core.attribution.attribute` /
``attribute_incremental`` call of a run: preparing it (JSON tags, validation, the digest)
costs far more than checking that it was prepared from the frames passed, which every call
does, so a stale one is refused instead of silently used.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from pms_luigi.core.attribution.buckets import expand
from pms_luigi.core.attribution.facts import (
    DISCRETIONARY,
    RESIDUAL,
    RISK_FACTOR_BY_ASSET_CLASS,
    SYSTEMATIC,
    UNTAGGED,
)
from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.frames import require

_STRATEGY_COLUMNS: Final = ("strategy_id", "factor_tags", "is_systematic")
_INSTRUMENT_COLUMNS: Final = ("instrument_id", "asset_class")
_BUCKET_MAX_LEN: Final = 60  # attribution.bucket is String(60)


@dataclass(frozen=True, eq=False)
class Reference:
    """The reference data as the engine reads it (validated), and its digest.

    Attributes:
        tags: strategy_id, tag, weight (weights sum to 1 per strategy; ``untagged`` for a
            strategy without tags).
        style: ``systematic``/``discretionary`` per strategy_id.
        asset_class: asset class per instrument_id.
        digest: SHA-256 of the three, independent of row order (:func:`reference_digest`).
        key: the content the reference was prepared from (the ``repr`` of every value
            read), to check it against the frames of a call.
    """

    tags: pd.DataFrame
    style: pd.Series
    asset_class: pd.Series
    digest: str
    key: tuple[tuple[str, ...], ...] = field(repr=False)

    @classmethod
    def of(cls, strategies: pd.DataFrame, instruments: pd.DataFrame) -> Reference:
        """Prepare the reference data of ``strategies`` (strategy_id, factor_tags,
        is_systematic) and ``instruments`` (instrument_id, asset_class).

        Raises:
            InvalidInput: a missing column, an id twice, bad factor_tags, a missing
                is_systematic, an unknown asset class.
        """
        key = _content_key(strategies, instruments)
        tags, style = _prepare_strategies(strategies)
        asset_class = _prepare_instruments(instruments)
        body = {
            "asset_class": sorted(asset_class.items()),
            "tags": sorted(zip(tags["strategy_id"].astype(str).tolist(),
                               tags["tag"].astype(str).tolist(),
                               tags["weight"].astype(float).tolist(), strict=True)),
            "style": sorted(style.items()),
        }
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return cls(tags, style, asset_class, digest, key)

    def matches(self, strategies: pd.DataFrame, instruments: pd.DataFrame) -> bool:
        """Whether this reference was prepared from frames with this content (a caller that
        holds one across dates prepares a new one when the reference data changed)."""
        return _content_key(strategies, instruments) == self.key

    def check(self, strategies: pd.DataFrame, instruments: pd.DataFrame) -> Reference:
        """This reference, after checking it was prepared from these frames.

        Raises:
            InvalidInput: the frames' content differs from what it was prepared from.
        """
        if not self.matches(strategies, instruments):
            raise InvalidInput("the prepared Reference does not match the strategies and "
                               "instruments passed: prepare it from the same rows",
                               table="strategies", field="reference")
        return self


def resolve(strategies: pd.DataFrame, instruments: pd.DataFrame,
            reference: Reference | None) -> Reference:
    """``reference`` checked against the frames, or prepared from them when None."""
    if reference is None:
        return Reference.of(strategies, instruments)
    return reference.check(strategies, instruments)


def reference_digest(strategies: pd.DataFrame, instruments: pd.DataFrame) -> str:
    """SHA-256 of what attribution reads from the reference data: asset class per instrument,
    factor-tag weights and style per strategy.

    Rows chained by ``attribute_incremental`` must come from the same digest, so a
    reclassification restates history (full pass). Same as ``Reference.of(...).digest``.
    """
    return Reference.of(strategies, instruments).digest


def _value_key(value: Any) -> str:
    """Equal for equal values, distinct otherwise: ``repr`` keeps a JSON text apart from the
    list it spells; a numpy array's repr abbreviates, so it is listed first."""
    return repr(value.tolist() if isinstance(value, np.ndarray) else value)


def _content_key(strategies: pd.DataFrame, instruments: pd.DataFrame
                 ) -> tuple[tuple[str, ...], ...]:
    """Every value attribution reads from the two frames, as text, column by column."""
    require(strategies, _STRATEGY_COLUMNS, "strategies")
    require(instruments, _INSTRUMENT_COLUMNS, "instruments")
    return tuple(tuple(map(_value_key, frame[col].tolist()))
                 for frame, columns in ((strategies, _STRATEGY_COLUMNS),
                                        (instruments, _INSTRUMENT_COLUMNS))
                 for col in columns)


def _parse_tags(raw: Any, strategy_id: str) -> dict[str, float]:
    """factor_tags JSON -> {tag: weight summing to 1}.

    A JSON list splits equally (``["carry", "momentum"]`` → ½ each); a JSON object gives the
    weights (``{"carry": 0.7, "momentum": 0.3}``, normalised to sum 1); ``[]`` or only zero
    weights → ``untagged``.

    >>> _parse_tags('{"carry": 3, "momentum": 1}', "S1")
    {'carry': 0.75, 'momentum': 0.25}
    """
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise InvalidInput(f"strategies.factor_tags of {strategy_id} is not JSON: {exc}",
                               table="strategies", row=strategy_id, field="factor_tags") from exc
    if raw is None:
        raw = []
    if isinstance(raw, Mapping):
        try:
            pairs = [(str(k).strip(), float(v)) for k, v in raw.items()]
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"strategies.factor_tags of {strategy_id}: weights must be "
                               f"numbers ({exc})", table="strategies", row=strategy_id,
                               field="factor_tags") from exc
    elif isinstance(raw, list | tuple | np.ndarray):
        names = list(dict.fromkeys(str(t).strip() for t in raw))  # dedupe, keep order
        pairs = [(t, 1.0) for t in names]
    else:
        raise InvalidInput(f"strategies.factor_tags of {strategy_id} must be a JSON list or "
                           f"object, got {type(raw).__name__}", table="strategies",
                           row=strategy_id, field="factor_tags")
    for tag, w in pairs:
        if not tag or tag == RESIDUAL or len(tag) > _BUCKET_MAX_LEN:
            raise InvalidInput(f"strategies.factor_tags of {strategy_id}: invalid tag {tag!r}",
                               table="strategies", row=strategy_id, field="factor_tags")
        if not math.isfinite(w) or w < 0.0:
            raise InvalidInput(f"strategies.factor_tags of {strategy_id}: weight of {tag} must "
                               f"be a finite number >= 0, got {w}", table="strategies",
                               row=strategy_id, field="factor_tags")
    pairs = [(t, w) for t, w in pairs if w > 0.0]
    if not pairs:
        return {UNTAGGED: 1.0}
    total = sum(w for _, w in pairs)
    return {t: w / total for t, w in pairs}


def _tag_weights(ids: npt.NDArray[np.object_], raw: npt.NDArray[np.object_]) -> pd.DataFrame:
    """(strategy_id, tag, weight) rows: strategies in row order, each one's tags in its order.

    Each distinct factor_tags value is parsed once and its rows repeated: a book of hundreds
    of strategies repeats a handful of tag sets, and parsing was the bulk of the cost.
    Values are parsed in order of first appearance, so a bad value is named by its first
    strategy.
    """
    codes, _ = pd.factorize(np.asarray(list(map(_value_key, raw)), dtype=object))
    _, first = np.unique(codes, return_index=True)
    parsed = [_parse_tags(raw[i], ids[i]) for i in first]  # one per distinct tag set
    size = np.asarray([len(tags) for tags in parsed], dtype=np.int64)
    tag = np.asarray([t for tags in parsed for t in tags], dtype=object)
    weight = np.asarray([w for tags in parsed for w in tags.values()], dtype=np.float64)
    row, item = expand(codes, size)
    return pd.DataFrame({"strategy_id": ids[row], "tag": tag[item], "weight": weight[item]})


def _unique_ids(frame: pd.DataFrame, column: str, table: str, what: str) -> pd.Series:
    """The id column as text; an id listed twice is an error naming it."""
    ids = frame[column].astype(str)
    if ids.duplicated().any():
        dup = ids[ids.duplicated()].iloc[0]
        raise InvalidInput(f"{table}: {what} {dup} listed twice", table=table, row=dup,
                           field=column)
    return ids


def _prepare_strategies(strategies: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """(tag weights: strategy_id, tag, weight) and style per strategy_id."""
    table = "strategies"
    require(strategies, _STRATEGY_COLUMNS, table)
    ids = _unique_ids(strategies, "strategy_id", table, "strategy")
    tags = _tag_weights(ids.to_numpy(dtype=object),
                        strategies["factor_tags"].to_numpy(dtype=object))
    systematic = strategies["is_systematic"]
    if systematic.isna().any():
        bad = ids[systematic.isna().to_numpy()].iloc[0]
        raise InvalidInput(f"{table}.is_systematic is missing for {bad}", table=table, row=bad,
                           field="is_systematic")
    style = pd.Series(np.where(systematic.astype(bool).to_numpy(), SYSTEMATIC, DISCRETIONARY),
                      index=ids.to_numpy(), name="style")
    return tags, style


def _prepare_instruments(instruments: pd.DataFrame) -> pd.Series:
    """asset_class per instrument_id, validated against the known classes."""
    table = "instruments"
    require(instruments, _INSTRUMENT_COLUMNS, table)
    ids = _unique_ids(instruments, "instrument_id", table, "instrument")
    classes = pd.Series(instruments["asset_class"].astype(str).to_numpy(), index=ids.to_numpy())
    unknown = ~classes.isin(list(RISK_FACTOR_BY_ASSET_CLASS)).to_numpy()
    if unknown.any():
        bad = classes.index[unknown][0]
        raise InvalidInput(f"{table}.asset_class of {bad} is {classes[bad]!r}; expected one of "
                           f"{', '.join(RISK_FACTOR_BY_ASSET_CLASS)}", table=table, row=bad,
                           field="asset_class")
    return classes
