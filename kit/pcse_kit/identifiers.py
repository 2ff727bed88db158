"""Validation of the NHS-wide identifiers every service keys on (NHS Data Dictionary formats)."""

from __future__ import annotations

import re

from pcse_kit.errors import BadUserInput

_ODS_PRACTICE = re.compile(r"[A-Z][0-9]{5}")
_ODS_SITE = re.compile(r"[A-Z][0-9]{5}(?:[0-9]{3})?")
_GMC = re.compile(r"[0-9]{7}")


# The checks take ``object``: federation representations arrive as arbitrary JSON, so a key
# can be a number or a list as easily as a string.


def is_practice_code(value: object) -> bool:
    """A practice's ODS code: one letter and five digits (``A81001``)."""
    return isinstance(value, str) and _ODS_PRACTICE.fullmatch(value) is not None


def is_site_code(value: object) -> bool:
    """A practice or branch-site code: a practice code, optionally with three more digits."""
    return isinstance(value, str) and _ODS_SITE.fullmatch(value) is not None


def is_gmc_number(value: object) -> bool:
    """Seven digits, kept as text because it can start with 0."""
    return isinstance(value, str) and _GMC.fullmatch(value) is not None


def practice_code(value: object, *, field: str = "odsCode") -> str:
    """``value`` if it is a practice ODS code, else a BAD_USER_INPUT naming ``field``."""
    if not is_practice_code(value):
        raise BadUserInput(
            f"`{field}` must be an ODS practice code: one capital letter and five digits.",
            field=field,
        )
    return str(value)


def gmc_number(value: object, *, field: str = "gmcNumber") -> str:
    if not is_gmc_number(value):
        raise BadUserInput(f"`{field}` must be a GMC number: seven digits.", field=field)
    return str(value)


_LMC = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
LMC_CODE_MAX_LENGTH = 64


def is_lmc_code(value: object) -> bool:
    """LMCs have no national code; ours is a stable lower-case slug (``kernow``)."""
    return (
        isinstance(value, str)
        and len(value) <= LMC_CODE_MAX_LENGTH
        and _LMC.fullmatch(value) is not None
    )


def lmc_code(value: object, *, field: str = "code") -> str:
    if not is_lmc_code(value):
        raise BadUserInput(
            f"`{field}` must be an LMC code: lower-case letters and digits joined by hyphens.",
            field=field,
        )
    return str(value)
