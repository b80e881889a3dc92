"""Signals -> one signed net view per tradeable contract, with its contributors kept.

Each signal is mapped to a contract through ``instrument_aliases`` (data, not code: a
strategy emits the generic ``DI_PRE`` and the alias table says which DI1 it is today), and
the contributing strategies with their factor tags travel with the view, so a proposal can
say who asked for it and the P&L of its trade can be allocated.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.frames import as_date, require
from pms_luigi.core.proposals.conventions import (
    CONVICTION_DECIMALS,
    SIGNAL_KEY,
    VIEW_COLUMNS,
    iso_or_null,
)


def aggregate_signals(signals: pd.DataFrame, strategies: pd.DataFrame, aliases: pd.DataFrame,
                      instruments: pd.DataFrame, as_of: date, *,
                      strategy_weights: Mapping[str, float] | None = None,
                      since: date | None = None,
                      rolled: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One signed net view per tradeable contract from the strategies' signals as of ``as_of``.

    Point in time: every row dated after ``as_of`` is an error (it could not have been
    known). Each strategy's view is its latest snapshot in [``since``, ``as_of``] (``since``
    defaults to ``as_of``: only signals of P count; a caller may pass an earlier business day
    to tolerate a strategy that did not publish on P). Within a snapshot, signals of one
    strategy that map to the same contract (an alias and the contract id) are averaged
    first, so a strategy cannot double its weight. ``rolled`` {near contract: next contract}
    (:func:`~pms_luigi.core.proposals.rolls.rolled_contracts`) moves every signal on a contract
    too close to expiry to the one it rolls into *before* that averaging, so a strategy with
    views on both weighs once, and the view records the contracts it was rolled from.

    Net view, rounded to 10 decimals (the column scale)::

        conviction_i = sum_s w_s * c_{s,i} / sum_s w_s      over strategies s with a view on i

    ``w_s``: ``strategy_weights[s]`` if given (missing strategies 1.0), else a ``weight``
    column of ``strategies`` if present (NULL = 1.0), else 1.0 (equal weights). Weight 0
    mutes a strategy. Being a weighted mean of values in [-1, 1] the result stays in [-1, 1].

    Args:
        signals: ``signals`` rows (signal_date, strategy_id, signal_id, conviction).
        strategies: the strategy master (strategy_id, factor_tags[, weight]).
        aliases: ``instrument_aliases`` (alias, instrument_id).
        instruments: the instrument master (instrument_id, asset_class[, is_active,
            maturity_date]).
        as_of: P, the date of the book the views are compared with.
        strategy_weights: optional weights overriding the master's.
        since: first signal date considered (default ``as_of``).

    Returns:
        One row per instrument, sorted by instrument_id. Columns: instrument_id, conviction,
        strategies (sorted ids), weights ({id: normalised weight}), factor_tags (sorted
        union), asset_class (from the instrument master), n_signals (signal rows used),
        contributions (list of {strategy_id, weight, conviction, n_signals, factor_tags}),
        rolled_from (the near contracts whose signals were moved here, sorted; [] if none).

    Raises:
        InvalidInput: naming the table, row and field, for a conviction missing or outside
            [-1, 1]; a signal dated after ``as_of``; a duplicate signal key; an unknown
            strategy; a signal_id that is neither an instrument nor an alias; an alias
            pointing to an unknown instrument; an inactive or matured instrument; a negative
            or non-finite strategy weight.
    """
    as_of_ts = pd.Timestamp(as_date(as_of, "as_of"))
    since_ts = as_of_ts if since is None else pd.Timestamp(as_date(since, "since"))
    if since_ts > as_of_ts:
        raise InvalidInput(f"since {since_ts.date()} is after as_of {as_of_ts.date()}",
                           field="since")
    require(signals, [*SIGNAL_KEY, "conviction"], "signals")
    require(strategies, ["strategy_id", "factor_tags"], "strategies")
    require(aliases, ["alias", "instrument_id"], "instrument_aliases")
    require(instruments, ["instrument_id", "asset_class"], "instruments")

    sig = _checked_signals(signals, as_of_ts)
    strat = _checked_strategies(strategies, sig)
    weights = _strategy_weights(strat, strategy_weights)

    # each strategy's latest snapshot inside the window
    win = sig[(sig["signal_date"] >= since_ts)].copy()
    win = win[win["signal_date"] == win.groupby("strategy_id")["signal_date"].transform("max")]
    win = win.reset_index(drop=True)
    inst = instruments.drop_duplicates("instrument_id").set_index("instrument_id")
    win["instrument_id"] = _resolve_ids(win, inst, aliases, as_of_ts)
    moves = {str(k): str(v) for k, v in (rolled or {}).items()}
    win["rolled_from"] = win["instrument_id"].where(win["instrument_id"].isin(list(moves)))
    win["instrument_id"] = win["instrument_id"].replace(moves) if moves else win["instrument_id"]
    win["weight"] = win["strategy_id"].map(weights).astype(float)
    win = win[win["weight"] > 0]
    if win.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in VIEW_COLUMNS})
    return _net_views(win, strat, inst)


def without_decided(view: pd.DataFrame, decided: pd.DataFrame | None,
                    ) -> tuple[pd.DataFrame, list[str]]:
    """(view minus instruments with a human decision for D, those instrument ids sorted).

    Why: the book at P does not contain today's approved or booked trades, so the same view
    would propose them again on a rerun of the proposal step for D — an approved DI1F31 plus
    a fresh PENDING DI1F31 invites a double execution. Rows of ``decided`` with status
    PENDING are ignored (the pipeline replaces those).
    """
    if decided is None or len(decided) == 0:
        return view, []
    require(decided, ["instrument_id", "status"], "proposals")
    ids = set(decided.loc[decided["status"] != "PENDING", "instrument_id"])
    keep = ~view["instrument_id"].isin(ids)
    return view.loc[keep].reset_index(drop=True), sorted(ids & set(view["instrument_id"]))


# ----------------------------------------------------------------------------- checks


def _signal_key(row: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    d = row["signal_date"]
    d = d.date() if isinstance(d, pd.Timestamp | datetime) and not pd.isna(d) else d
    return (d, row["strategy_id"], row["signal_id"])


def _signal_error(row: Mapping[str, Any], field_name: str, problem: str) -> InvalidInput:
    key = _signal_key(row)
    text = (f"signals row (signal_date={iso_or_null(key[0])}, strategy_id={key[1]}, "
            f"signal_id={key[2]}): field {field_name}: {problem}")
    return InvalidInput(text, table="signals", row=key, field=field_name)


def _first(frame: pd.DataFrame, mask: pd.Series | np.ndarray) -> dict[str, Any] | None:
    """The first row where ``mask`` holds, as a dict (the row an error message names)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return None
    return frame.loc[mask].iloc[0].to_dict()


def _checked_signals(signals: pd.DataFrame, as_of_ts: pd.Timestamp) -> pd.DataFrame:
    """Signals with parsed dates and float convictions, sorted by key; the first bad row of
    each kind (date, empty id, after ``as_of``, conviction, duplicate key) is refused."""
    sig = signals.loc[:, [*SIGNAL_KEY, "conviction"]].copy()
    raw_dates = sig["signal_date"].copy()
    sig["signal_date"] = pd.to_datetime(sig["signal_date"], errors="coerce").dt.normalize()
    bad = _first(sig.assign(signal_date=raw_dates), sig["signal_date"].isna())
    if bad is not None:
        raise _signal_error(bad, "signal_date", f"not a date: {bad['signal_date']!r}")
    for col in ("strategy_id", "signal_id"):
        bad = _first(sig, sig[col].isna() | (sig[col].astype(str).str.strip() == ""))
        if bad is not None:
            raise _signal_error(bad, col, "is empty")
    sig = sig.sort_values(list(SIGNAL_KEY), kind="mergesort").reset_index(drop=True)
    bad = _first(sig, sig["signal_date"] > as_of_ts)
    if bad is not None:
        raise _signal_error(bad, "signal_date", f"dated after as_of "
                            f"{as_of_ts.date().isoformat()} (not point in time)")
    conv = pd.to_numeric(sig["conviction"], errors="coerce").astype(float)
    bad = _first(sig, ~np.isfinite(conv.to_numpy()) | (conv.abs() > 1.0).to_numpy())
    if bad is not None:
        raise _signal_error(bad, "conviction", f"{bad['conviction']!r} is outside [-1, 1]")
    sig["conviction"] = conv
    bad = _first(sig, sig.duplicated(list(SIGNAL_KEY), keep="first"))
    if bad is not None:
        raise _signal_error(bad, "signal_id", "duplicate signal key")
    return sig


def _checked_strategies(strategies: pd.DataFrame, sig: pd.DataFrame) -> pd.DataFrame:
    """The strategy master indexed by id; duplicates and strategies unknown to it refused."""
    strat = strategies.drop_duplicates("strategy_id", keep=False)
    if len(strat) != len(strategies):
        dup = sorted(set(strategies["strategy_id"]) - set(strat["strategy_id"]))[0]
        raise InvalidInput(f"strategies row {dup}: duplicate strategy_id", table="strategies",
                           row=dup, field="strategy_id")
    strat = strat.set_index("strategy_id").sort_index()
    bad = _first(sig, ~sig["strategy_id"].isin(strat.index))
    if bad is not None:
        raise _signal_error(bad, "strategy_id", f"unknown strategy {bad['strategy_id']}")
    return strat


def _strategy_weights(strat: pd.DataFrame, override: Mapping[str, float] | None) -> pd.Series:
    """Weight per strategy: the override, else the master's ``weight`` (NULL = 1), else 1."""
    weights = pd.Series(1.0, index=strat.index, dtype=float)
    if override is not None:
        unknown = sorted(set(override) - set(strat.index))
        if unknown:
            raise InvalidInput(f"strategy_weights: unknown strategy {unknown[0]}",
                               table="strategies", row=unknown[0], field="strategy_id")
        given = pd.Series({k: override[k] for k in sorted(override)}, dtype=float)
        weights.loc[given.index] = given
    elif "weight" in strat.columns:
        col = pd.to_numeric(strat["weight"], errors="coerce").astype(float)
        weights = col.where(strat["weight"].notna(), 1.0)
    bad = weights[~np.isfinite(weights.to_numpy()) | (weights < 0).to_numpy()]
    if not bad.empty:
        sid = bad.index[0]
        raise InvalidInput(f"strategies row {sid}: field weight {bad.iloc[0]!r} must be a "
                           f"finite number >= 0", table="strategies", row=sid, field="weight")
    return weights


def _alias_map(aliases: pd.DataFrame, inst: pd.DataFrame) -> pd.Series:
    """alias -> instrument_id; a duplicate alias, or an alias that is another instrument's
    id, is refused (either would make a signal's contract ambiguous)."""
    dup = aliases["alias"][aliases["alias"].duplicated()]
    if not dup.empty:
        a = dup.iloc[0]
        raise InvalidInput(f"instrument_aliases row {a}: duplicate alias",
                           table="instrument_aliases", row=a, field="alias")
    alias_map = aliases.set_index("alias")["instrument_id"]
    clash = alias_map[alias_map.index.isin(inst.index) & (alias_map.index != alias_map.to_numpy())]
    if not clash.empty:
        a = clash.index[0]
        raise InvalidInput(f"instrument_aliases row {a}: alias is also an instrument_id but maps "
                           f"to {clash.iloc[0]}", table="instrument_aliases", row=a, field="alias")
    return alias_map


def _resolve_ids(win: pd.DataFrame, inst: pd.DataFrame, aliases: pd.DataFrame,
                 as_of_ts: pd.Timestamp) -> pd.Series:
    """signal_id -> instrument_id: an instrument id maps to itself, an alias through the table;
    the contract must be known, active and not matured on ``as_of``."""
    direct = win["signal_id"].isin(inst.index)
    resolved = win["signal_id"].where(direct, win["signal_id"].map(_alias_map(aliases, inst)))
    bad = _first(win, resolved.isna())
    if bad is not None:
        raise _signal_error(bad, "signal_id", f"unknown signal_id {bad['signal_id']}: neither an "
                                              "instrument_id nor an alias in instrument_aliases")
    bad_target = ~resolved.isin(inst.index)
    bad = _first(win, bad_target)
    if bad is not None:
        target = resolved[bad_target].iloc[0]
        raise InvalidInput(f"instrument_aliases row {bad['signal_id']}: field instrument_id: "
                           f"unknown instrument {target} (used by signals row {_signal_key(bad)})",
                           table="instrument_aliases", row=bad["signal_id"], field="instrument_id")
    if "is_active" in inst.columns:
        active = inst["is_active"].fillna(True).astype(bool)
        off = ~resolved.map(active).astype(bool)
        bad = _first(win, off)
        if bad is not None:
            target = resolved[off].iloc[0]
            raise InvalidInput(f"instruments row {target}: field is_active is false but signals "
                               f"row {_signal_key(bad)} maps to it (roll the alias)",
                               table="instruments", row=target, field="is_active")
    if "maturity_date" in inst.columns:
        mat = pd.to_datetime(inst["maturity_date"], errors="coerce")
        expired = (resolved.map(mat) <= as_of_ts).fillna(False).astype(bool)
        bad = _first(win, expired)
        if bad is not None:
            target = resolved[expired].iloc[0]
            raise InvalidInput(f"instruments row {target}: field maturity_date "
                               f"{iso_or_null(mat[target])} is not after {as_of_ts.date()} but "
                               f"signals row {_signal_key(bad)} maps to it (roll the alias)",
                               table="instruments", row=target, field="maturity_date")
    return resolved


def _tags(value: Any, strategy_id: str) -> list[str]:
    """A strategy's factor_tags, sorted and unique: they arrive as a list (JSON column) or as
    JSON text (a raw SQLite read)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"strategies row {strategy_id}: field factor_tags is not JSON: "
                               f"{value!r}", table="strategies", row=strategy_id,
                               field="factor_tags") from exc
    if not isinstance(value, list | tuple | np.ndarray) \
            or not all(isinstance(t, str) for t in value):
        raise InvalidInput(f"strategies row {strategy_id}: field factor_tags must be a list of "
                           f"strings, got {value!r}", table="strategies", row=strategy_id,
                           field="factor_tags")
    return sorted(set(value))


# ----------------------------------------------------------------------------- net views


def _net_views(win: pd.DataFrame, strat: pd.DataFrame, inst: pd.DataFrame) -> pd.DataFrame:
    """The weighted mean conviction per contract and its contributors (see
    :func:`aggregate_signals`); ``win`` holds the weighted signals of the latest snapshots."""
    rolled_from = win.dropna(subset=["rolled_from"]).groupby("instrument_id")["rolled_from"] \
        .agg(lambda s: sorted(set(s)))
    per = (win.groupby(["instrument_id", "strategy_id"], sort=True)
              .agg(conviction=("conviction", "mean"), n_signals=("conviction", "size"),
                   weight=("weight", "first"))
              .reset_index())
    per["wc"] = per["weight"] * per["conviction"]
    totals = per.groupby("instrument_id", sort=True).agg(
        wsum=("weight", "sum"), wcsum=("wc", "sum"), n_signals=("n_signals", "sum"))
    per["w_norm"] = (per["weight"] / per["instrument_id"].map(totals["wsum"])
                     ).round(CONVICTION_DECIMALS)
    tags = {sid: _tags(strat.at[sid, "factor_tags"], sid) for sid in per["strategy_id"].unique()}

    out = pd.DataFrame(index=totals.index)
    out["conviction"] = (totals["wcsum"] / totals["wsum"]).clip(-1.0, 1.0
                                                               ).round(CONVICTION_DECIMALS)
    rows_strats, rows_weights, rows_tags, rows_contrib = [], [], [], []
    for _, sub in per.groupby("instrument_id", sort=True):  # one small group per contract
        ids = sub["strategy_id"].tolist()
        rows_strats.append(ids)
        rows_weights.append(dict(zip(ids, sub["w_norm"].astype(float).tolist(), strict=True)))
        rows_tags.append(sorted({t for s in ids for t in tags[s]}))
        rows_contrib.append([
            {"strategy_id": s, "weight": float(w),
             "conviction": round(float(c), CONVICTION_DECIMALS), "n_signals": int(n),
             "factor_tags": tags[s]}
            for s, w, c, n in zip(ids, sub["w_norm"], sub["conviction"], sub["n_signals"],
                                  strict=True)])
    out["strategies"] = rows_strats
    out["weights"] = rows_weights
    out["factor_tags"] = rows_tags
    out["asset_class"] = inst.loc[out.index, "asset_class"].astype(str).to_numpy()
    out["n_signals"] = totals["n_signals"].astype(int)
    out["contributions"] = rows_contrib
    out["rolled_from"] = [list(rolled_from.get(i, [])) for i in out.index]
    out = out.reset_index()
    return out.loc[:, list(VIEW_COLUMNS)]
