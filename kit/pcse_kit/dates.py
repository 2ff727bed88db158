"""What "today" is, for every service: the date in England, where practices are paid and
records move. At 23:30 UTC in summer it is already tomorrow there, so the UTC date would let a
due date pass an hour late, or refuse a change made today as dated in the future."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Final
from zoneinfo import ZoneInfo

from pcse_kit.errors import BadUserInput

ENGLAND: Final = ZoneInfo("Europe/London")


def local_date(instant: datetime) -> date:
    """The date in England at ``instant``."""
    return instant.astimezone(ENGLAND).date()


def today(now: datetime | None = None) -> date:
    return local_date(now or datetime.now(UTC))


def not_future(value: date, *, today: date, field: str) -> None:
    """A BAD_USER_INPUT naming ``field`` if ``value`` is after ``today``."""
    if value > today:
        raise BadUserInput(f"`{field}` cannot be in the future.", field=field)
