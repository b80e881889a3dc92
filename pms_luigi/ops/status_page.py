"""The status page: a grid's cells with their range's details, as a view model and as HTML.

The composition of three independent pieces — :func:`details` (the bulk reads of
``store.status_details``: one SELECT per table over the range, never one per cell), the
pure view model (``report.status_page.build_page``) and its template — so that ``pms-luigi
status --html`` and the desk console show the same thing from the same functions.
"""
from __future__ import annotations

from datetime import datetime

from pms_luigi.core import calendar
from pms_luigi.pipeline import context
from pms_luigi.report import status_page as view
from pms_luigi.store import status_details
from pms_luigi.store.engine import mask_url

#: Most data-quality rows listed on a page (newest first); every date's count is shown.
DQ_LIMIT = 500


def store_label(settings: context.Settings) -> str:
    """Which stores the page describes, passwords masked: database, cache, namespace."""
    return (f"{mask_url(settings.database_url)} · cache {mask_url(settings.redis_url)} · "
            f"namespace {settings.namespace}")


def details(grid: view.GridLike,
            detail_dates: int = view.DETAIL_DATES) -> status_details.RangeDetails:
    """The markers, runs and data-quality issues behind ``grid``'s cells (bulk reads), the
    metadata of the cells the page shows in full."""
    dates = list(grid.dates)
    if not dates:
        return status_details.RangeDetails({}, {}, {}, [], {})
    detail_from, older = view.full_detail(grid, detail_dates)
    with context.current().stores.engine.connect() as conn:
        return status_details.range_details(conn, grid.families, dates[0], dates[-1],
                                            metadata_from=detail_from, metadata_of=older,
                                            dq_limit=DQ_LIMIT)


def page(grid: view.GridLike, now: datetime | None = None,
         detail_dates: int = view.DETAIL_DATES) -> view.StatusPage:
    """The view model of ``grid``, generated ``now`` (default: the clock, in BRT)."""
    return view.build_page(grid, details(grid, detail_dates),
                           generated_at=now or datetime.now(calendar.TIMEZONE),
                           store=store_label(context.current().settings),
                           # why cells are not done, when the grid says (an optional field)
                           reasons=getattr(grid, "reasons", None), detail_dates=detail_dates)


def render(grid: view.GridLike, now: datetime | None = None) -> str:
    """``pms-luigi status --html``: the page of ``grid`` as one self-contained HTML file."""
    return view.render_page(page(grid, now))
