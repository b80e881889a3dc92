"""The proposal step: net view vs the book at P -> sized, ranked, risk-checked proposals for D.

:func:`propose` is the whole step as the pipeline runs it (views from the signals, the
decided instruments left out, the USDBRL close and the risk context looked up in the inputs);
:func:`generate_proposals` is its core, usable on its own with a view and a book.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pms_luigi.core import risk
from pms_luigi.core.errors import InvalidInput, MissingFxFixing, MissingPrice
from pms_luigi.core.frames import as_date, require
from pms_luigi.core.proposals.aggregate import aggregate_signals, without_decided
from pms_luigi.core.proposals.conventions import (
    CONVICTION_DECIMALS,
    PROPOSAL_COLUMNS,
    RISK_ADDING,
    classify,
    empty_proposals,
    iso_or_null,
)
from pms_luigi.core.proposals.policy import ProposalPolicy, as_policy
from pms_luigi.core.proposals.pretrade import pre_trade_risk
from pms_luigi.core.proposals.records import proposal_rows
from pms_luigi.core.proposals.sizing import (
    bond_unit_risk,
    book_by_instrument,
    size_trades,
    unit_risk,
)

_INSTRUMENT_COLUMNS = ("instrument_id", "asset_class", "instrument_type", "currency",
                       "contract_size", "lot_size")


def generate_proposals(view: pd.DataFrame, book: pd.DataFrame | None, instruments: pd.DataFrame,
                       prices: pd.DataFrame, fx_spot: float,
                       policy: ProposalPolicy | Mapping[str, Any],
                       risk_ctx: Mapping[str, Any] | None = None, *,
                       as_of: date | None = None, business_date: date | None = None,
                       unit_risk_overrides: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Compare the net view with the book at P and propose sized trades for the trading day D.

    Per instrument of ``view``, :func:`~pms_luigi.core.proposals.sizing.size_trades` turns the
    conviction into a target position from the class's risk budget and applies the entry /
    exit / flip hysteresis, the rebalance band and the fat-finger cap; a capped trade is
    re-classified from the resulting position (a capped CLOSE is a REDUCE) and marked in
    ``risk_impact``. Trades are ranked by score = |c| x risk_budget_brl (budget.target x
    daily_vol, in R$ of 1-day risk), ties by instrument_id; at most ``max_proposals``
    risk-adding proposals (OPEN, INCREASE, FLIP) are kept, REDUCE and CLOSE always (an exit
    must never be dropped to meet a count). Instruments held but absent from the view get no
    proposal (no strategy has a view on them).

    Args:
        view: net views (instrument_id, conviction[, contributors]).
        book: ``position_marks`` at P (or None: flat).
        instruments: the instrument master.
        prices: ``market_prices`` up to P (the last price per instrument is used).
        fx_spot: USDBRL (BRL per USD) for USD instruments and FX delta.
        policy: a :class:`ProposalPolicy` or its parsed document.
        risk_ctx: keyword arguments of :func:`pre_trade_risk` (minus proposals); when given
            the pre-trade checks run and fill ``risk_impact`` and ``breaches``.
        as_of: P (inferred from the prices if omitted).
        business_date: D (defaults to P).
        unit_risk_overrides: signed unit DV01/delta per instrument (see ``unit_risk``).

    Returns:
        ``PROPOSAL_COLUMNS`` (status PENDING, origin PIPELINE), sorted by rank.

    Raises:
        InvalidInput: a bad view, policy or instrument, no budget for an asset class, no unit
            risk for a contract. MissingPrice, MissingFxFixing: the inputs lack them.
    """
    pol = as_policy(policy)
    as_of_ts = None if as_of is None else pd.Timestamp(as_date(as_of, "as_of"))
    require(view, ["instrument_id", "conviction"], "view")
    require(instruments, list(_INSTRUMENT_COLUMNS), "instruments")
    inst = instruments.drop_duplicates("instrument_id").set_index("instrument_id")
    v = _checked_view(view, inst)
    px, as_of_ts = _prepare_prices(prices, as_of_ts)
    on = as_of_ts.date() if as_of_ts is not None else None
    if v.empty:
        return empty_proposals()
    if on is None:
        raise InvalidInput("generate_proposals: the book date P is unknown: pass as_of= or "
                           "prices with price_date", field="as_of")
    fx = _checked_fx(fx_spot, on)
    missing = sorted(set(v["instrument_id"]) - set(px["instrument_id"]))
    if missing:
        raise MissingPrice(missing, on, field="market_prices.price")
    ac = _asset_classes(v, inst, pol)
    held = book_by_instrument(book)
    ur = unit_risk(instruments, px, fx, book, unit_risk_overrides).reindex(v["instrument_id"])
    f = size_trades(_sizing_frame(v, inst, ac, pol, ur, held, fx, on), pol)
    if f.empty:
        return empty_proposals()
    f = _with_trade_risk(_ranked(f, pol))
    d_date = business_date if business_date is not None else on
    out = pd.DataFrame(proposal_rows(f, view, ur, fx, d_date), columns=list(PROPOSAL_COLUMNS))
    if risk_ctx is not None:
        out = pre_trade_risk(out, **dict(risk_ctx))
    return out


def propose(*, business_date: date, as_of: date, signals: pd.DataFrame,
            strategies: pd.DataFrame, aliases: pd.DataFrame, instruments: pd.DataFrame,
            book: pd.DataFrame, history: pd.DataFrame, fx_history: pd.DataFrame,
            vna: float | None, nav: float, nav_history: pd.DataFrame | None,
            policy: Mapping[str, Any], limits: pd.DataFrame, scenarios: Any,
            window: int = 252, min_history: int = 60,
            decided: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The whole step for trading day D from the book and signals at P.

    Net views (:func:`aggregate_signals`) -> sized proposals (:func:`generate_proposals`, with
    the coupon bonds' unit DV01 priced by ``bond_unit_risk``) -> pre-trade risk of each
    against the limits, with the factor history, drawdown and stress scenarios as of P.

    ``decided``: the proposals rows of D already decided by a person (status other than
    PENDING); their instruments are left out (:func:`without_decided`), so a rerun does not
    re-propose a trade that is approved, booked or rejected today.

    Returns:
        (the proposals, the marker metadata: proposals_generated, flagged_by_limits,
        skipped_decided, by_action).

    Raises:
        MissingFxFixing: no USDBRL CLOSE on P; and whatever the steps above raise.
    """
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
        unit_risk_overrides=bond_unit_risk(view, instruments, history, vna, as_of))
    flagged = int(frame["breaches"].map(len).gt(0).sum()) if len(frame) else 0
    by_action = ({str(k): int(v) for k, v in frame["action"].value_counts().sort_index().items()}
                 if len(frame) else {})
    metadata = {"proposals_generated": len(frame), "flagged_by_limits": flagged,
                "skipped_decided": skipped, "by_action": by_action}
    return frame, metadata


# ----------------------------------------------------------------------------- checks


def _checked_view(view: pd.DataFrame, inst: pd.DataFrame) -> pd.DataFrame:
    """The view sorted by instrument, convictions rounded to the column scale; a duplicate
    instrument, a conviction outside [-1, 1] or an unknown instrument is refused."""
    v = view.sort_values("instrument_id", kind="mergesort").reset_index(drop=True)
    dup = v["instrument_id"][v["instrument_id"].duplicated()]
    if not dup.empty:
        raise InvalidInput(f"view row {dup.iloc[0]}: duplicate instrument_id", table="view",
                           row=dup.iloc[0], field="instrument_id")
    conv = pd.to_numeric(v["conviction"], errors="coerce").astype(float)
    bad = v[~np.isfinite(conv.to_numpy()) | (conv.abs() > 1.0).to_numpy()]
    if not bad.empty:
        r = bad.iloc[0]
        raise InvalidInput(f"view row {r['instrument_id']}: field conviction {r['conviction']!r} "
                           "is outside [-1, 1]", table="view", row=r["instrument_id"],
                           field="conviction")
    v["conviction"] = conv.round(CONVICTION_DECIMALS)
    unknown = v.loc[~v["instrument_id"].isin(inst.index), "instrument_id"]
    if not unknown.empty:
        raise InvalidInput(f"view row {unknown.iloc[0]}: field instrument_id: unknown instrument",
                           table="view", row=unknown.iloc[0], field="instrument_id")
    return v


def _prepare_prices(prices: pd.DataFrame, as_of: pd.Timestamp | None,
                    ) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    """The last positive price per instrument on or before P, and P (inferred from the
    latest price_date when not given). A price dated after P is refused (not point in time)."""
    require(prices, ["instrument_id", "price"], "market_prices")
    px = prices.copy()
    if "price_date" in px.columns:
        px["price_date"] = pd.to_datetime(px["price_date"], errors="coerce").dt.normalize()
        if as_of is None and px["price_date"].notna().any():
            as_of = px["price_date"].max()
        if as_of is not None:
            late = px[px["price_date"] > as_of]
            if not late.empty:
                r = late.sort_values(["price_date", "instrument_id"]).iloc[0]
                raise InvalidInput(f"market_prices row ({iso_or_null(r['price_date'])}, "
                                   f"{r['instrument_id']}): field price_date is after as_of "
                                   f"{as_of.date()}", table="market_prices",
                                   row=(r["price_date"].date(), r["instrument_id"]),
                                   field="price_date")
        px = px.sort_values(["instrument_id", "price_date"], kind="mergesort")
    px = px.drop_duplicates("instrument_id", keep="last")
    px["price"] = pd.to_numeric(px["price"], errors="coerce").astype(float)
    return px[px["price"] > 0], as_of


def _checked_fx(fx_spot: Any, on: date) -> float:
    """USDBRL as a positive float; missing is MissingFxFixing, anything else InvalidInput."""
    try:
        fx = float(fx_spot)
    except (TypeError, ValueError):
        fx = float("nan")
    if not math.isfinite(fx) or fx <= 0:
        if fx_spot is None or (isinstance(fx_spot, float) and math.isnan(fx_spot)):
            raise MissingFxFixing("USDBRL", "PTAX", on)
        raise InvalidInput(f"fx_spot USDBRL must be a positive number, got {fx_spot!r}",
                           table="fx_fixings", row=("USDBRL", on), field="rate")
    return fx


def _asset_classes(v: pd.DataFrame, inst: pd.DataFrame, pol: ProposalPolicy) -> np.ndarray:
    """The view's asset classes; one without a budget in the policy is refused."""
    ac = inst.loc[v["instrument_id"], "asset_class"].astype(str).to_numpy()
    no_budget = [i for i, a in zip(v["instrument_id"], ac, strict=True) if a not in pol.budgets]
    if no_budget:
        iid = no_budget[0]
        raise InvalidInput(f"instruments row {iid}: field asset_class "
                           f"{inst.at[iid, 'asset_class']}: no risk budget in the proposal "
                           "policy", table="instruments", row=iid, field="asset_class")
    return ac


# ----------------------------------------------------------------------------- frames


def _sizing_frame(v: pd.DataFrame, inst: pd.DataFrame, ac: np.ndarray, pol: ProposalPolicy,
                  ur: pd.DataFrame, held: pd.DataFrame, fx: float, on: date) -> pd.DataFrame:
    """Per view contract: conviction, budget (measure, target, cap, R$ risk budget), signed
    and absolute unit risk in the budget's measure, unit notional and delta, book quantity.

    Raises:
        InvalidInput: a contract has no positive unit risk (a rate contract without a rate,
            an unheld coupon bond without an override).
    """
    f = v.set_index("instrument_id")
    f["asset_class"] = ac
    f["instrument_type"] = inst.loc[f.index, "instrument_type"].astype(str)
    f["lot"] = inst.loc[f.index, "lot_size"].astype(float)
    budgets = [pol.budgets[a] for a in ac]
    f["measure"] = [b.measure for b in budgets]
    f["target"] = [b.target for b in budgets]
    f["cap_brl"] = [b.fat_finger_notional_brl for b in budgets]
    f["budget_brl"] = [b.risk_budget_brl(fx) for b in budgets]
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
            f"{f.at[iid, 'instrument_type']} needs a positive market_prices.rate, a held "
            "position or a unit_risk_overrides entry", table="instruments", row=iid,
            field=f.at[iid, "measure"])
    f["unit_notional"] = ur["unit_notional_brl"]
    f["unit_delta_brl"] = ur["fx_delta_usd"].fillna(0.0) * fx + ur["equity_delta_brl"].fillna(0.0)
    f["q0"] = held["quantity"].reindex(f.index).fillna(0.0)
    return f


def _ranked(f: pd.DataFrame, pol: ProposalPolicy) -> pd.DataFrame:
    """Action and score per trade, sorted by score (ties by instrument), the risk-adding ones
    beyond ``max_proposals`` dropped, ranks 1..n."""
    f = f.copy()
    f["action"] = classify(f["q0"].to_numpy(), f["q1"].to_numpy())
    f["score"] = f["conviction"].abs() * f["budget_brl"]
    f = f.reset_index().sort_values(["score", "instrument_id"], ascending=[False, True],
                                    kind="mergesort")
    adding = f["action"].isin(RISK_ADDING)
    f = f[~adding | (adding.cumsum() <= pol.max_proposals)].copy()
    f["rank"] = np.arange(1, len(f) + 1)
    return f


def _with_trade_risk(f: pd.DataFrame) -> pd.DataFrame:
    """The trade's dv01_brl (rate budgets only), delta_brl, notional, side, and its risk
    and the post-trade risk in the budget's measure."""
    qty = f["trade"].to_numpy()
    unit_signed = f["unit_signed"].to_numpy()
    is_dv01 = (f["measure"] == "dv01_brl").to_numpy()
    f["dv01_brl"] = np.where(is_dv01, qty * unit_signed, 0.0)
    f["delta_brl"] = qty * f["unit_delta_brl"].to_numpy()
    f["notional_brl"] = np.abs(qty) * f["unit_notional"].to_numpy()
    f["side"] = np.where(qty > 0, "BUY", "SELL")
    f["trade_risk"] = qty * unit_signed
    f["post_risk"] = f["q1"].to_numpy() * unit_signed
    return f
