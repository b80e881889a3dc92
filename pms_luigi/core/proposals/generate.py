"""The proposal step: net view vs the book at P -> sized, ranked, risk-checked proposals for D.

:func:`propose` is the whole step as the pipeline runs it (views from the signals, the
decided instruments left out, the USDBRL close and the risk context looked up in the inputs);
:func:`generate_proposals` is its core, usable on its own with a view and a book.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pms_luigi.core import risk
from pms_luigi.core.errors import InvalidInput, MissingFxFixing, MissingPrice
from pms_luigi.core.frames import as_date, require
from pms_luigi.core.proposals import rolls
from pms_luigi.core.proposals.aggregate import aggregate_signals, without_decided
from pms_luigi.core.proposals.conventions import (
    CONVICTION_DECIMALS,
    PROPOSAL_COLUMNS,
    RISK_ADDING,
    classify,
    empty_proposals,
    iso_or_null,
)
from pms_luigi.core.proposals.policy import (
    DEFAULT_MIN_DAYS_TO_EXPIRY,
    ProposalPolicy,
    as_policy,
)
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
                       unit_risk_overrides: Mapping[str, float] | None = None,
                       nav: float | None = None,
                       min_days_to_expiry: int = DEFAULT_MIN_DAYS_TO_EXPIRY,
                       skip: Iterable[str] = ()) -> pd.DataFrame:
    """Compare the net view with the book at P and propose sized trades for the trading day D.

    Contracts near expiry first (:mod:`~pms_luigi.core.proposals.rolls`): a view on a contract
    within its floor of business days to expiry moves to the next contract of its family, a
    held one with a next contract gets a roll pair (close it; the next one counts the
    risk-equivalent quantity as held), and one without a next contract may only be reduced.
    Then per contract :func:`~pms_luigi.core.proposals.sizing.size_trades` turns the
    conviction into a target position from the class's risk budget and applies the entry /
    exit / flip hysteresis, the rebalance band and the caps (fat finger on every trade; with
    ``nav`` the notional and 1-day risk as a share of NAV on the trades that add risk); a
    capped trade is re-classified from the resulting position (a CLOSE above the fat finger
    is a REDUCE) and says which cap bound in ``risk_impact.caps``. Trades are ranked by
    score = |c| x risk_budget_brl (budget.target x daily_vol, in R$ of 1-day risk; the parts
    in ``risk_impact.ranking``), ties by instrument_id; at most ``max_proposals``
    risk-adding proposals (OPEN, INCREASE, FLIP) are kept, REDUCE, CLOSE and the legs of a
    roll always (an exit must never be dropped to meet a count, nor half a roll).
    Instruments held but absent from the view get no proposal unless they roll (no strategy
    has a view on them).

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
        nav: NAV at P; the caps as a share of NAV apply only when it is given.
        min_days_to_expiry: the days-to-expiry floor of the types the policy does not list
            (``[pms_proposals] min_days_to_expiry``).
        skip: instruments that get no proposal (decided today: see ``without_decided``).

    Returns:
        ``PROPOSAL_COLUMNS`` (status PENDING, origin PIPELINE), sorted by rank.

    Raises:
        InvalidInput: a bad view, policy or instrument, no budget for an asset class, no unit
            risk for a contract, views on a near contract and its next one.
        MissingPrice, MissingFxFixing: the inputs lack them.
    """
    pol = as_policy(policy)
    as_of_ts = None if as_of is None else pd.Timestamp(as_date(as_of, "as_of"))
    require(view, ["instrument_id", "conviction"], "view")
    require(instruments, list(_INSTRUMENT_COLUMNS), "instruments")
    inst = instruments.drop_duplicates("instrument_id").set_index("instrument_id")
    v = _checked_view(view, inst)
    px, as_of_ts = _prepare_prices(prices, as_of_ts)
    on = as_of_ts.date() if as_of_ts is not None else None
    if v.empty and (book is None or len(book) == 0):
        return empty_proposals()
    if on is None:
        raise InvalidInput("generate_proposals: the book date P is unknown: pass as_of= or "
                           "prices with price_date", field="as_of")
    fx = _checked_fx(fx_spot, on)
    d_date = business_date if business_date is not None else on
    expiry = rolls.expiry_table(instruments, px["instrument_id"], d_date, pol,
                                min_days_to_expiry)
    v = rolls.roll_view(v, expiry)
    held = book_by_instrument(book)
    pairs = rolls.roll_pairs(expiry, held)
    pairs = pairs[pairs["near"].isin(px["instrument_id"])].reset_index(drop=True)
    rows = _with_roll_rows(v, pairs)
    missing = sorted(set(rows["instrument_id"]) - set(px["instrument_id"]))
    if missing:
        raise MissingPrice(missing, on, field="market_prices.price")
    ac = _asset_classes(rows, inst, pol)
    ur = unit_risk(instruments, px, fx, book, unit_risk_overrides).reindex(rows["instrument_id"])
    f = _sizing_frame(rows, inst, ac, pol, ur, held, fx, on)
    f = size_trades(_with_expiry(f, expiry, pairs), pol, nav)
    f = f[~f.index.isin(list(skip))]
    if f.empty:
        return empty_proposals()
    f = _with_trade_risk(_ranked(f, pol))
    out = pd.DataFrame(proposal_rows(f, _holders(book, pairs), ur, fx, d_date, nav),
                       columns=list(PROPOSAL_COLUMNS))
    if risk_ctx is not None:
        out = pre_trade_risk(out, **dict(risk_ctx))
    return out


def propose(*, business_date: date, as_of: date, signals: pd.DataFrame,
            strategies: pd.DataFrame, aliases: pd.DataFrame, instruments: pd.DataFrame,
            book: pd.DataFrame, history: pd.DataFrame, fx_history: pd.DataFrame,
            vna: float | None, nav: float, nav_history: pd.DataFrame | None,
            policy: Mapping[str, Any], limits: pd.DataFrame, scenarios: Any,
            window: int = 252, min_history: int = 60,
            decided: pd.DataFrame | None = None,
            min_days_to_expiry: int = DEFAULT_MIN_DAYS_TO_EXPIRY,
            ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The whole step for trading day D from the book and signals at P.

    Net views (:func:`aggregate_signals`, the signals on a contract near expiry moved to the
    next contract of its family) -> sized proposals (:func:`generate_proposals`, with the
    coupon bonds' unit DV01 priced by ``bond_unit_risk``, capped as a share of ``nav``) ->
    pre-trade risk of each against the limits, with the factor history, drawdown and stress
    scenarios as of P.

    ``decided``: the proposals rows of D already decided by a person (status other than
    PENDING); their instruments are left out (:func:`without_decided`, and no roll leg is
    proposed in them), so a rerun does not re-propose a trade that is approved, booked or
    rejected today.

    Returns:
        (the proposals, the marker metadata: proposals_generated, flagged_by_limits,
        skipped_decided, by_action, rolled (near -> next contract, days to expiry, floor)
        and near_expiry_blocked (near contracts with a view and no next contract)).

    Raises:
        MissingFxFixing: no USDBRL CLOSE on P; and whatever the steps above raise.
    """
    pol = as_policy(policy)
    expiry = rolls.expiry_table(instruments, _priced(history, as_of), business_date, pol,
                                min_days_to_expiry)
    view, skipped = without_decided(
        aggregate_signals(signals, strategies, aliases, instruments, as_of,
                          rolled=rolls.rolled_contracts(expiry)), decided)
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
    done = [] if decided is None or not len(decided) else \
        sorted(set(decided.loc[decided["status"] != "PENDING", "instrument_id"]))
    frame = generate_proposals(
        view, book, instruments, history, spot, pol, risk_ctx, as_of=as_of,
        business_date=business_date,
        unit_risk_overrides=bond_unit_risk(_with_roll_targets(view, expiry), instruments,
                                           history, vna, as_of), nav=nav,
        min_days_to_expiry=min_days_to_expiry, skip=done)
    flagged = int(frame["breaches"].map(len).gt(0).sum()) if len(frame) else 0
    by_action = ({str(k): int(v) for k, v in frame["action"].value_counts().sort_index().items()}
                 if len(frame) else {})
    metadata = {"proposals_generated": len(frame), "flagged_by_limits": flagged,
                "skipped_decided": skipped, "by_action": by_action,
                **_expiry_metadata(expiry, view, book)}
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
    """The asset classes of the contracts to size; one without a budget in the policy is
    refused."""
    ac = inst.loc[v["instrument_id"], "asset_class"].astype(str).to_numpy()
    no_budget = [i for i, a in zip(v["instrument_id"], ac, strict=True) if a not in pol.budgets]
    if no_budget:
        iid = no_budget[0]
        raise InvalidInput(f"instruments row {iid}: field asset_class "
                           f"{inst.at[iid, 'asset_class']}: no risk budget in the proposal "
                           "policy", table="instruments", row=iid, field="asset_class")
    return ac


# ----------------------------------------------------------------------------- rolls


def _priced(history: pd.DataFrame, as_of: date) -> list[str]:
    """The instruments with a positive price on or before P (a roll may land in them)."""
    px = history[pd.to_datetime(history["price_date"]).dt.date <= as_of]
    return sorted(set(px.loc[pd.to_numeric(px["price"], errors="coerce") > 0,
                             "instrument_id"]))


def _with_roll_targets(view: pd.DataFrame, expiry: pd.DataFrame) -> pd.DataFrame:
    """The view's contracts and every contract a roll may land in (to price coupon bonds)."""
    ids = set(view["instrument_id"]) | set(expiry["roll_to"].dropna())
    return pd.DataFrame({"instrument_id": sorted(ids)})


def _with_roll_rows(v: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """The view (with a ``rolled_from`` column) plus one row without a view (conviction NaN)
    per roll leg it lacks."""
    if "rolled_from" not in v.columns:
        v = v.assign(rolled_from=[[] for _ in range(len(v))])
    extra = sorted((set(pairs["near"]) | set(pairs["next"])) - set(v["instrument_id"]))
    if not extra:
        return v
    blank = pd.DataFrame({"instrument_id": extra, "conviction": np.nan})
    for col in ("strategies", "factor_tags", "contributions", "rolled_from"):
        blank[col] = [[] for _ in extra]
    blank["weights"] = [{} for _ in extra]
    return pd.concat([v, blank], ignore_index=True).sort_values(
        "instrument_id", kind="mergesort").reset_index(drop=True)


def _with_expiry(f: pd.DataFrame, expiry: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Days to expiry and the roll columns of each contract: ``q_base`` (held plus the
    risk-equivalent of the near contracts rolling in), ``roll_out`` and ``roll_to`` for a
    held near contract, ``roll_from`` for the next one, ``near_blocked`` for a near contract
    without a next one, ``is_roll`` for both legs."""
    e = expiry.reindex(f.index)
    f = f.assign(days_to_expiry=e["days_to_expiry"], min_days=e["min_days"],
                 maturity_date=e["maturity_date"],
                 near=e["near"].fillna(False).astype(bool))
    out_of = pairs.set_index("near")
    f["roll_out"] = f.index.isin(out_of.index)
    f["roll_to"] = out_of["next"].reindex(f.index).astype(object)
    into = pairs.groupby("next")["near"].agg(lambda s: sorted(s))
    f["roll_from"] = [into.get(i, []) for i in f.index]
    f["near_blocked"] = f["near"] & ~f["roll_out"]
    moved = rolls.rolled_in(pairs, f["unit_signed"], f["lot"])
    f["q_base"] = f["q0"] + moved.reindex(f.index).fillna(0.0)
    f["rolled_in_quantity"] = moved.reindex(f.index).fillna(0.0)
    f["is_roll"] = f["roll_out"] | f.index.isin(list(into.index))
    f["roll_conviction"] = f["conviction"].reindex(f["roll_to"]).to_numpy()
    return f


def _holders(book: pd.DataFrame | None, pairs: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """The strategies holding each roll leg's position, for a leg no strategy has a view on:
    {instrument: [{strategy_id, weight (share of |quantity|), conviction None, holding}]}; a
    next contract names the holders of the near ones rolling into it."""
    if book is None or not len(book) or pairs.empty:
        return {}
    b = book.loc[book["instrument_id"].isin(pairs["near"]), ["instrument_id", "strategy_id",
                                                             "quantity"]].copy()
    b["quantity"] = pd.to_numeric(b["quantity"]).astype(float)
    b = b[b["quantity"] != 0].sort_values(["instrument_id", "strategy_id"], kind="mergesort")
    share = b["quantity"].abs() / b.groupby("instrument_id")["quantity"].transform(
        lambda q: q.abs().sum())
    rows = [{"instrument_id": i, "strategy_id": s, "weight": float(w), "conviction": None,
             "holding": float(q)} for i, s, w, q in zip(
        b["instrument_id"], b["strategy_id"], share, b["quantity"], strict=True)]
    out: dict[str, list[dict[str, Any]]] = {}
    nxt = dict(zip(pairs["near"], pairs["next"], strict=True))
    for r in rows:  # a handful of holders per contract near expiry
        entry = {k: v for k, v in r.items() if k != "instrument_id"}
        out.setdefault(r["instrument_id"], []).append(entry)
        out.setdefault(nxt[r["instrument_id"]], []).append(entry)
    return out


def _expiry_metadata(expiry: pd.DataFrame, view: pd.DataFrame,
                     book: pd.DataFrame | None) -> dict[str, Any]:
    """What the step's marker records about expiry: the contracts rolled (a view moved or a
    position held: near -> next, days to expiry, floor) and the near contracts with a view
    but no next contract."""
    near = expiry.loc[expiry["near"]]
    moved = {n for ns in view.get("rolled_from", pd.Series(dtype=object)) for n in ns}
    held = book_by_instrument(book)
    moved |= set(held.index[held["quantity"] != 0])
    rolled = near.loc[near["roll_to"].notna() & near.index.isin(list(moved))]
    blocked = near.loc[near["roll_to"].isna() & near.index.isin(view["instrument_id"])]
    return {
        "rolled": [{"from": str(i), "to": str(r.roll_to), "days_to_expiry": int(r.days_to_expiry),
                    "min_days_to_expiry": int(r.min_days)} for i, r in rolled.iterrows()],
        "near_expiry_blocked": [{"instrument_id": str(i), "days_to_expiry": int(r.days_to_expiry),
                                 "min_days_to_expiry": int(r.min_days)}
                                for i, r in blocked.iterrows()],
    }


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
    f["daily_vol"] = [b.daily_vol for b in budgets]
    f["fx_scale"] = np.where(f["measure"] == "delta_usd", fx, 1.0)
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
    beyond ``max_proposals`` dropped (a roll leg never is: ``count_capped`` says which rows the
    count applied to), ranks 1..n."""
    f = f.copy()
    f["action"] = classify(f["q0"].to_numpy(), f["q1"].to_numpy())
    f["score"] = f["conviction"].abs().fillna(0.0) * f["budget_brl"]
    f = f.reset_index().sort_values(["score", "instrument_id"], ascending=[False, True],
                                    kind="mergesort")
    adding = f["action"].isin(RISK_ADDING) & ~f["is_roll"]
    f = f[~adding | (adding.cumsum() <= pol.max_proposals)].copy()
    f["rank"] = np.arange(1, len(f) + 1)
    f["count_capped"] = adding.loc[f.index]
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
