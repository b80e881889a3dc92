"""Sizing: the book per contract, the risk of one unit, and the trade the policy asks for.

Sizes come from a risk budget (DV01, USD delta, index delta per asset class) and not from a
flat notional, so a 1-year DI1 and a 10-year DI1 at the same conviction carry the same risk.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from types import MappingProxyType

import numpy as np
import pandas as pd

from pms_luigi.core import pricing
from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.frames import require
from pms_luigi.core.proposals.conventions import (
    BP,
    EQUITY_TYPES,
    FX_TYPES,
    QTY_DECIMALS,
    iso_or_null,
)
from pms_luigi.core.proposals.policy import ProposalPolicy

# Face value at maturity of the zero-coupon contracts whose duration can be read off the price
# (B3 DI1 and DDI contract specifications: 100,000 points; Tesouro Nacional LTN: R$ 1,000).
_ZERO_FACE = MappingProxyType({"DI1": 100_000.0, "LTN": 1_000.0})
_DDI_FACE = 100_000.0
_BOOK_COLUMNS = ("quantity", "dv01_brl", "fx_delta_usd", "equity_delta_brl", "notional_brl")


def book_by_instrument(book: pd.DataFrame | None) -> pd.DataFrame:
    """Position marks at P summed per instrument (strategies net out), indexed by instrument_id.

    Args:
        book: ``position_marks`` rows of one business date (or None / empty).

    Returns:
        Columns quantity, dv01_brl, fx_delta_usd, equity_delta_brl, notional_brl (signed with
        the quantity, whatever sign convention the marks stored it in), asset_class. Empty
        when the book is.

    Raises:
        InvalidInput: the marks span more than one business_date (a book is a snapshot).
    """
    cols = list(_BOOK_COLUMNS)
    empty = pd.DataFrame({c: pd.Series(dtype=float) for c in cols}
                         ).assign(asset_class=pd.Series(dtype=object))
    empty.index = pd.Index([], name="instrument_id", dtype=object)
    if book is None or len(book) == 0:
        return empty
    require(book, ["instrument_id", "quantity", *cols[1:]], "position_marks")
    if "business_date" in book.columns and book["business_date"].nunique() > 1:
        dates = sorted(iso_or_null(d) for d in book["business_date"].unique())
        raise InvalidInput(f"position_marks: book spans several business dates {dates}; pass "
                           "the marks of P only", table="position_marks", field="business_date")
    b = book.loc[:, ["instrument_id", *cols]].copy()
    for c in cols:
        b[c] = pd.to_numeric(b[c], errors="coerce").astype(float).fillna(0.0)
    out = b.groupby("instrument_id", sort=True)[cols].sum()
    if "asset_class" in book.columns:
        out["asset_class"] = book.groupby("instrument_id", sort=True)["asset_class"].first()
    else:
        out["asset_class"] = None
    out["quantity"] = out["quantity"].round(QTY_DECIMALS)
    return out


def unit_risk(instruments: pd.DataFrame, prices: pd.DataFrame, fx_spot: float,
              book: pd.DataFrame | None = None,
              overrides: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Signed sensitivities of ONE unit (+1 contract/bond/USD/share, long in price terms).

    Why closed forms: for a zero-coupon price the duration is implied by the price and the
    rate, so no calendar is needed and the figures match the MTM's to float precision.

    * DI1 / LTN (face F = 100,000 / 1,000; PU = F / (1 + r)^n with n = du/252 years, the B3
      DI1 and Tesouro LTN pricing rule)::

          n = ln(F/PU) / ln(1+r);   dv01 = -n * PU/(1+r) * 1e-4 * contract_size [* USDBRL if USD]

      e.g. r 13.00 %, PU 88,495.58 -> 7.8315 R$/bp.
    * DDI (PU = 100,000 / (1 + i * dc/360), so dPU/di = -PU^2 / 100,000 * dc/360)::

          dv01 = -PU * (1 - PU/100,000) / i * 1e-4 * contract_size * USDBRL

      e.g. i 5 %, dc 180 -> 4.7588 points = US$ 2.38/bp.
    * DOL / WDO / NDF: fx_delta_usd = contract_size * price / USDBRL (DOL at 5,400:
      US$ 50,000). A USD-denominated rate contract (DDI) also carries fx_delta_usd =
      contract_size * PU: its BRL settlement moves with PTAX.
    * IND / WIN / EQUITY: equity_delta_brl = contract_size * price (IND at 128,450:
      R$ 128,450).
    * anything else (NTN-F, NTN-B, a DI1 without a rate): the book-implied sensitivity
      sum(dv01_brl) / sum(quantity) of the marks, if held.

    ``overrides`` {instrument_id: signed R$/bp (dv01) or delta per unit} win over everything:
    :func:`bond_unit_risk` prices the DV01 of coupon bonds that are not yet held.

    Returns:
        A frame indexed by instrument_id. Columns: unit_notional_brl (> 0), dv01_brl,
        fx_delta_usd, equity_delta_brl (NaN where unknown), price, rate, price_date.
    """
    inst = instruments.drop_duplicates("instrument_id").set_index("instrument_id")
    px = prices.set_index("instrument_id")
    idx = px.index.intersection(inst.index).sort_values()
    px, inst = px.loc[idx], inst.loc[idx]
    price = px["price"].astype(float)
    rate = (px["rate"] if "rate" in px.columns else pd.Series(np.nan, index=idx)).astype(float)
    cs = inst["contract_size"].astype(float)
    is_usd = inst["currency"].astype(str).str.upper() == "USD"
    ccy_fx = np.where(is_usd, fx_spot, 1.0)
    itype = inst["instrument_type"].astype(str).str.upper()
    value_brl = cs * price * ccy_fx

    with np.errstate(divide="ignore", invalid="ignore"):
        face = itype.map(_ZERO_FACE).astype(float)
        n = np.log(face / price) / np.log1p(rate)
        dv01_zero = -n * price / (1.0 + rate) * BP * cs * ccy_fx
        dv01_ddi = -price * (1.0 - price / _DDI_FACE) / rate * BP * cs * ccy_fx
    dv01 = pd.Series(np.nan, index=idx, dtype=float)
    zero_ok = face.notna() & (rate > 0) & (price < face) & np.isfinite(dv01_zero)
    dv01[zero_ok] = dv01_zero[zero_ok]
    ddi_ok = (itype == "DDI") & (rate != 0) & np.isfinite(dv01_ddi)
    dv01[ddi_ok] = dv01_ddi[ddi_ok]
    is_fx, is_eq = itype.isin(FX_TYPES), itype.isin(EQUITY_TYPES)
    dv01[is_fx | is_eq] = 0.0
    usd_linked = is_fx | (is_usd & ~is_eq)
    fxd = pd.Series(np.where(usd_linked, value_brl / fx_spot, 0.0), index=idx)
    eqd = pd.Series(np.where(is_eq, value_brl, 0.0), index=idx)

    held = book_by_instrument(book)
    held = held[held["quantity"] != 0].reindex(idx)
    dv01 = dv01.fillna(held["dv01_brl"] / held["quantity"])

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
        "price_date": (px["price_date"].map(iso_or_null) if "price_date" in px.columns
                       else pd.Series(None, index=idx, dtype=object)),
    }, index=idx)


def bond_unit_risk(view: pd.DataFrame, instruments: pd.DataFrame, prices: pd.DataFrame,
                   vna: float | None, as_of: date) -> dict[str, float]:
    """Signed DV01 of one NTN-F / NTN-B (long = negative) for the view's coupon bonds.

    Why: :func:`unit_risk` infers a coupon bond's DV01 from a held position, so a first trade
    in a bond needs it priced: ``pricing.ntnf_dv01`` / ``pricing.ntnb_dv01`` at the bond's
    rate on ``as_of`` (an NTN-B also needs the VNA; without it the bond is left out). One
    pricing call per bond: each has its own cash-flow schedule.

    Returns:
        {instrument_id: signed R$ per bp of one bond}, for :func:`unit_risk`'s ``overrides``.
    """
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


def size_trades(f: pd.DataFrame, pol: ProposalPolicy, nav: float | None = None) -> pd.DataFrame:
    """The trade the policy asks for on each contract of ``f``; contracts with none dropped.

    ``f`` (one row per contract) carries conviction c (NaN: no strategy has a view), the book
    quantity q0, lot, the budget ``target`` and ``budget_brl``, the unit risk u (magnitude),
    the unit notional and the fat-finger cap ``cap_brl``; optionally ``q_base`` (the position
    the rules see: q0 plus what a roll moves in, default q0), ``roll_out`` (a held contract
    near expiry being rolled: close it) and ``near_blocked`` (near expiry, no next contract).

    * target position ``q* = lot * round_half_even(c * target / u / lot)``: the target risk
      is within half a lot of c x target;
    * flat (q_base = 0): OPEN q* if |c| >= entry;
    * held, same side: resize to q* when |q* - q_base| >= max(rebalance_band * |q_base|, lot);
      growing the position needs |c| >= entry, shrinking does not; |c| < exit: CLOSE;
    * held, opposite view: FLIP to q* if |c| >= flip, else CLOSE;
    * no view: keep q_base (a rolled position keeps its risk); ``roll_out``: close;
      ``near_blocked``: only reduce or close (an increase is dropped, a flip becomes a close);
    * caps (:func:`cap_trades`): fat finger, and with ``nav`` the notional and 1-day risk
      caps as a share of NAV; a trade of which not even one lot fits is dropped.

    Returns:
        ``f`` with q_star, q1 (position after), trade, uncapped (the trade before the caps),
        capped, capped_by, fat_finger_capped, notional and risk caps in R$, risk_1d_brl (the
        trade's 1-day risk), why (the rule, a template with ``{a}`` for |c|) and target_risk
        (c x target), only rows with a non-zero trade.
    """
    q0 = f["q0"].to_numpy()
    q_star, q1, why = _target_positions(f, pol)
    uncapped = np.round(q1 - q0, QTY_DECIMALS)
    capped = cap_trades(f, uncapped, pol, nav)
    trade = capped["trade"].to_numpy()
    out = f.assign(q_star=q_star, q1=np.round(q0 + trade, QTY_DECIMALS), uncapped=uncapped,
                   why=why, target_risk=f["conviction"].fillna(0.0).to_numpy() * f["target"],
                   **{c: capped[c].to_numpy() for c in capped.columns})
    return out[trade != 0]


def _target_positions(f: pd.DataFrame, pol: ProposalPolicy,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(q*, the position after, the rule's text) per contract: the hysteresis of
    :func:`size_trades` on ``q_base``, then no-view, roll-out and near-expiry overrides."""
    has_view = f["conviction"].notna().to_numpy()
    c = f["conviction"].fillna(0.0).to_numpy()
    a, s = np.abs(c), np.sign(c)
    q0 = f["q0"].to_numpy()
    qb = f["q_base"].to_numpy() if "q_base" in f.columns else q0
    s0 = np.sign(qb)
    lots = f["lot"].to_numpy()
    q_star = np.round(np.round(c * f["target"].to_numpy() / f["u"].to_numpy() / lots) * lots,
                      QTY_DECIMALS) + 0.0  # no negative zeros in the output
    held_m = s0 != 0
    same = held_m & (s == s0)
    opp = held_m & (s != s0) & (s != 0)
    resize_ok = np.abs(q_star - qb) >= np.maximum(pol.rebalance_band * np.abs(qb), lots)
    growing = np.abs(q_star) > np.abs(qb)
    q1 = np.select(
        [~held_m & (a >= pol.entry), held_m & (a < pol.exit), opp & (a >= pol.flip), opp,
         same & resize_ok & (~growing | (a >= pol.entry))],
        [q_star, 0.0, q_star, 0.0, q_star], default=qb)
    why = np.select(
        [~held_m & (a >= pol.entry), held_m & (a < pol.exit), opp & (a >= pol.flip), opp,
         same & growing],
        [f"|view| {{a:.2f}} >= entry {pol.entry:.2f}",
         f"|view| {{a:.2f}} < exit {pol.exit:.2f}",
         f"opposite view |{{a:.2f}}| >= flip {pol.flip:.2f}",
         f"opposite view |{{a:.2f}}| < flip {pol.flip:.2f}",
         f"|view| {{a:.2f}} >= entry {pol.entry:.2f}, position below target"],
        default="position above target for the view").astype(object)
    q1 = np.where(has_view, q1, qb)
    why = np.where(has_view, why, "no strategy view: the rolled position keeps its risk")
    out_m = f["roll_out"].to_numpy(dtype=bool) if "roll_out" in f.columns \
        else np.zeros(len(f), dtype=bool)
    q1 = np.where(out_m, 0.0, q1)
    why = np.where(out_m, "roll out of a contract near expiry", why)
    blocked = f["near_blocked"].to_numpy(dtype=bool) if "near_blocked" in f.columns \
        else np.zeros(len(f), dtype=bool)
    allowed = (q1 == 0) | ((np.sign(q1) == np.sign(q0)) & (np.abs(q1) <= np.abs(q0)))
    stop = blocked & ~allowed
    q1 = np.where(stop, np.where(np.sign(q1) == np.sign(q0), q0, 0.0), q1)
    why = np.where(stop, "near expiry without a next contract: close instead of flip", why)
    return q_star, q1 + 0.0, why


def cap_trades(f: pd.DataFrame, trade: np.ndarray, pol: ProposalPolicy,
               nav: float | None) -> pd.DataFrame:
    """Each trade cut to whole lots under every cap that applies to it.

    * fat finger: |trade| x unit notional <= the asset class's ``fat_finger_notional_brl``;
    * with ``nav``: |trade| x unit notional <= ``caps.notional_pct_nav`` % of NAV, and the
      trade's 1-day risk |trade| x u x daily_vol (x USDBRL for a US$ budget; per unit
      ``u x budget_brl / target``) <= ``caps.risk_1d_pct_nav`` % of NAV — except for a
      trade that only reduces its position (towards zero, never past it: the book's q0 in
      ``f``): the two NAV caps bound the risk a proposal adds, and cutting a reduction
      would leave the desk holding risk it decided to shed. The fat-finger cap, a guard on
      the size of any one ticket, binds every trade.

    Each cap allows ``floor(cap / (per-unit figure x lot))`` lots; the smallest binds.

    Returns:
        Columns trade (capped), capped, capped_by (the binding cap's name or None),
        fat_finger_capped, max_notional_brl, max_risk_1d_brl (None without ``nav``),
        risk_1d_brl (the capped trade's 1-day risk in R$).
    """
    lots = f["lot"].to_numpy()
    per_lot = f["unit_notional"].to_numpy() * lots
    risk_unit = f["u"].to_numpy() * f["budget_brl"].to_numpy() / f["target"].to_numpy()
    ff = f["cap_brl"].to_numpy()
    limits = {"fat_finger": np.floor(ff / per_lot) * lots}
    max_notional, max_risk = ff, np.full(len(f), np.nan)
    if nav is not None:
        q0 = f["q0"].to_numpy()
        after = q0 + trade
        reducing = (q0 != 0) & (np.abs(after) < np.abs(q0)) & (after * q0 >= 0)
        notional_cap = np.where(reducing, np.inf, pol.caps.notional_pct_nav / 100.0 * nav)
        max_risk = np.where(reducing, np.inf, pol.caps.risk_1d_pct_nav / 100.0 * nav)
        limits["notional_pct_nav"] = np.floor(notional_cap / per_lot) * lots
        limits["risk_1d_pct_nav"] = np.floor(max_risk / (risk_unit * lots)) * lots
        max_notional = np.minimum(ff, notional_cap)
        max_risk = np.where(reducing, np.nan, max_risk)  # no risk cap: reported as None
    names = list(limits)
    table = np.vstack([limits[n] for n in names])
    max_qty = table.min(axis=0)
    capped = np.abs(trade) > max_qty
    cut = np.where(capped, np.sign(trade) * max_qty, trade) + 0.0
    return pd.DataFrame({
        "trade": cut, "capped": capped,
        "capped_by": np.where(capped, np.array(names, dtype=object)[table.argmin(axis=0)], None),
        "fat_finger_capped": np.abs(trade) > limits["fat_finger"],
        "max_notional_brl": max_notional,
        "max_risk_1d_brl": np.where(np.isnan(max_risk), None, max_risk),
        "risk_1d_brl": np.abs(cut) * risk_unit,
    }, index=f.index)
