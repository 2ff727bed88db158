"""Validation of the NHS-wide identifiers every service keys on (NHS Data Dictionary formats),
and of free text, which must not carry a patient's NHS number."""

from __future__ import annotations

import re

from nhs_number.validate import is_valid

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


# An NHS number as people write it: ten digits, or 3-3-4 with spaces or hyphens, not part of a
# longer run of digits. Whether it is one is the modulus-11 check's to say.
_NHS_NUMBER_CANDIDATE = re.compile(r"(?<![0-9])([0-9]{3})[ -]?([0-9]{3})[ -]?([0-9]{4})(?![0-9])")


NHS_NUMBER_LENGTH = 10


def is_nhs_number(digits: str) -> bool:
    """Ten digits whose tenth is the modulus-11 check digit (NHS Data Dictionary)."""
    return len(digits) == NHS_NUMBER_LENGTH and digits.isdigit() and bool(is_valid(digits))


def nhs_numbers_in(text: str) -> list[tuple[int, int]]:
    """Where ``text`` holds something that passes the NHS number check: (start, end) spans."""
    return [
        match.span()
        for match in _NHS_NUMBER_CANDIDATE.finditer(text)
        if is_nhs_number("".join(match.groups()))
    ]


def mask_nhs_numbers(text: str, mask: str = "[NHS number]") -> str:
    """``text`` with everything that passes the NHS number check replaced by ``mask``."""
    spans = nhs_numbers_in(text)
    if not spans:
        return text
    parts, last = [], 0
    for start, end in spans:
        parts += [text[last:start], mask]
        last = end
    parts.append(text[last:])
    return "".join(parts)


def free_text(value: str, *, field: str, limit: int) -> str:
    """A free-text field, stripped: 1 to ``limit`` characters and no NHS number in it.

    Free text (a reason, a note, a reviewer's name) is shown to operators and admins and kept
    in the audit trail, where a patient's identifier has no place; the patient is named by the
    record's own reference instead. The message never repeats the value.
    """
    text = value.strip()
    if not text or len(text) > limit:
        raise BadUserInput(f"`{field}` must be 1-{limit} characters.", field=field)
    if nhs_numbers_in(text):
        raise BadUserInput(
            f"`{field}` must not contain an NHS number: free text is seen by people who may not "
            "see patients' identifiers. Leave the number out; the record's own reference is "
            "enough to find the patient.",
            field=field,
        )
    return text
