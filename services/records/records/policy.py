"""Who may see and do what in the records service.

A practice sees the movements in and out of its own practices, their incidents, its own
registrations and its own harm-review worklist; operators of this domain and admins see every
movement. A patient's NHS number is shown only to the practices at either end of that movement,
never to an LMC, an accountant, an operator or an admin; a wrong record's patient only to the
practice that received it. An LMC sees its area's summary, which holds counts and practice
codes only. Accountants see nothing here.

Writes: a practice may request a movement to or from itself, mark one it sends ready, cancel one
of its own, confirm receipt of one coming to it, report an incident on one of its own, raise and
resolve the incidents it bears, record its registrations, and record its own harm reviews.
Courier scans, the daily feed and PCSE's own progress (labels, searches, statuses) are for
operators of this domain. Only the receiving practice may compare an NHS number with a
movement's (a receipt, a wrong record): it sees that number anyway, so no answer can confirm a
guess. A refusal never says whether the movement exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pcse_kit.auth import Forbidden

if TYPE_CHECKING:
    from pcse_kit.auth import Principal

    from records.models import HarmReview, Incident, Movement

DOMAIN = "records"


def read_practice(principal: Principal, ods_code: str) -> None:
    """Refuse, without saying whether the practice exists, unless the caller may read it."""
    if not (principal.operates(DOMAIN) or principal.is_practice_of(ods_code)):
        raise Forbidden


def is_end(principal: Principal, movement: Movement) -> bool:
    """Whether the caller is a practice at either end of ``movement``."""
    return any(
        code is not None and principal.is_practice_of(code)
        for code in (movement.sender_ods_code, movement.receiver_ods_code)
    )


def sees_nhs_number(principal: Principal, movement: Movement) -> bool:
    """Both ends; for a wrong record going back, only the practice holding it."""
    if movement.nhs_number_to_sender_only:
        code = movement.sender_ods_code
        return code is not None and principal.is_practice_of(code)
    return is_end(principal, movement)


def sees_found_nhs_number(principal: Principal, movement: Movement | None) -> bool:
    """The patient whose record arrived instead: the receiving practice alone."""
    code = None if movement is None else movement.receiver_ods_code
    return code is not None and principal.is_practice_of(code)


def read_movement(principal: Principal, movement: Movement | None) -> Movement | None:
    """The movement if the caller may see it; None only for those who may know it is absent."""
    if principal.operates(DOMAIN):
        return movement
    if movement is None or not is_end(principal, movement):
        raise Forbidden
    return movement


def operator(principal: Principal) -> None:
    if not principal.operates(DOMAIN):
        raise Forbidden


def request_movement(principal: Principal, ends: tuple[str | None, str | None]) -> None:
    if not (
        principal.operates(DOMAIN)
        or any(code is not None and principal.is_practice_of(code) for code in ends)
    ):
        raise Forbidden


def act_on(principal: Principal, movement: Movement | None) -> Movement:
    """A movement the caller may cancel or report on: its own, or any for an operator.

    A practice hears FORBIDDEN alike whether the movement does not exist or is someone else's.
    """
    if movement is None or not (principal.operates(DOMAIN) or is_end(principal, movement)):
        raise Forbidden
    return movement


def mark_ready(principal: Principal, movement: Movement | None) -> Movement:
    """The sending practice, which bagged the record (or an operator keying it in for it)."""
    sender = None if movement is None else movement.sender_ods_code
    if movement is None or not (
        principal.operates(DOMAIN) or (sender is not None and principal.is_practice_of(sender))
    ):
        raise Forbidden
    return movement


def confirm_receipt(principal: Principal, movement: Movement | None) -> Movement:
    """Only the receiving practice holds the envelope, and only it may say whose record is in
    it. Operators and admins never see NHS numbers, so they may not compare one with the
    movement's: each answer would tell them whether a guess was right."""
    receiver = None if movement is None else movement.receiver_ods_code
    if movement is None or receiver is None or not principal.is_practice_of(receiver):
        raise Forbidden
    if movement.nhs_number_to_sender_only:
        # A wrong record going back: its receiver does not see whose it is, so may not test a
        # number against it either. PCSE closes it (updateRecordMovement).
        raise Forbidden
    return movement


def act_on_incident(principal: Principal, incident: Incident | None) -> Incident:
    """Raising and resolving: the practice that bears the incident, or an operator."""
    bearer = None if incident is None else incident.ods_code
    if incident is None or not (
        principal.operates(DOMAIN) or (bearer is not None and principal.is_practice_of(bearer))
    ):
        raise Forbidden
    return incident


def for_practice(principal: Principal, ods_code: str) -> None:
    """A practice's own registrations and harm-review lists: the practice, or an operator."""
    if not (principal.operates(DOMAIN) or principal.is_practice_of(ods_code)):
        raise Forbidden


load_harm_review_list = for_practice
record_registrations = for_practice


def review_harm(principal: Principal, review: HarmReview | None) -> HarmReview:
    """The practice on whose worklist the patient is; operators may key it in for them."""
    if review is None or not (
        principal.operates(DOMAIN) or principal.is_practice_of(review.ods_code)
    ):
        raise Forbidden
    return review


def lmc_summary(principal: Principal, code: str) -> None:
    """An LMC's aggregates are for the LMC itself, this domain's operators and admins."""
    if not (principal.operates(DOMAIN) or principal.is_lmc_of(code)):
        raise Forbidden
