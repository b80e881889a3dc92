"""Luigi parameters of the steps."""
from __future__ import annotations

from datetime import date
from typing import Any

import luigi

from pms_luigi.core import calendar
from pms_luigi.core.errors import NotBusinessDay


class BusinessDateParameter(luigi.DateParameter):
    """A date that must be an ANBIMA business day; anything else is refused by name."""

    def normalize(self, x: Any) -> Any:
        value = super().normalize(x)
        if isinstance(value, date) and not calendar.is_business_day(value):
            raise NotBusinessDay(value, calendar.holiday_name(value) or "not a business day")
        return value
