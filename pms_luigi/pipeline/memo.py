"""The status memo of one build: what Luigi's many completeness checks would ask again."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from pms_luigi.pipeline.targets import StepStatus

#: (family, business date) of one step.
StepKey = tuple[str, date]


@dataclass
class StatusMemo:
    """The statuses a build has seen, so Luigi's many completeness checks cost no query.

    Emptied when a build starts (unless a backfill keeps it between its chunks); entries
    from a date on are dropped when the build writes or invalidates a step of that date.
    Another process's writes are caught by the fresh status check each step makes under
    its lock before running.
    """

    #: each step's own status (its marker alone)
    own: dict[StepKey, StepStatus] = field(default_factory=dict)
    #: each step's transitive status (see :func:`pms_luigi.pipeline.status.deep_statuses`)
    deep: dict[StepKey, StepStatus] = field(default_factory=dict)

    def clear(self) -> None:
        self.own.clear()
        self.deep.clear()

    def forget_negative(self) -> None:
        """Drop missing/stale entries (own or transitive), keep positive ones.

        Called when a step starts: another process (a second worker against luigid, or a
        ``workers > 1`` sibling) may have built an upstream step since scheduling, and a step
        that then finds itself done under its lock must not fail Luigi's
        ``check_complete_on_run`` on a stale "missing". Positive entries stay: only an
        invalidation revokes them, and that clears the memo.
        """
        for key in [k for k, st in self.own.items() if not st.db_valid]:
            del self.own[key]
        for key in [k for k, st in self.deep.items() if not st.db_valid]:
            del self.deep[key]

    def forget_from(self, on: date, family: str | None = None) -> None:
        """Forget what writing ``family`` on ``on`` (or invalidating from ``on``) can change.

        Dropped: the step's own entry, every *valid* own entry from ``on`` on (a consumer of
        the rewritten step is stale now) and every deep entry from ``on`` on. Kept: the
        missing/stale own entries of other steps — a write elsewhere never makes them valid
        (a rerun gets a new run_id) — so a backfill chunk's prefetched statuses of its later
        dates survive each step it runs instead of being queried again one by one.
        """
        for key in [k for k, st in self.own.items()
                    if k[1] >= on and (st.db_valid or k == (family, on))]:
            del self.own[key]
        for key in [k for k in self.deep if k[1] >= on]:
            del self.deep[key]
