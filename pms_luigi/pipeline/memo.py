"""The status memo of one build: what Luigi's many completeness checks would ask again."""
from __future__ import annotations

import bisect
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

    Entries are read from :attr:`own` / :attr:`deep` and recorded with :meth:`put_own` /
    :meth:`put_deep`, which also index them (the keys not valid, the keys of each date): a
    backfill keeps the memo for years of dates, and each step's forgetting then touches the
    entries concerned instead of scanning them all.
    """

    #: each step's own status (its marker alone)
    own: dict[StepKey, StepStatus] = field(default_factory=dict)
    #: each step's transitive status (see :func:`pms_luigi.pipeline.status.deep_statuses`)
    deep: dict[StepKey, StepStatus] = field(default_factory=dict)
    _invalid_own: set[StepKey] = field(default_factory=set, repr=False)
    _invalid_deep: set[StepKey] = field(default_factory=set, repr=False)
    #: date -> keys of either dict on that date; and those dates, sorted
    _by_date: dict[date, set[StepKey]] = field(default_factory=dict, repr=False)
    _dates: list[date] = field(default_factory=list, repr=False)

    def clear(self) -> None:
        for index in (self.own, self.deep, self._invalid_own, self._invalid_deep,
                      self._by_date, self._dates):
            index.clear()

    def put_own(self, key: StepKey, status: StepStatus) -> None:
        """Record a step's own status."""
        self._put(self.own, self._invalid_own, key, status)

    def put_deep(self, key: StepKey, status: StepStatus) -> None:
        """Record a step's transitive status."""
        self._put(self.deep, self._invalid_deep, key, status)

    def _put(self, entries: dict[StepKey, StepStatus], invalid: set[StepKey], key: StepKey,
             status: StepStatus) -> None:
        entries[key] = status
        if status.db_valid:
            invalid.discard(key)
        else:
            invalid.add(key)
        on = key[1]
        if on not in self._by_date:
            self._by_date[on] = set()
            bisect.insort(self._dates, on)
        self._by_date[on].add(key)

    def forget_negative(self) -> None:
        """Drop missing/stale entries (own or transitive), keep positive ones.

        Called when a step starts: another process (a second worker against luigid, or a
        ``workers > 1`` sibling) may have built an upstream step since scheduling, and a step
        that then finds itself done under its lock must not fail Luigi's
        ``check_complete_on_run`` on a stale "missing". Positive entries stay: only an
        invalidation revokes them, and that clears the memo.
        """
        for entries, invalid in ((self.own, self._invalid_own), (self.deep, self._invalid_deep)):
            for key in invalid:
                entries.pop(key, None)
            invalid.clear()

    def forget_from(self, on: date, family: str | None = None) -> None:
        """Forget what writing ``family`` on ``on`` (or invalidating from ``on``) can change.

        Dropped: the step's own entry, every *valid* own entry from ``on`` on (a consumer of
        the rewritten step is stale now) and every deep entry from ``on`` on. Kept: the
        missing/stale own entries of other steps — a write elsewhere never makes them valid
        (a rerun gets a new run_id) — so a backfill chunk's prefetched statuses of its later
        dates survive each step it runs instead of being queried again one by one.
        """
        for day in self._dates[bisect.bisect_left(self._dates, on):]:
            for key in self._by_date[day]:
                own = self.own.get(key)
                if own is not None and (own.db_valid or key == (family, on)):
                    del self.own[key]
                    self._invalid_own.discard(key)
                if self.deep.pop(key, None) is not None:
                    self._invalid_deep.discard(key)
