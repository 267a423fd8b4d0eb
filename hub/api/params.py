"""Dates and times in requests are ISO 8601 text, as the OpenAPI schema says (``format: date``,
``date-time``). Pydantic would also read a number (``7e-55``, ``0.01``) as a Unix time and answer
for 1970; these refuse it instead (422 naming the field)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import BeforeValidator

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date_text(value: object) -> object:
    if value is not None and not (isinstance(value, str) and _DATE.fullmatch(value)):
        raise ValueError("a date is YYYY-MM-DD")
    return value


def _date_time_text(value: object) -> object:
    if value is not None and not (isinstance(value, str) and _DATE.match(value)):
        raise ValueError("a date-time is ISO 8601 text, YYYY-MM-DD first")
    return value


IsoDate = Annotated[date, BeforeValidator(_date_text)]
IsoDateTime = Annotated[datetime, BeforeValidator(_date_time_text)]
