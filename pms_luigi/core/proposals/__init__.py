"""Trade proposals: strategy signals -> one net view per contract -> sized, risk-checked proposals.

Pure module (stdlib, numpy, pandas, :mod:`pms_luigi.core.risk`): no I/O, no clock, no luigi/sqlalchemy.
Inputs are frames whose columns are the DB column names of ``pms_luigi/store/schema.py``.

It fixes the original system's proposal bugs (``original-system.md`` §3): signed conviction is
compared in absolute value so SHORT views give SELL proposals; the asset class comes from the
instrument master instead of ``UNKNOWN``; the contributing strategies and their factor tags are
kept; sizes come from a risk budget (DV01, USD delta, index delta) instead of a flat R$10M; the
pre-trade checks run at proposal time; the decision journal is a hash chain over every field.

Conventions (binding for every caller)
--------------------------------------
* **Direction.** ``conviction`` is signed in [-1, 1] and > 0 means *long in price terms*, the
  same sign as ``quantity`` (contracts.md): BUY. For DI1, DDI, LTN, NTN-F and NTN-B that is long
  PU = receive the fixed rate ("dado") = the view that the rate falls; for DOL/WDO/NDF long USD
  against BRL (USDBRL up); for IND/WIN/equities long the index/stock. A strategy that wants to
  *pay* DI emits a negative conviction on ``DI_PRE``.
* **Quantities** are signed contracts/units, multiples of ``instruments.lot_size``.
* **dv01_brl** of a proposal = signed BRL P&L of the trade for +1 bp in its yield (a BUY of DI1
  has a negative dv01_brl), as ``position_marks.dv01_brl``. **delta_brl** = signed BRL exposure
  to the underlying: USDBRL delta (US$) x spot for FX and USD-settled contracts (DDI), index
  delta for equity, 0 for BRL rate instruments.
  **notional_brl** = |quantity| x contract_size x price (x USDBRL if the instrument is in USD).
* Money and convictions stay float64; the writer rounds (contracts.md). Convictions are rounded
  to 10 decimals (the column scale) *before* thresholds are applied, so the stored value and the
  decision can never disagree.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from pms_luigi.core import risk
from pms_luigi.core.errors import InvalidInput, MissingFxFixing, MissingPrice

__all__ = [
    "ACTIONS", "GENESIS_HASH", "JOURNAL_FIELDS", "PROPOSAL_COLUMNS", "VIEW_COLUMNS",
    "Budget", "ProposalPolicy", "aggregate_signals", "book_by_instrument", "generate_proposals",
    "journal_hash", "pre_trade_risk", "transition", "unit_risk", "verify_chain",
    "COST_BPS", "STATUSES", "WORKFLOW_ACTIONS", "booking_cost_brl", "booking_strategy",
    "modify_quantity", "without_decided",
]

ACTIONS = ("OPEN", "INCREASE", "REDUCE", "CLOSE", "FLIP")
RISK_ADDING = ("OPEN", "INCREASE", "FLIP")
MEASURES = ("dv01_brl", "delta_usd", "delta_brl")
VIEW_COLUMNS = ("instrument_id", "conviction", "strategies", "weights", "factor_tags",
                "asset_class", "n_signals", "contributions")
# proposals table columns minus proposal_id, run_id, created_at, updated_at (set by the writer)
PROPOSAL_COLUMNS = ("business_date", "instrument_id", "side", "action", "quantity", "notional_brl",
                    "dv01_brl", "delta_brl", "conviction", "strategies", "rationale", "risk_impact",
                    "breaches", "rank", "status", "origin")
SIGNAL_KEY = ("signal_date", "strategy_id", "signal_id")

# Face value at maturity of the zero-coupon contracts whose duration can be read off the price
# (B3 DI1/DDI contract specs: 100,000 points; Tesouro LTN: R$1,000).
_ZERO_FACE = {"DI1": 100_000.0, "LTN": 1_000.0}
_DDI_FACE = 100_000.0
_FX_TYPES = ("DOL", "WDO", "NDF")
_EQUITY_TYPES = ("IND", "WIN", "EQUITY")
_BP = 1e-4
_CONVICTION_DECIMALS = 10  # signals.conviction / proposals.conviction are NUMERIC(14, 10)
_QTY_DECIMALS = 6  # Qty is NUMERIC(24, 6)


# ----------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class Budget:
    """Risk budget of one asset class at |conviction| = 1.

    ``measure``: ``dv01_brl`` (R$ per bp, magnitude), ``delta_usd`` (US$ of USDBRL delta) or
    ``delta_brl`` (R$ of index delta). ``daily_vol``: typical 1-day 1-sigma move of the factor
    (bp, or a fraction for deltas), used only to put budgets in one currency for ranking.
    """

    measure: str
    target: float
    daily_vol: float
    fat_finger_notional_brl: float

    def risk_budget_brl(self, fx_spot: float) -> float:
        """R$ 1-day 1-sigma P&L of a full-conviction position: target x daily_vol (x spot for USD)."""
        scale = fx_spot if self.measure == "delta_usd" else 1.0
        return self.target * self.daily_vol * scale


@dataclass(frozen=True)
class ProposalPolicy:
    """Thresholds, budgets and caps (``config/proposal_policy.json``).

    Hysteresis: a flat book opens at |c| >= ``entry``; a held position is kept (and only
    reduced towards its target) while |c| >= ``exit`` on its side, closed below ``exit`` or on an
    opposite view weaker than ``flip``, and flipped on an opposite view >= ``flip``. The gap
    between entry and exit stops a view hovering at one threshold from trading every day.
    """

    entry: float
    exit: float
    flip: float
    rebalance_band: float
    max_proposals: int
    budgets: Mapping[str, Budget] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ProposalPolicy:
        """Validate a parsed policy document; every problem raises InvalidInput naming the key."""

        def bad(key: str, msg: str) -> InvalidInput:
            return InvalidInput(f"proposal policy: {key} {msg}", table="proposal_policy",
                                row=key, field=key)

        def number(node: Mapping[str, Any], key: str, path: str) -> float:
            if key not in node:
                raise bad(path, "is missing")
            value = node[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(float(value)):
                raise bad(path, f"must be a finite number, got {value!r}")
            return float(value)

        if not isinstance(data, Mapping):
            raise bad("policy", "must be a JSON object")
        th = data.get("thresholds")
        if not isinstance(th, Mapping):
            raise bad("thresholds", "must be an object with entry, exit, flip")
        entry = number(th, "entry", "thresholds.entry")
        exit_ = number(th, "exit", "thresholds.exit")
        flip = number(th, "flip", "thresholds.flip")
        if not 0.0 <= exit_ < entry <= flip <= 1.0:
            raise bad("thresholds", f"need 0 <= exit < entry <= flip <= 1, got exit={exit_}, "
                                    f"entry={entry}, flip={flip}")
        band = number(data, "rebalance_band", "rebalance_band")
        if band < 0:
            raise bad("rebalance_band", f"must be >= 0, got {band}")
        max_p = number(data, "max_proposals", "max_proposals")
        if max_p < 1 or max_p != int(max_p):
            raise bad("max_proposals", f"must be a positive integer, got {data['max_proposals']!r}")
        raw = data.get("budgets")
        if not isinstance(raw, Mapping) or not raw:
            raise bad("budgets", "must be a non-empty object keyed by asset class")
        budgets: dict[str, Budget] = {}
        for ac in sorted(raw):
            node = raw[ac]
            path = f"budgets.{ac}"
            if not isinstance(node, Mapping):
                raise bad(path, "must be an object")
            measure = node.get("measure")
            if measure not in MEASURES:
                raise bad(f"{path}.measure", f"must be one of {', '.join(MEASURES)}, got {measure!r}")
            values = {k: number(node, k, f"{path}.{k}")
                      for k in ("target", "daily_vol", "fat_finger_notional_brl")}
            for k, v in values.items():
                if v <= 0:
                    raise bad(f"{path}.{k}", f"must be > 0, got {v}")
            budgets[str(ac)] = Budget(measure=measure, **values)
        return cls(entry=entry, exit=exit_, flip=flip, rebalance_band=band,
                   max_proposals=int(max_p), budgets=budgets)


def _policy(policy: ProposalPolicy | Mapping[str, Any]) -> ProposalPolicy:
    return policy if isinstance(policy, ProposalPolicy) else ProposalPolicy.from_mapping(policy)


# ----------------------------------------------------------------------------- helpers


def _require_columns(frame: pd.DataFrame, table: str, columns: tuple[str, ...] | list[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(f"{table}: expected a DataFrame, got {type(frame).__name__}", table=table)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(f"{table}: missing column(s) {', '.join(missing)}", table=table,
                           field=missing[0])


def _to_timestamp(value: Any, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name}: not a date: {value!r}", field=name) from exc
    if pd.isna(ts):
        raise InvalidInput(f"{name}: not a date: {value!r}", field=name)
    return ts.normalize()


def _iso(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "NULL"
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _signal_row(row: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    d = row["signal_date"]
    d = d.date() if isinstance(d, (pd.Timestamp, datetime)) and not pd.isna(d) else d
    return (d, row["strategy_id"], row["signal_id"])


def _signal_error(row: Mapping[str, Any], field_name: str, problem: str) -> InvalidInput:
    key = _signal_row(row)
    text = (f"signals row (signal_date={_iso(key[0])}, strategy_id={key[1]}, signal_id={key[2]}): "
            f"field {field_name}: {problem}")
    return InvalidInput(text, table="signals", row=key, field=field_name)


def _first(frame: pd.DataFrame, mask: pd.Series | np.ndarray) -> dict[str, Any] | None:
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return None
    return frame.loc[mask].iloc[0].to_dict()


def _tags(value: Any, strategy_id: str) -> list[str]:
    """factor_tags arrive as a list (JSON column) or a JSON string (raw SQLite); normalise."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"strategies row {strategy_id}: field factor_tags is not JSON: "
                               f"{value!r}", table="strategies", row=strategy_id,
                               field="factor_tags") from exc
    if not isinstance(value, (list, tuple, np.ndarray)) or not all(isinstance(t, str) for t in value):
        raise InvalidInput(f"strategies row {strategy_id}: field factor_tags must be a list of "
                           f"strings, got {value!r}", table="strategies", row=strategy_id,
                           field="factor_tags")
    return sorted(set(value))


def _json_safe(obj: Any) -> Any:
    """Plain-Python, JSON-able copy (numpy scalars -> float/int, NaN -> None, dates -> ISO)."""
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, (pd.Timestamp, datetime)):
        return obj.isoformat()
    if isinstance(obj, date):
        return obj.isoformat()
    return obj


# ----------------------------------------------------------------------------- aggregation


def aggregate_signals(signals: pd.DataFrame, strategies: pd.DataFrame, aliases: pd.DataFrame,
                      instruments: pd.DataFrame, as_of: date, *,
                      strategy_weights: Mapping[str, float] | None = None,
                      since: date | None = None) -> pd.DataFrame:
    """One signed net view per tradeable contract from the strategies' signals as of ``as_of``.

    Why: the original fanned generic curve ids into proposals and lost the asset class and the
    strategy ids; here each signal is mapped to a contract through ``instrument_aliases`` (data)
    and the contributors are kept for attribution.

    Point in time: every row dated after ``as_of`` is an error (it could not have been known).
    Each strategy's view is its latest snapshot in [``since``, ``as_of``] (``since`` defaults to
    ``as_of``: only signals of P count; the task layer may pass ``calendar.previous_business_day(P,
    n)`` to tolerate a strategy that did not publish on P). Within a snapshot, signals of one
    strategy that map to the same contract (an alias and the contract id) are averaged first, so
    a strategy cannot double its weight.

    Net view (rounded to 10 decimals, the column scale)::

        conviction_i = sum_s w_s * c_{s,i} / sum_s w_s      over strategies s with a view on i

    ``w_s``: ``strategy_weights[s]`` if given (missing strategies 1.0), else a ``weight`` column
    of ``strategies`` if present (NULL = 1.0), else 1.0 (equal weights). Weight 0 mutes a
    strategy. Being a weighted mean of values in [-1, 1] the result stays in [-1, 1].

    Returns one row per instrument (sorted by instrument_id) with columns ``VIEW_COLUMNS``:
    instrument_id, conviction, strategies (sorted ids), weights ({id: normalised weight}),
    factor_tags (sorted union), asset_class (from the instrument master), n_signals (signal rows
    used), contributions (list of {strategy_id, weight, conviction, n_signals, factor_tags}).

    Raises InvalidInput naming the table, row and field for: conviction missing or outside
    [-1, 1]; a signal dated after ``as_of``; a duplicate signal key; an unknown strategy; a
    signal_id that is neither an instrument nor an alias; an alias pointing to an unknown
    instrument; an inactive or matured instrument; a negative or non-finite strategy weight.
    """
    as_of_ts = _to_timestamp(as_of, "as_of")
    since_ts = as_of_ts if since is None else _to_timestamp(since, "since")
    if since_ts > as_of_ts:
        raise InvalidInput(f"since {since_ts.date()} is after as_of {as_of_ts.date()}", field="since")
    _require_columns(signals, "signals", [*SIGNAL_KEY, "conviction"])
    _require_columns(strategies, "strategies", ["strategy_id", "factor_tags"])
    _require_columns(aliases, "instrument_aliases", ["alias", "instrument_id"])
    _require_columns(instruments, "instruments", ["instrument_id", "asset_class"])

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
        raise _signal_error(bad, "signal_date",
                            f"dated after as_of {as_of_ts.date().isoformat()} (not point in time)")
    conv = pd.to_numeric(sig["conviction"], errors="coerce").astype(float)
    bad = _first(sig, ~np.isfinite(conv.to_numpy()) | (conv.abs() > 1.0).to_numpy())
    if bad is not None:
        raise _signal_error(bad, "conviction", f"{bad['conviction']!r} is outside [-1, 1]")
    sig["conviction"] = conv
    bad = _first(sig, sig.duplicated(list(SIGNAL_KEY), keep="first"))
    if bad is not None:
        raise _signal_error(bad, "signal_id", "duplicate signal key")

    strat = strategies.drop_duplicates("strategy_id", keep=False)
    if len(strat) != len(strategies):
        dup = sorted(set(strategies["strategy_id"]) - set(strat["strategy_id"]))[0]
        raise InvalidInput(f"strategies row {dup}: duplicate strategy_id", table="strategies",
                           row=dup, field="strategy_id")
    strat = strat.set_index("strategy_id").sort_index()
    bad = _first(sig, ~sig["strategy_id"].isin(strat.index))
    if bad is not None:
        raise _signal_error(bad, "strategy_id", f"unknown strategy {bad['strategy_id']}")

    weights = _strategy_weights(strat, strategy_weights)

    # each strategy's latest snapshot inside the window
    win = sig[(sig["signal_date"] >= since_ts)].copy()
    win = win[win["signal_date"] == win.groupby("strategy_id")["signal_date"].transform("max")]
    win = win.reset_index(drop=True)

    inst = instruments.drop_duplicates("instrument_id").set_index("instrument_id")
    win["instrument_id"] = _resolve_ids(win, inst, aliases, as_of_ts)

    win["weight"] = win["strategy_id"].map(weights).astype(float)
    win = win[win["weight"] > 0]
    if win.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in VIEW_COLUMNS})

    per = (win.groupby(["instrument_id", "strategy_id"], sort=True)
              .agg(conviction=("conviction", "mean"), n_signals=("conviction", "size"),
                   weight=("weight", "first"))
              .reset_index())
    per["wc"] = per["weight"] * per["conviction"]
    totals = per.groupby("instrument_id", sort=True).agg(
        wsum=("weight", "sum"), wcsum=("wc", "sum"), n_signals=("n_signals", "sum"))
    per["w_norm"] = (per["weight"] / per["instrument_id"].map(totals["wsum"])).round(_CONVICTION_DECIMALS)
    tags = {sid: _tags(strat.at[sid, "factor_tags"], sid) for sid in per["strategy_id"].unique()}

    out = pd.DataFrame(index=totals.index)
    out["conviction"] = (totals["wcsum"] / totals["wsum"]).clip(-1.0, 1.0).round(_CONVICTION_DECIMALS)
    rows_strats, rows_weights, rows_tags, rows_contrib = [], [], [], []
    for _, sub in per.groupby("instrument_id", sort=True):  # one small group per contract
        ids = sub["strategy_id"].tolist()
        rows_strats.append(ids)
        rows_weights.append(dict(zip(ids, sub["w_norm"].astype(float).tolist())))
        rows_tags.append(sorted({t for s in ids for t in tags[s]}))
        rows_contrib.append([
            {"strategy_id": s, "weight": float(w), "conviction": round(float(c), _CONVICTION_DECIMALS),
             "n_signals": int(n), "factor_tags": tags[s]}
            for s, w, c, n in zip(ids, sub["w_norm"], sub["conviction"], sub["n_signals"])])
    out["strategies"] = rows_strats
    out["weights"] = rows_weights
    out["factor_tags"] = rows_tags
    out["asset_class"] = inst.loc[out.index, "asset_class"].astype(str).to_numpy()
    out["n_signals"] = totals["n_signals"].astype(int)
    out["contributions"] = rows_contrib
    out = out.reset_index()
    return out.loc[:, list(VIEW_COLUMNS)]


def _strategy_weights(strat: pd.DataFrame, override: Mapping[str, float] | None) -> pd.Series:
    weights = pd.Series(1.0, index=strat.index, dtype=float)
    if override is not None:
        unknown = sorted(set(override) - set(strat.index))
        if unknown:
            raise InvalidInput(f"strategy_weights: unknown strategy {unknown[0]}", table="strategies",
                               row=unknown[0], field="strategy_id")
        given = pd.Series({k: override[k] for k in sorted(override)}, dtype=float)
        weights.loc[given.index] = given
    elif "weight" in strat.columns:
        col = pd.to_numeric(strat["weight"], errors="coerce").astype(float)
        weights = col.where(strat["weight"].notna(), 1.0)
    bad = weights[~np.isfinite(weights.to_numpy()) | (weights < 0).to_numpy()]
    if not bad.empty:
        sid = bad.index[0]
        raise InvalidInput(f"strategies row {sid}: field weight {bad.iloc[0]!r} must be a finite "
                           f"number >= 0", table="strategies", row=sid, field="weight")
    return weights


def _resolve_ids(win: pd.DataFrame, inst: pd.DataFrame, aliases: pd.DataFrame,
                 as_of_ts: pd.Timestamp) -> pd.Series:
    """signal_id -> instrument_id: an instrument id maps to itself, an alias through the table."""
    dup = aliases["alias"][aliases["alias"].duplicated()]
    if not dup.empty:
        a = dup.iloc[0]
        raise InvalidInput(f"instrument_aliases row {a}: duplicate alias", table="instrument_aliases",
                           row=a, field="alias")
    alias_map = aliases.set_index("alias")["instrument_id"]
    clash = alias_map[alias_map.index.isin(inst.index) & (alias_map.index != alias_map.to_numpy())]
    if not clash.empty:
        a = clash.index[0]
        raise InvalidInput(f"instrument_aliases row {a}: alias is also an instrument_id but maps to "
                           f"{clash.iloc[0]}", table="instrument_aliases", row=a, field="alias")
    direct = win["signal_id"].isin(inst.index)
    resolved = win["signal_id"].where(direct, win["signal_id"].map(alias_map))
    bad = _first(win, resolved.isna())
    if bad is not None:
        raise _signal_error(bad, "signal_id", f"unknown signal_id {bad['signal_id']}: neither an "
                                              "instrument_id nor an alias in instrument_aliases")
    bad_target = ~resolved.isin(inst.index)
    bad = _first(win, bad_target)
    if bad is not None:
        target = resolved[bad_target].iloc[0]
        raise InvalidInput(f"instrument_aliases row {bad['signal_id']}: field instrument_id: "
                           f"unknown instrument {target} (used by signals row {_signal_row(bad)})",
                           table="instrument_aliases", row=bad["signal_id"], field="instrument_id")
    if "is_active" in inst.columns:
        active = inst["is_active"].fillna(True).astype(bool)
        off = ~resolved.map(active).astype(bool)
        bad = _first(win, off)
        if bad is not None:
            target = resolved[off].iloc[0]
            raise InvalidInput(f"instruments row {target}: field is_active is false but signals row "
                               f"{_signal_row(bad)} maps to it (roll the alias)", table="instruments",
                               row=target, field="is_active")
    if "maturity_date" in inst.columns:
        mat = pd.to_datetime(inst["maturity_date"], errors="coerce")
        expired = (resolved.map(mat) <= as_of_ts).fillna(False).astype(bool)
        bad = _first(win, expired)
        if bad is not None:
            target = resolved[expired].iloc[0]
            raise InvalidInput(f"instruments row {target}: field maturity_date "
                               f"{_iso(mat[target])} is not after {as_of_ts.date()} but signals row "
                               f"{_signal_row(bad)} maps to it (roll the alias)", table="instruments",
                               row=target, field="maturity_date")
    return resolved


# ----------------------------------------------------------------------------- book and unit risk


def book_by_instrument(book: pd.DataFrame | None) -> pd.DataFrame:
    """Position marks at P summed per instrument (strategies net out), indexed by instrument_id.

    Columns quantity, dv01_brl, fx_delta_usd, equity_delta_brl, notional_brl (signed with the
    quantity, whatever sign convention the MTM stored it in), asset_class. Empty frame if the
    book is empty. More than one business_date in the marks is an error: it is a snapshot.
    """
    cols = ["quantity", "dv01_brl", "fx_delta_usd", "equity_delta_brl", "notional_brl"]
    empty = pd.DataFrame({c: pd.Series(dtype=float) for c in cols}
                         ).assign(asset_class=pd.Series(dtype=object))
    empty.index = pd.Index([], name="instrument_id", dtype=object)
    if book is None or len(book) == 0:
        return empty
    _require_columns(book, "position_marks", ["instrument_id", "quantity", *cols[1:]])
    if "business_date" in book.columns and book["business_date"].nunique() > 1:
        dates = sorted(_iso(d) for d in book["business_date"].unique())
        raise InvalidInput(f"position_marks: book spans several business dates {dates}; pass the "
                           "marks of P only", table="position_marks", field="business_date")
    b = book.loc[:, ["instrument_id", *cols]].copy()
    for c in cols:
        b[c] = pd.to_numeric(b[c], errors="coerce").astype(float).fillna(0.0)
    b["notional_brl"] = np.sign(b["quantity"]) * b["notional_brl"].abs()
    out = b.groupby("instrument_id", sort=True)[cols].sum()
    if "asset_class" in book.columns:
        out["asset_class"] = book.groupby("instrument_id", sort=True)["asset_class"].first()
    else:
        out["asset_class"] = None
    out["quantity"] = out["quantity"].round(_QTY_DECIMALS)
    return out


def unit_risk(instruments: pd.DataFrame, prices: pd.DataFrame, fx_spot: float,
              book: pd.DataFrame | None = None,
              overrides: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Signed sensitivities of ONE unit (+1 contract/bond/USD/share, long in price terms).

    Why closed forms: for a zero-coupon price the duration is implied by the price and the rate,
    so no calendar is needed and the figures match the MTM's to float precision.

    * DI1 / LTN (F = 100,000 / 1,000; PU = F/(1+r)^n, finance-conventions §2.1, §2.7)::

          n = ln(F/PU) / ln(1+r);   dv01 = -n * PU/(1+r) * 1e-4 * contract_size [* USDBRL if USD]

      e.g. r 13.00 %, PU 88,495.58 -> 7.8315 R$/bp (B3 DI1, 252 du).
    * DDI (PU = 100,000/(1 + i*dc/360), dPU/di = -PU^2/100,000 * dc/360)::

          dv01 = -PU * (1 - PU/100,000) / i * 1e-4 * contract_size * USDBRL

      e.g. i 5 %, dc 180 -> 4.7588 points = US$2.38/bp.
    * DOL / WDO / NDF: fx_delta_usd = contract_size * price / USDBRL (DOL at 5,400: US$50,000).
      A USD-denominated rate contract (DDI) also carries fx_delta_usd = contract_size * PU:
      its BRL settlement moves with PTAX (finance-conventions §2.2).
    * IND / WIN / EQUITY: equity_delta_brl = contract_size * price (IND at 128,450: R$128,450).
    * anything else (NTN-F, NTN-B, a DI1 without a rate): the book-implied sensitivity
      sum(dv01_brl)/sum(quantity) of the marks, if held.
    ``overrides`` {instrument_id: signed R$/bp (dv01) or delta per unit} win over everything:
    the task layer passes ``pricing`` DV01s for coupon bonds that are not yet held.

    Returns a frame indexed by instrument_id: unit_notional_brl (> 0), dv01_brl, fx_delta_usd,
    equity_delta_brl (NaN where unknown), price, rate, price_date.
    """
    inst = instruments.drop_duplicates("instrument_id").set_index("instrument_id")
    px = prices.set_index("instrument_id")
    idx = px.index.intersection(inst.index).sort_values()
    px, inst = px.loc[idx], inst.loc[idx]
    price = px["price"].astype(float)
    rate = (px["rate"] if "rate" in px.columns else pd.Series(np.nan, index=idx)).astype(float)
    cs = inst["contract_size"].astype(float)
    ccy_fx = np.where(inst["currency"].astype(str).str.upper() == "USD", fx_spot, 1.0)
    itype = inst["instrument_type"].astype(str).str.upper()
    value_brl = cs * price * ccy_fx

    with np.errstate(divide="ignore", invalid="ignore"):
        face = itype.map(_ZERO_FACE).astype(float)
        n = np.log(face / price) / np.log1p(rate)
        dv01_zero = -n * price / (1.0 + rate) * _BP * cs * ccy_fx
        dv01_ddi = -price * (1.0 - price / _DDI_FACE) / rate * _BP * cs * ccy_fx
    dv01 = pd.Series(np.nan, index=idx, dtype=float)
    zero_ok = face.notna() & (rate > 0) & (price < face) & np.isfinite(dv01_zero)
    dv01[zero_ok] = dv01_zero[zero_ok]
    ddi_ok = (itype == "DDI") & (rate != 0) & np.isfinite(dv01_ddi)
    dv01[ddi_ok] = dv01_ddi[ddi_ok]
    is_fx, is_eq = itype.isin(_FX_TYPES), itype.isin(_EQUITY_TYPES)
    dv01[is_fx | is_eq] = 0.0
    usd_linked = is_fx | ((inst["currency"].astype(str).str.upper() == "USD") & ~is_eq)
    fxd = pd.Series(np.where(usd_linked, value_brl / fx_spot, 0.0), index=idx)
    eqd = pd.Series(np.where(is_eq, value_brl, 0.0), index=idx)

    held = book_by_instrument(book)
    held = held[held["quantity"] != 0].reindex(idx)
    implied = held["dv01_brl"] / held["quantity"]
    dv01 = dv01.fillna(implied)

    if overrides:
        ov = pd.Series({k: float(overrides[k]) for k in sorted(overrides)}, dtype=float)
        ov = ov[ov.index.isin(idx)]
        rate_like = ~(is_fx | is_eq)
        dv01.update(ov[rate_like.reindex(ov.index).to_numpy()])
        fxd.update(ov[is_fx.reindex(ov.index).to_numpy()])
        eqd.update(ov[is_eq.reindex(ov.index).to_numpy()])
    return pd.DataFrame({
        "unit_notional_brl": value_brl.abs(), "dv01_brl": dv01, "fx_delta_usd": fxd,
        "equity_delta_brl": eqd, "price": price, "rate": rate,
        "price_date": (px["price_date"].map(_iso) if "price_date" in px.columns
                       else pd.Series(None, index=idx, dtype=object)),
    }, index=idx)


# ----------------------------------------------------------------------------- proposals


def _classify(q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """Action from the position before and after the trade (defined for q0 != q1)."""
    s0, s1 = np.sign(q0), np.sign(q1)
    return np.select(
        [s0 == 0, s1 == 0, s0 != s1, np.abs(q1) > np.abs(q0)],
        ["OPEN", "CLOSE", "FLIP", "INCREASE"], default="REDUCE")


def _prepare_prices(prices: pd.DataFrame, as_of: pd.Timestamp | None) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    _require_columns(prices, "market_prices", ["instrument_id", "price"])
    px = prices.copy()
    if "price_date" in px.columns:
        px["price_date"] = pd.to_datetime(px["price_date"], errors="coerce").dt.normalize()
        if as_of is None and px["price_date"].notna().any():
            as_of = px["price_date"].max()
        if as_of is not None:
            late = px[px["price_date"] > as_of]
            if not late.empty:
                r = late.sort_values(["price_date", "instrument_id"]).iloc[0]
                raise InvalidInput(f"market_prices row ({_iso(r['price_date'])}, {r['instrument_id']}): "
                                   f"field price_date is after as_of {as_of.date()}",
                                   table="market_prices", row=(r["price_date"].date(), r["instrument_id"]),
                                   field="price_date")
        px = px.sort_values(["instrument_id", "price_date"], kind="mergesort")
    px = px.drop_duplicates("instrument_id", keep="last")
    px["price"] = pd.to_numeric(px["price"], errors="coerce").astype(float)
    px = px[px["price"] > 0]
    return px, as_of


def generate_proposals(view: pd.DataFrame, book: pd.DataFrame | None, instruments: pd.DataFrame,
                       prices: pd.DataFrame, fx_spot: float,
                       policy: ProposalPolicy | Mapping[str, Any],
                       risk_ctx: Mapping[str, Any] | None = None, *,
                       as_of: date | None = None, business_date: date | None = None,
                       unit_risk_overrides: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Compare the net view with the book at P and propose sized trades for the trading day D.

    Per instrument of ``view`` (c = conviction, q0 = book quantity summed over strategies):

    * target position ``q* = lot * round_half_even(c * budget.target / u / lot)`` where u is the
      unit risk of the class's measure (|DV01| R$/bp for RATES/INFLATION/CUPOM, US$ delta for
      FX, R$ index delta for EQUITY; see :func:`unit_risk`). So the target risk is within half
      a lot of c x target.
    * flat (q0 = 0): OPEN q* if |c| >= entry.
    * held, same side: resize to q* when |q* - q0| >= max(rebalance_band*|q0|, lot); growing the
      position (INCREASE) needs |c| >= entry, shrinking (REDUCE) does not. |c| < exit: CLOSE.
    * held, opposite view: FLIP to q* if |c| >= flip, else CLOSE.
    * fat finger: |trade| <= floor(cap / (unit_notional * lot)) lots; a capped trade is
      re-classified from the resulting position (a capped CLOSE is a REDUCE) and marked in
      risk_impact. A trade of which not even one lot fits the cap is dropped.
    * rank by score = |c| x risk_budget_brl (budget.target x daily_vol, in R$ of 1-day risk),
      ties by instrument_id; at most ``max_proposals`` risk-adding proposals (OPEN, INCREASE,
      FLIP) are kept; REDUCE and CLOSE are always kept (an exit must never be dropped to meet a
      count). Instruments held but absent from the view get no proposal (no strategy view).

    ``as_of`` = P (inferred from prices if omitted), ``business_date`` = D (defaults to P).
    ``fx_spot`` = USDBRL (BRL per USD) used for USD instruments and FX delta.
    ``risk_ctx``: keyword arguments of :func:`pre_trade_risk` (minus proposals); when given the
    pre-trade checks run and fill ``risk_impact`` and ``breaches``.

    Returns ``PROPOSAL_COLUMNS`` (status PENDING, origin PIPELINE), sorted by rank.
    Raises InvalidInput (bad view/policy/instrument), MissingPrice, MissingFxFixing.
    """
    pol = _policy(policy)
    as_of_ts = None if as_of is None else _to_timestamp(as_of, "as_of")
    _require_columns(view, "view", ["instrument_id", "conviction"])
    _require_columns(instruments, "instruments",
                     ["instrument_id", "asset_class", "instrument_type", "currency",
                      "contract_size", "lot_size"])
    v = view.sort_values("instrument_id", kind="mergesort").reset_index(drop=True)
    dup = v["instrument_id"][v["instrument_id"].duplicated()]
    if not dup.empty:
        raise InvalidInput(f"view row {dup.iloc[0]}: duplicate instrument_id", table="view",
                           row=dup.iloc[0], field="instrument_id")
    conv = pd.to_numeric(v["conviction"], errors="coerce").astype(float)
    bad = v[~np.isfinite(conv.to_numpy()) | (conv.abs() > 1.0).to_numpy()]
    if not bad.empty:
        r = bad.iloc[0]
        raise InvalidInput(f"view row {r['instrument_id']}: field conviction {r['conviction']!r} is "
                           "outside [-1, 1]", table="view", row=r["instrument_id"], field="conviction")
    v["conviction"] = conv.round(_CONVICTION_DECIMALS)
    inst = instruments.drop_duplicates("instrument_id").set_index("instrument_id")
    unknown = v.loc[~v["instrument_id"].isin(inst.index), "instrument_id"]
    if not unknown.empty:
        raise InvalidInput(f"view row {unknown.iloc[0]}: field instrument_id: unknown instrument",
                           table="view", row=unknown.iloc[0], field="instrument_id")

    px, as_of_ts = _prepare_prices(prices, as_of_ts)
    on = as_of_ts.date() if as_of_ts is not None else None
    d_date = business_date if business_date is not None else on
    if v.empty:
        return _empty_proposals()
    if on is None:
        raise InvalidInput("generate_proposals: the book date P is unknown: pass as_of= or prices "
                           "with price_date", field="as_of")
    try:
        fx = float(fx_spot)
    except (TypeError, ValueError):
        fx = float("nan")
    if not math.isfinite(fx) or fx <= 0:
        if fx_spot is None or (isinstance(fx_spot, float) and math.isnan(fx_spot)):
            raise MissingFxFixing("USDBRL", "PTAX", on)
        raise InvalidInput(f"fx_spot USDBRL must be a positive number, got {fx_spot!r}",
                           table="fx_fixings", row=("USDBRL", on), field="rate")
    missing = sorted(set(v["instrument_id"]) - set(px["instrument_id"]))
    if missing:
        raise MissingPrice(missing, on, field="market_prices.price")

    ac = inst.loc[v["instrument_id"], "asset_class"].astype(str).to_numpy()
    no_budget = [i for i, a in zip(v["instrument_id"], ac) if a not in pol.budgets]
    if no_budget:
        iid = no_budget[0]
        raise InvalidInput(f"instruments row {iid}: field asset_class "
                           f"{inst.at[iid, 'asset_class']}: no risk budget in the proposal policy",
                           table="instruments", row=iid, field="asset_class")

    held = book_by_instrument(book)
    ur = unit_risk(instruments, px, fx, book, unit_risk_overrides).reindex(v["instrument_id"])
    f = v.set_index("instrument_id")
    f["asset_class"] = ac
    f["instrument_type"] = inst.loc[f.index, "instrument_type"].astype(str)
    lot = inst.loc[f.index, "lot_size"].astype(float)
    f["lot"] = lot
    f["measure"] = [pol.budgets[a].measure for a in ac]
    f["target"] = [pol.budgets[a].target for a in ac]
    f["cap_brl"] = [pol.budgets[a].fat_finger_notional_brl for a in ac]
    f["budget_brl"] = [pol.budgets[a].risk_budget_brl(fx) for a in ac]
    signed_unit = np.select(
        [f["measure"] == "dv01_brl", f["measure"] == "delta_usd"],
        [ur["dv01_brl"], ur["fx_delta_usd"]], default=ur["equity_delta_brl"])
    f["unit_signed"] = signed_unit
    f["u"] = np.abs(signed_unit)
    no_unit = f.index[~(np.isfinite(f["u"]) & (f["u"] > 0))]
    if len(no_unit):
        iid = no_unit[0]
        raise InvalidInput(
            f"instruments row {iid}: no unit {f.at[iid, 'measure']} on {on}: "
            f"{f.at[iid, 'instrument_type']} needs a positive market_prices.rate, a held position "
            "or a unit_risk_overrides entry", table="instruments", row=iid, field=f.at[iid, "measure"])
    f["unit_notional"] = ur["unit_notional_brl"]
    f["unit_delta_brl"] = ur["fx_delta_usd"].fillna(0.0) * fx + ur["equity_delta_brl"].fillna(0.0)
    f["q0"] = held["quantity"].reindex(f.index).fillna(0.0)

    c = f["conviction"].to_numpy()
    a, s = np.abs(c), np.sign(c)
    q0 = f["q0"].to_numpy()
    s0 = np.sign(q0)
    lots = f["lot"].to_numpy()
    target_risk = c * f["target"].to_numpy()
    q_star = np.round(np.round(target_risk / f["u"].to_numpy() / lots) * lots, _QTY_DECIMALS)
    q_star = q_star + 0.0  # no negative zeros in the output
    held_m = s0 != 0
    same = held_m & (s == s0)
    opp = held_m & (s != s0) & (s != 0)
    resize_ok = np.abs(q_star - q0) >= np.maximum(pol.rebalance_band * np.abs(q0), lots)
    growing = np.abs(q_star) > np.abs(q0)
    q1 = np.select(
        [~held_m & (a >= pol.entry),
         held_m & (a < pol.exit),
         opp & (a >= pol.flip),
         opp,
         same & resize_ok & (~growing | (a >= pol.entry))],
        [q_star, 0.0, q_star, 0.0, q_star], default=q0)
    why = np.select(
        [~held_m & (a >= pol.entry), held_m & (a < pol.exit), opp & (a >= pol.flip), opp,
         same & growing],
        [f"|view| {{a:.2f}} >= entry {pol.entry:.2f}",
         f"|view| {{a:.2f}} < exit {pol.exit:.2f}",
         f"opposite view |{{a:.2f}}| >= flip {pol.flip:.2f}",
         f"opposite view |{{a:.2f}}| < flip {pol.flip:.2f}",
         f"|view| {{a:.2f}} >= entry {pol.entry:.2f}, position below target"],
        default="position above target for the view")

    trade = np.round(q1 - q0, _QTY_DECIMALS)
    max_qty = np.floor(f["cap_brl"].to_numpy() / (f["unit_notional"].to_numpy() * lots)) * lots
    capped = np.abs(trade) > max_qty
    trade = np.where(capped, np.sign(trade) * max_qty, trade) + 0.0
    keep = trade != 0
    f = f.assign(q_star=q_star, q1=np.round(q0 + trade, _QTY_DECIMALS), trade=trade, capped=capped,
                 why=why, target_risk=target_risk)[keep]
    if f.empty:
        return _empty_proposals()
    f["action"] = _classify(f["q0"].to_numpy(), f["q1"].to_numpy())
    f["score"] = f["conviction"].abs() * f["budget_brl"]

    f = f.reset_index().sort_values(["score", "instrument_id"], ascending=[False, True],
                                    kind="mergesort")
    adding = f["action"].isin(RISK_ADDING)
    f = f[~adding | (adding.cumsum() <= pol.max_proposals)].copy()
    f["rank"] = np.arange(1, len(f) + 1)

    qty = f["trade"].to_numpy()
    unit_signed = f["unit_signed"].to_numpy()
    is_dv01 = (f["measure"] == "dv01_brl").to_numpy()
    f["dv01_brl"] = np.where(is_dv01, qty * unit_signed, 0.0)
    f["delta_brl"] = qty * f["unit_delta_brl"].to_numpy()
    f["notional_brl"] = np.abs(qty) * f["unit_notional"].to_numpy()
    f["side"] = np.where(qty > 0, "BUY", "SELL")
    f["trade_risk"] = qty * unit_signed
    f["post_risk"] = f["q1"].to_numpy() * unit_signed

    views = view.set_index("instrument_id")
    rows = []
    for r in f.itertuples(index=False):  # formatting text/JSON per proposal (bounded by the cap)
        vrow = views.loc[r.instrument_id]
        contrib = _contributions(vrow)
        risk_impact = {
            "measure": r.measure, "unit_risk": float(r.unit_signed), "lot_size": float(r.lot),
            "current_quantity": float(r.q0), "target_quantity": float(r.q_star),
            "post_trade_quantity": float(r.q1), "target_risk": float(r.target_risk),
            "trade_risk": float(r.trade_risk), "post_trade_risk": float(r.post_risk),
            "budget_target": float(r.target), "risk_budget_brl": float(r.budget_brl),
            "score": float(r.score), "fat_finger_capped": bool(r.capped),
            "fat_finger_notional_brl": float(r.cap_brl),
            "price": float(ur.at[r.instrument_id, "price"]),
            "rate": ur.at[r.instrument_id, "rate"],
            "price_date": ur.at[r.instrument_id, "price_date"],
            "fx_spot": fx, "asset_class": r.asset_class,
        }
        rows.append({
            "business_date": d_date, "instrument_id": r.instrument_id, "side": r.side,
            "action": r.action, "quantity": float(r.trade), "notional_brl": float(r.notional_brl),
            "dv01_brl": float(r.dv01_brl), "delta_brl": float(r.delta_brl),
            "conviction": float(r.conviction), "strategies": contrib,
            "rationale": _rationale(r, contrib, fx), "risk_impact": _json_safe(risk_impact),
            "breaches": [], "rank": int(r.rank), "status": "PENDING", "origin": "PIPELINE",
        })
    out = pd.DataFrame(rows, columns=list(PROPOSAL_COLUMNS))
    if risk_ctx is not None:
        out = pre_trade_risk(out, **dict(risk_ctx))
    return out


def _empty_proposals() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in PROPOSAL_COLUMNS})


def _contributions(vrow: pd.Series) -> list[dict[str, Any]]:
    """The proposal's ``strategies`` JSON: contributors with weight, conviction and factor tags."""
    if "contributions" in vrow.index and isinstance(vrow["contributions"], list):
        return _json_safe(vrow["contributions"])
    ids = list(vrow["strategies"]) if "strategies" in vrow.index else []
    weights = vrow["weights"] if "weights" in vrow.index and isinstance(vrow["weights"], Mapping) else {}
    tags = list(vrow["factor_tags"]) if "factor_tags" in vrow.index else []
    return _json_safe([{"strategy_id": s, "weight": weights.get(s), "factor_tags": tags} for s in ids])


_DIRECTION = {
    "dv01_brl": ("long PU / receive rates", "short PU / pay rates"),
    "delta_usd": ("long USD / short BRL", "short USD / long BRL"),
    "delta_brl": ("long index", "short index"),
}
_UNIT = {"dv01_brl": "R$/bp DV01", "delta_usd": "US$ delta", "delta_brl": "R$ delta"}


def _rationale(r: Any, contrib: list[dict[str, Any]], fx: float) -> str:
    """Deterministic template text; every number in it is also in the record."""
    long_w, short_w = _DIRECTION[r.measure]
    direction = long_w if r.conviction > 0 else short_w if r.conviction < 0 else "flat"
    parts = "; ".join(
        f"{c['strategy_id']} {c.get('conviction', float('nan')):+.2f} x w {c.get('weight') or 0:.2f}"
        for c in contrib)
    tags = sorted({t for c in contrib for t in c.get("factor_tags", [])})
    unit = _UNIT[r.measure]
    text = (
        f"{r.action} {r.instrument_id} ({r.asset_class} {r.instrument_type}): {r.side} "
        f"{abs(r.trade):,.0f} (lot {r.lot:g}). Net view {r.conviction:+.4f} ({direction}) from "
        f"{len(contrib)} strateg{'y' if len(contrib) == 1 else 'ies'}: {parts}"
        f"{'; factors ' + ', '.join(tags) if tags else ''}. "
        f"Rule: {r.why.format(a=abs(r.conviction))}. "
        f"Book {r.q0:+,.0f} -> {r.q1:+,.0f}; target {r.q_star:+,.0f} = {r.conviction:+.4f} x "
        f"{r.target:,.0f} {unit} / {abs(r.unit_signed):,.4f} per unit. "
        f"Trade {unit} {r.trade_risk:+,.2f}, post-trade {r.post_risk:+,.2f}; "
        f"notional R$ {r.notional_brl:,.2f}.")
    if r.capped:
        text += f" Capped by the fat-finger limit R$ {r.cap_brl:,.2f}."
    return text


# ----------------------------------------------------------------------------- pre-trade risk


def _netted_marks(marks: pd.DataFrame, extra: pd.DataFrame | None = None) -> pd.DataFrame:
    """Signed notional per instrument (the trade nets against the contract, whatever strategy
    books it), with its asset class: the frame :func:`risk.book_metrics` reads."""
    cols = ["instrument_id", "asset_class", "notional_brl"]
    parts = [m.loc[:, cols] for m in (marks, extra) if m is not None and len(m)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=float if c == "notional_brl" else object) for c in cols})
    x = pd.concat(parts, ignore_index=True)
    out = x.groupby("instrument_id", sort=True).agg(asset_class=("asset_class", "first"),
                                                    notional_brl=("notional_brl", "sum"))
    return out.reset_index()


def _bucket_metrics(exposures: pd.DataFrame, nav: float) -> dict[str, float]:
    """|DV01| per curve vertex in bps of NAV per bp: keys ``dv01_bucket_bps_nav.<factor>`` so a
    limits row can cap one bucket (e.g. metric dv01_bucket_bps_nav.DI_2520)."""
    if exposures.empty:
        return {}
    s = exposures.groupby("factor", sort=True)["sensitivity_brl"].sum()
    rate = s[[risk.factor_kind(f) == risk.ABS_BP for f in s.index]]
    return {f"dv01_bucket_bps_nav.{f}": abs(float(v)) / nav * 1e4 for f, v in rate.items()}


def pre_trade_risk(proposals: pd.DataFrame, book_exposures: pd.DataFrame | None,
                   changes: pd.DataFrame, nav: float, limits: pd.DataFrame, *,
                   marks: pd.DataFrame, instruments: pd.DataFrame, fx_spot: float,
                   on: date | None = None, window: int = 252, min_history: int = 60,
                   drawdown: float | None = None,
                   scenarios: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The book's risk after each proposal, alone, against the limits; breaches are flagged.

    Why at proposal time: the original ran its checks only at approval, with wrong keyword
    arguments whose TypeError was swallowed, so no check ever ran (original-system.md §3.4).

    For each proposal (independently: book at P + that one trade):

    * exposures after = ``book_exposures`` (``risk.factor_exposures(marks, instruments, spot)``;
      computed from ``marks`` if None) + the trade's own, built by the same
      ``risk.factor_exposures`` from a position_marks-like row dated ``on`` (dv01_brl; delta_brl
      split back into fx_delta_usd = delta_brl / spot, or equity_delta_brl for IND/WIN/EQUITY),
      so the trade lands in the same du bucket the risk snapshot uses;
    * historical VaR95/VaR99 (``risk.scenario_pnl`` + ``risk.historical_var_es``) over the last
      ``window`` rows of ``changes`` dated <= ``on`` that are complete for every factor of the
      post-trade book; fewer than ``min_history`` rows, or a factor without history, gives
      ``INSUFFICIENT_HISTORY`` and VaR None (its limits NO_DATA, never OK);
    * leverage and concentration from ``risk.book_metrics`` on notionals netted per instrument
      (the trade offsets the contract it trades), DV01 net/gross and per bucket
      (``dv01_bucket_bps_nav.<factor>``), FX and equity delta;
    * worst stress loss (``risk.stress_table`` over ``scenarios``, the parsed
      config/stress_scenarios.json, historical replays from the full ``changes``) when given;
      ``drawdown`` (fraction of peak NAV, ``risk.current_drawdown``) is carried as is: a trade
      does not change today's drawdown. Without them those limits are NO_DATA;
    * ``risk.limit_status`` of those metrics vs ``limits`` (config/limits.csv frame).

    ``breaches`` = one dict per limit in BREACH after the trade, sorted by limit:
    {limit, metric, value, limit_value, headroom = limit_value - value (negative = excess),
    utilisation, value_before, worsens}. ``worsens`` is False for a trade that leaves an
    already-breached limit lower: it is still flagged, because the book stays in breach.
    ``risk_impact['pre_trade']`` holds before/after metrics, VaR in R$, DV01 by bucket,
    warnings and the scenario count. Proposals are returned in the same order, otherwise intact.
    """
    nav = float(nav)
    if not (math.isfinite(nav) and nav > 0):
        raise InvalidInput(f"NAV must be positive, got {nav!r}", table="book_snapshots",
                           field="nav_brl")
    fx = float(fx_spot)
    if not (math.isfinite(fx) and fx > 0):
        raise InvalidInput(f"fx_spot USDBRL must be positive, got {fx_spot!r}",
                           table="fx_fixings", field="rate")
    _require_columns(proposals, "proposals",
                     ["instrument_id", "quantity", "notional_brl", "dv01_brl", "delta_brl"])
    if window < 2 or min_history < 2:
        raise InvalidInput("window and min_history must be at least 2", field="window")
    lim = risk.limits_from_frame(limits)
    marks = marks if marks is not None else pd.DataFrame()
    if on is None:
        if not len(marks) or "business_date" not in marks.columns:
            raise InvalidInput("pre_trade_risk: pass on= (P) when the book is empty", field="on")
        dates = marks["business_date"].unique()
        if len(dates) != 1:
            raise InvalidInput("position_marks: book spans several business dates",
                               table="position_marks", field="business_date")
        on = pd.Timestamp(dates[0]).date()
    on = _to_timestamp(on, "on").date()
    if book_exposures is None:
        book_exposures = risk.factor_exposures(marks, instruments, spot=fx)
    out = proposals.copy()
    if out.empty:
        return out

    inst = instruments.drop_duplicates("instrument_id").set_index("instrument_id")
    unknown = sorted(set(out["instrument_id"]) - set(inst.index))
    if unknown:
        raise InvalidInput(f"proposals row {unknown[0]}: field instrument_id: unknown instrument",
                           table="proposals", row=unknown[0], field="instrument_id")
    itype = out["instrument_id"].map(inst["instrument_type"]).astype(str).str.upper()
    is_eq = itype.isin(_EQUITY_TYPES).to_numpy()
    qty = pd.to_numeric(out["quantity"], errors="coerce").astype(float).to_numpy()
    delta = pd.to_numeric(out["delta_brl"], errors="coerce").astype(float).fillna(0.0).to_numpy()
    labels = [f"__PROPOSAL_{i}__" for i in range(len(out))]
    trade_marks = pd.DataFrame({
        "business_date": on, "instrument_id": out["instrument_id"].to_numpy(),
        "strategy_id": labels,
        "asset_class": out["instrument_id"].map(inst["asset_class"]).to_numpy(),
        "quantity": qty,
        "notional_brl": np.sign(qty) * pd.to_numeric(out["notional_brl"]).astype(float).abs().to_numpy(),
        "dv01_brl": pd.to_numeric(out["dv01_brl"]).astype(float).fillna(0.0).to_numpy(),
        "fx_delta_usd": np.where(is_eq, 0.0, delta / fx),
        "equity_delta_brl": np.where(is_eq, delta, 0.0),
    })
    trade_exp = risk.factor_exposures(trade_marks, instruments, spot=fx)

    hist = changes[pd.to_datetime(pd.Index(changes.index)) <= pd.Timestamp(on)] \
        if len(changes) else changes
    hist = hist.iloc[-window:]
    scs = risk.scenarios_from_dict(scenarios) if scenarios is not None else None
    book_marks = marks.copy()
    if len(book_marks):
        book_marks["notional_brl"] = (np.sign(book_marks["quantity"].astype(float))
                                      * book_marks["notional_brl"].astype(float).abs())

    def evaluate(exposures: pd.DataFrame, netted: pd.DataFrame) -> dict[str, Any]:
        factors = sorted(set(exposures["factor"])) if len(exposures) else []
        missing = [f for f in factors if f not in hist.columns]
        var95 = var99 = None
        n = 0
        if not factors:
            status, var95, var99, n = "OK", 0.0, 0.0, int(len(hist))
        elif missing:
            status = "INSUFFICIENT_HISTORY"
        else:
            complete = hist[factors].dropna()
            n = int(len(complete))
            if n < min_history:
                status = "INSUFFICIENT_HISTORY"
            else:
                status = "OK"
                pnl = risk.scenario_pnl(exposures, complete)
                var95 = risk.historical_var_es(pnl, 0.95)[0]
                var99 = risk.historical_var_es(pnl, 0.99)[0]
        worst = None
        if scs is not None:
            st = risk.stress_table(exposures, scs, nav=nav, changes=changes)
            ok = st.loc[st["status"] == "OK", "pnl_brl"]
            worst = float(ok.min()) if len(ok) else None
        metrics = risk.book_metrics(netted, exposures, nav, var95_brl=var95, var99_brl=var99,
                                    worst_stress_brl=worst, drawdown=drawdown)
        metrics.update(_bucket_metrics(exposures, nav))
        rate = exposures[exposures["shock_kind"] == risk.ABS_BP] if len(exposures) else exposures
        buckets = (rate.groupby("factor", sort=True)["sensitivity_brl"].sum().to_dict()
                   if len(rate) else {})
        return {"status": status, "n_scenarios": n, "missing_factors": missing,
                "var95_brl": var95, "var99_brl": var99, "metrics": metrics,
                "dv01_by_bucket": buckets, "limits": risk.limit_status(metrics, lim)}

    before = evaluate(book_exposures, _netted_marks(book_marks))
    lb = before["limits"].set_index("limit")
    impacts, breaches = [], []
    for i, label in enumerate(labels):  # one what-if per proposal (count is capped by policy)
        exp_i = pd.concat([book_exposures, trade_exp[trade_exp["strategy_id"] == label]],
                          ignore_index=True)
        after = evaluate(exp_i, _netted_marks(book_marks, trade_marks.iloc[[i]]))
        la = after["limits"]
        br = la[la["status"] == "BREACH"].sort_values("limit", kind="mergesort")
        flagged = [{
            "limit": r.limit, "metric": r.metric, "value": float(r.value),
            "limit_value": float(r.limit_value), "headroom": float(r.limit_value - r.value),
            "utilisation": float(r.utilisation),
            "value_before": lb.at[r.limit, "value"],
            "worsens": bool(not (lb.at[r.limit, "value"] >= r.value)),
        } for r in br.itertuples(index=False)]
        keys = sorted(set(lim["metric"]) | {k for k in after["metrics"] if k.startswith("dv01_bucket")})
        pre = {
            "on": on, "status": after["status"], "n_scenarios": after["n_scenarios"],
            "missing_factors": after["missing_factors"],
            "var95_brl_before": before["var95_brl"], "var95_brl_after": after["var95_brl"],
            "var99_brl_before": before["var99_brl"], "var99_brl_after": after["var99_brl"],
            "metrics_before": {k: before["metrics"].get(k) for k in keys},
            "metrics_after": {k: after["metrics"].get(k) for k in keys},
            "dv01_by_bucket_before": before["dv01_by_bucket"],
            "dv01_by_bucket_after": after["dv01_by_bucket"],
            "warnings": la.loc[la["status"] == "WARNING", "limit"].tolist(),
            "no_data": la.loc[la["status"] == "NO_DATA", "limit"].tolist(),
        }
        base = out["risk_impact"].iloc[i] if "risk_impact" in out.columns else None
        impact = dict(base) if isinstance(base, Mapping) else {}
        impact["pre_trade"] = pre
        impacts.append(_json_safe(impact))
        breaches.append(_json_safe(flagged))
    out["risk_impact"] = impacts
    out["breaches"] = breaches
    return out


# ----------------------------------------------------------------------------- workflow


_TRANSITIONS = {
    ("PENDING", "APPROVE"): "APPROVED",
    ("PENDING", "REJECT"): "REJECTED",
    ("PENDING", "MODIFY"): "MODIFIED",
    ("MODIFIED", "MODIFY"): "MODIFIED",
    ("APPROVED", "BOOK"): "BOOKED",
    ("MODIFIED", "BOOK"): "BOOKED",
}
STATUSES = ("PENDING", "APPROVED", "REJECTED", "MODIFIED", "BOOKED")
WORKFLOW_ACTIONS = ("APPROVE", "REJECT", "MODIFY", "BOOK")
#: One-way transaction cost in bps of |notional BRL| by instrument_type: the original
#: TransactionCostModel table (original-system.md §1.4, spread + commission + exchange fee);
#: types it does not list (NTN-F, cash equity) take its 2.0 bp default.
COST_BPS: Mapping[str, float] = {
    "DI1": 1.0, "DDI": 1.5, "DOL": 0.8, "WDO": 0.8, "NDF": 2.0, "NTNB": 3.0, "LTN": 1.5,
    "IND": 1.5, "WIN": 1.5,
}
DEFAULT_COST_BPS = 2.0


def transition(status: str, action: str) -> str:
    """The proposal status after ``action``; every other pair is refused.

    PENDING --APPROVE--> APPROVED --BOOK--> BOOKED; PENDING --REJECT--> REJECTED;
    PENDING --MODIFY--> MODIFIED --BOOK--> BOOKED (MODIFY may be repeated).

    Why MODIFIED is bookable: a modification is the PM's decision to trade at another size
    (original-system.md §3.5: "MODIFIED should be a flag on an approval"); requiring a second
    APPROVE would only add a click without adding control. REJECTED and BOOKED are terminal;
    an APPROVED proposal cannot be re-sized or rejected (book it or leave it unbooked).
    """
    new = _TRANSITIONS.get((status, action))
    if new is None:
        allowed = sorted(a for (s, a) in _TRANSITIONS if s == status)
        raise InvalidInput(
            f"proposal status {status!r}: action {action!r} is not allowed "
            f"(allowed: {', '.join(allowed) if allowed else 'none, the status is terminal'})",
            table="proposals", row=status, field="status")
    return new


def modify_quantity(proposal: Mapping[str, Any], quantity: float, lot_size: float) -> dict[str, Any]:
    """The proposal's fields after a PM changes its (signed) quantity.

    Why pure: the same rule must hold in the CLI, an API and the tests. The new quantity is
    rounded to the nearest multiple of ``lot_size`` (half to even, as :func:`generate_proposals`
    rounds), then every size-linear field is rescaled by ``k = q_new / q_old``: ``dv01_brl``
    and ``delta_brl`` by ``k`` (signed), ``notional_brl`` by ``|k|``. ``side`` follows the sign,
    ``action`` is re-classified against the book quantity recorded in
    ``risk_impact.current_quantity`` (so a cut-down REDUCE stays a REDUCE, an over-sized one
    becomes a FLIP). ``risk_impact`` gets the post-trade figures at the new size and a
    ``modified`` block; its ``pre_trade`` block still describes the ORIGINAL quantity (the
    limits were not re-run) and says so. Refused (InvalidInput naming the proposal): a
    non-finite quantity, zero after rounding, or a notional above the proposal's fat-finger cap.
    """
    pid = proposal.get("proposal_id")
    q_old = float(proposal["quantity"])
    try:
        q_req = float(quantity)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"proposal {pid}: quantity {quantity!r} is not a number",
                           table="proposals", row=pid, field="quantity") from exc
    lot = float(lot_size)
    if not math.isfinite(q_req) or not (math.isfinite(lot) and lot > 0):
        raise InvalidInput(f"proposal {pid}: quantity {quantity!r} / lot {lot_size!r} must be finite",
                           table="proposals", row=pid, field="quantity")
    q_new = round(float(np.round(q_req / lot)) * lot, _QTY_DECIMALS) + 0.0
    if q_new == 0.0:
        raise InvalidInput(f"proposal {pid}: quantity {q_req:g} rounds to 0 lots of {lot:g}",
                           table="proposals", row=pid, field="quantity")
    if q_old == 0.0:
        raise InvalidInput(f"proposal {pid}: stored quantity is 0, cannot rescale",
                           table="proposals", row=pid, field="quantity")
    k = q_new / q_old
    impact = dict(proposal.get("risk_impact") or {})
    notional = abs(float(proposal["notional_brl"])) * abs(k)
    cap = impact.get("fat_finger_notional_brl")
    if cap is not None and notional > float(cap):
        raise InvalidInput(f"proposal {pid}: quantity {q_new:g} gives notional R$ {notional:,.2f} "
                           f"above the fat-finger limit R$ {float(cap):,.2f}",
                           table="proposals", row=pid, field="quantity")
    q0 = float(impact.get("current_quantity", 0.0) or 0.0)
    q1 = round(q0 + q_new, _QTY_DECIMALS)
    action = str(_classify(np.array([q0]), np.array([q1]))[0])
    unit = impact.get("unit_risk")
    if unit is not None:
        impact.update(post_trade_quantity=q1, trade_risk=q_new * float(unit),
                      post_trade_risk=q1 * float(unit))
    impact["modified"] = {"from_quantity": q_old, "to_quantity": q_new, "requested": q_req,
                          "scale": k, "pre_trade_is_for_quantity": q_old}
    return {
        "quantity": q_new,
        "side": "BUY" if q_new > 0 else "SELL",
        "action": action,
        "notional_brl": notional,
        "dv01_brl": float(proposal["dv01_brl"]) * k,
        "delta_brl": float(proposal["delta_brl"]) * k,
        "risk_impact": _json_safe(impact),
    }


def booking_strategy(proposal: Mapping[str, Any], known: set[str] | None = None) -> str:
    """The strategy a booked proposal's trade is allocated to (a trade carries one).

    The contributor with the largest ``weight x conviction`` in the direction of the trade
    (ties by strategy_id), so the P&L lands with the strategy that asked for it; when no
    contributor points the trade's way (a REDUCE/CLOSE against a faded view), the largest
    ``weight x |conviction|``. ``known`` (strategy ids in the master) filters candidates.
    """
    pid = proposal.get("proposal_id")
    sign = 1.0 if float(proposal["quantity"]) > 0 else -1.0
    rows = [c for c in (proposal.get("strategies") or []) if isinstance(c, Mapping)
            and c.get("strategy_id") and (known is None or c["strategy_id"] in known)]
    if not rows:
        raise InvalidInput(f"proposal {pid}: no contributing strategy to book the trade to; "
                           "pass a strategy explicitly", table="proposals", row=pid,
                           field="strategies")

    def score(c: Mapping[str, Any]) -> float:
        return float(c.get("weight") or 0.0) * float(c.get("conviction") or 0.0)

    pool = [c for c in rows if score(c) * sign > 0] or rows
    return str(sorted(pool, key=lambda c: (-abs(score(c)), str(c["strategy_id"])))[0]["strategy_id"])


def booking_cost_brl(quantity: float, price: float, contract_size: float, instrument_type: str,
                     fx: float = 1.0) -> float:
    """One-way cost = |quantity x contract_size x price x fx| x bps / 10,000 (COST_BPS table),
    rounded to centavos half-even: the same rule the demo ledger uses."""
    bps = COST_BPS.get(str(instrument_type).upper(), DEFAULT_COST_BPS)
    notional = abs(float(quantity) * float(contract_size) * float(price) * float(fx))
    return float(round(Decimal(repr(notional * bps / 1e4)), 2))


# ----------------------------------------------------------------------------- decision journal

GENESIS_HASH = "0" * 64
JOURNAL_FIELDS = ("entry_id", "proposal_id", "action", "actor", "reason", "at", "payload")


def _canon(value: Any, path: str) -> Any:
    """Canonical JSON value: timestamps as UTC ISO-8601 with microseconds, naive = UTC."""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _canon(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canon(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating, Decimal)):
        f = float(value)
        if not math.isfinite(f):
            raise InvalidInput(f"decision_journal: field {path} is not finite ({value!r})",
                               table="decision_journal", field=path)
        return int(f) if f.is_integer() else f
    if value is None or isinstance(value, str):
        return value
    raise InvalidInput(f"decision_journal: field {path} has a non-JSON type {type(value).__name__}",
                       table="decision_journal", field=path)


def journal_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of every journal field plus ``prev_hash``.

    Hashed document: ``{"prev_hash": prev_hash, entry_id, proposal_id, action, actor, reason, at,
    payload}`` serialised with sorted keys, ``(",", ":")`` separators and UTF-8. Floats that are
    integral hash as integers (a JSON store may hand 1.0 back as 1). ``entry_id`` is hashed, so
    the writer assigns it (last id + 1) under the same lock with which it reads the last hash.
    Genesis ``prev_hash`` = 64 zeros. A key ``hash`` in ``entry`` is ignored; ``prev_hash``, if
    present, must equal the argument; any other key outside ``JOURNAL_FIELDS`` is refused so no
    field can escape the hash.
    """
    if not isinstance(prev_hash, str) or len(prev_hash) != 64 or \
            any(ch not in "0123456789abcdef" for ch in prev_hash):
        raise InvalidInput(f"decision_journal: prev_hash must be 64 lowercase hex, got {prev_hash!r}",
                           table="decision_journal", row=entry.get("entry_id"), field="prev_hash")
    keys = set(entry) - {"hash"}
    if "prev_hash" in keys:
        if entry["prev_hash"] != prev_hash:
            raise InvalidInput("decision_journal: entry prev_hash differs from the prev_hash argument",
                               table="decision_journal", row=entry.get("entry_id"), field="prev_hash")
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
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify_chain(entries: pd.DataFrame, *, expected_head: str | None = None) -> list[int]:
    """entry_ids whose stored hash or link is broken, in entry_id order ([] = intact).

    Rows are taken in entry_id order. Row k is broken when its ``hash`` is not
    ``journal_hash(prev_hash_k, fields_k)`` (an edited row) or its ``prev_hash`` is not the stored
    ``hash`` of row k-1 (genesis for the first row): a deleted or re-ordered row breaks the link
    of its successor, a re-hashed edited row breaks its successor's link. Deleting the *last*
    rows leaves a valid shorter chain; pass the head hash kept elsewhere (marker, Redis) as
    ``expected_head`` to catch that: a mismatch reports the last entry_id.
    """
    _require_columns(entries, "decision_journal", [*JOURNAL_FIELDS, "prev_hash", "hash"])
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


def _bond_unit_risk(view: pd.DataFrame, instruments: pd.DataFrame, prices: pd.DataFrame,
                    vna: float | None, as_of: date) -> dict[str, float]:
    """Signed DV01 of one NTN-F / NTN-B (long = negative) for view contracts the book lacks:
    ``unit_risk`` infers bond DV01 from a held position, so a first trade needs it priced."""
    from pms_luigi.core import pricing

    inst = instruments.set_index("instrument_id")
    px = prices[pd.to_datetime(prices["price_date"]).dt.date == as_of].set_index("instrument_id")
    out: dict[str, float] = {}
    for iid in view["instrument_id"]:
        kind = inst.at[iid, "instrument_type"] if iid in inst.index else None
        if kind not in ("NTNF", "NTNB") or iid not in px.index or pd.isna(px.at[iid, "rate"]):
            continue
        maturity, rate = inst.at[iid, "maturity_date"], float(px.at[iid, "rate"])
        if kind == "NTNF":
            dv01 = float(pricing.ntnf_dv01(as_of, maturity, rate))
        elif vna is not None:
            dv01 = float(pricing.ntnb_dv01(as_of, maturity, rate, vna))
        else:
            continue
        out[iid] = -abs(dv01)
    return out


def without_decided(view: pd.DataFrame, decided: pd.DataFrame | None,
                    ) -> tuple[pd.DataFrame, list[str]]:
    """(view minus instruments with a human decision for D, those instrument ids sorted).

    Why: the book at P does not contain today's approved or booked trades, so the same view
    would propose them again on a rerun of TradeProposals(D) — an approved DI1F31 plus a fresh
    PENDING DI1F31 invites a double execution. Rows of ``decided`` with status PENDING are
    ignored (the pipeline replaces those).
    """
    if decided is None or len(decided) == 0:
        return view, []
    _require_columns(decided, "proposals", ["instrument_id", "status"])
    ids = set(decided.loc[decided["status"] != "PENDING", "instrument_id"])
    keep = ~view["instrument_id"].isin(ids)
    return view.loc[keep].reset_index(drop=True), sorted(ids & set(view["instrument_id"]))


def propose(*, business_date: date, as_of: date, signals: pd.DataFrame,
            strategies: pd.DataFrame, aliases: pd.DataFrame, instruments: pd.DataFrame,
            book: pd.DataFrame, history: pd.DataFrame, fx_history: pd.DataFrame,
            vna: float | None, nav: float, nav_history: pd.DataFrame | None,
            policy: Mapping[str, Any], limits: pd.DataFrame, scenarios: Any,
            window: int = 252, min_history: int = 60,
            decided: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The whole step for trading day D from the book and signals at P: net views →
    sized proposals → pre-trade risk of each against the limits. Returns the proposals and
    the marker metadata (proposals generated, flagged by limits, by action).

    ``decided``: the proposals rows of D already decided by a person (status other than
    PENDING); their instruments are left out (:func:`without_decided`), so a rerun does not
    re-propose a trade that is approved, booked or rejected today."""
    view, skipped = without_decided(
        aggregate_signals(signals, strategies, aliases, instruments, as_of), decided)
    fx = fx_history[(pd.to_datetime(fx_history["fixing_date"]).dt.date == as_of)
                    & (fx_history["pair"] == "USDBRL") & (fx_history["kind"] == "CLOSE")]
    if fx.empty:
        raise MissingFxFixing("USDBRL", "CLOSE", as_of)
    spot = float(fx["rate"].iloc[0])
    changes = risk.factor_changes(history, instruments, fx_history, as_of)
    drawdown = None
    if nav_history is not None and len(nav_history):
        drawdown = risk.current_drawdown(nav_history.sort_values("business_date")["nav_brl"])
    risk_ctx = dict(book_exposures=None, changes=changes, nav=nav, limits=limits, marks=book,
                    instruments=instruments, fx_spot=spot, on=as_of, window=window,
                    min_history=min_history, drawdown=drawdown, scenarios=scenarios)
    frame = generate_proposals(
        view, book, instruments, history, spot, policy, risk_ctx, as_of=as_of,
        business_date=business_date,
        unit_risk_overrides=_bond_unit_risk(view, instruments, history, vna, as_of))
    flagged = int(frame["breaches"].map(len).gt(0).sum()) if len(frame) else 0
    metadata = {"proposals_generated": int(len(frame)), "flagged_by_limits": flagged,
                "skipped_decided": skipped,
                "by_action": {str(k): int(v) for k, v in
                              frame["action"].value_counts().sort_index().items()}
                if len(frame) else {}}
    return frame, metadata
