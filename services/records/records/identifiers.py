"""Identifiers the records service takes from clients, validated at the edge."""

from __future__ import annotations

import re

from nhs_number.validate import is_valid
from pcse_kit.errors import BadUserInput
from pcse_kit.identifiers import is_site_code, practice_code

_NHS_NUMBER = re.compile(r"([0-9]{3}) ?([0-9]{3}) ?([0-9]{4})")
_MOVEMENT_NUMBER = re.compile(r"[A-Z0-9]{4,20}")
SITE_CODE_LENGTH = 9


def nhs_number(value: str, *, field: str = "nhsNumber") -> str:
    """Ten digits (spaces as shown, 3-3-4, allowed) whose tenth is the modulus-11 check digit.

    The message never repeats the number: it may be a real patient's.
    """
    match = _NHS_NUMBER.fullmatch(value.strip())
    digits = "".join(match.groups()) if match else ""
    if not digits or not is_valid(digits):
        raise BadUserInput(
            f"`{field}` must be an NHS number: ten digits, the last a valid modulus-11 check "
            "digit.",
            field=field,
        )
    return digits


def movement_number(value: str, *, field: str = "movementNumber") -> str:
    if not _MOVEMENT_NUMBER.fullmatch(value):
        raise BadUserInput(
            f"`{field}` must be a movement number: 4-20 capital letters and digits.", field=field
        )
    return value


def site_code(value: str, *, field: str) -> str:
    """A branch site's nine-character code (``A81001001``), not the practice's own six."""
    if not (is_site_code(value) and len(value) == SITE_CODE_LENGTH):
        raise BadUserInput(
            f"`{field}` must be a branch site code: a practice code and three digits.",
            field=field,
        )
    return value


def ods_code(value: str, *, field: str) -> str:
    return practice_code(value, field=field)
