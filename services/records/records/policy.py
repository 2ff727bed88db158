"""Who may see what in the records service.

A practice sees the movements in and out of its own practices; operators of this domain and
admins see every movement. A patient's NHS number is shown only to the practices at either
end of that movement, never to an LMC, an accountant, an operator or an admin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pcse_kit.auth import Forbidden

if TYPE_CHECKING:
    from pcse_kit.auth import Principal

    from records.models import Movement

DOMAIN = "records"


def read_practice(principal: Principal, ods_code: str) -> None:
    """Refuse, without saying whether the practice exists, unless the caller may read it."""
    if not (principal.operates(DOMAIN) or principal.is_practice_of(ods_code)):
        raise Forbidden


def sees_nhs_number(principal: Principal, movement: Movement) -> bool:
    return any(
        code is not None and principal.is_practice_of(code)
        for code in (movement.sender_ods_code, movement.receiver_ods_code)
    )
