"""Every service's "today" is England's date."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pcse_kit.dates import local_date, not_future, today
from pcse_kit.errors import BadUserInput


def test_the_date_is_englands_not_utcs() -> None:
    assert local_date(datetime(2026, 7, 1, 23, 30, tzinfo=UTC)) == date(2026, 7, 2)  # BST
    assert local_date(datetime(2026, 1, 1, 23, 30, tzinfo=UTC)) == date(2026, 1, 1)  # GMT
    assert today(datetime(2026, 7, 1, 23, 30, tzinfo=UTC)) == date(2026, 7, 2)


def test_a_date_after_today_is_a_typed_error_naming_the_field() -> None:
    not_future(date(2026, 7, 2), today=date(2026, 7, 2), field="effectiveDate")
    with pytest.raises(BadUserInput) as refused:
        not_future(date(2026, 7, 3), today=date(2026, 7, 2), field="effectiveDate")
    assert refused.value.extensions == {"code": "BAD_USER_INPUT", "field": "effectiveDate"}
