""" "Can this GP start at this practice on this day?": one answer, with every reason for it.

The tests are the regulations' own, in order: the list status (SI 2013/335; suspension under
reg 12 bars work), the GMC GP Register for a GP who is not a registrar (reg 26(2)(b)), the
registrar's first three months, the exemption for doctors of a designated body (SI 2024/575,
from 27 May 2024), conditions imposed (reg 10), and the open requests with their age. Facts
are as held today; ``on`` decides the windows and exemptions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from performers import rules
from performers.models import ListStatus

if TYPE_CHECKING:
    from datetime import date

    from performers.models import ChangeRequest, Performer


class Effect(enum.StrEnum):
    ALLOWS = "allows"
    BLOCKS = "blocks"
    NOTE = "note"


class ReasonCode(enum.StrEnum):
    NOT_ON_LIST = "not_on_list"
    INCLUDED = "included"
    CONDITIONS = "conditions"
    SUSPENDED = "suspended"
    NOT_INCLUDED = "not_included"
    REGISTRAR_WINDOW = "registrar_window"
    REGISTRAR_WINDOW_ENDED = "registrar_window_ended"
    DESIGNATED_BODY_EXEMPTION = "designated_body_exemption"
    ON_GP_REGISTER = "on_gp_register"
    NOT_ON_GP_REGISTER = "not_on_gp_register"
    NOT_VISIBLE_ON_PUBLIC_LIST = "not_visible_on_public_list"
    OPEN_REQUEST = "open_request"


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    effect: Effect
    detail: str


@dataclass(frozen=True)
class Answer:
    can_start: bool
    reasons: list[Reason] = field(default_factory=list)


def answer(
    performer: Performer | None, requests: list[ChangeRequest], *, on: date, today: date
) -> Answer:
    if performer is None:
        return Answer(
            False,
            [
                Reason(
                    ReasonCode.NOT_ON_LIST,
                    Effect.BLOCKS,
                    "No performer on the list has this GMC number: the GP applies for "
                    "inclusion (NPL1) first.",
                )
            ],
        )
    reasons = _status_reasons(performer, on)
    registrar = performer.under_training_supervision
    status = performer.status
    listed = status in rules.ON_LIST
    exempt = rules.exempt_by_designated_body(performer.designated_body, on) and not listed
    if not registrar and not exempt and status is not ListStatus.SUSPENDED:
        entered = performer.gp_register_on
        if entered is not None and entered <= on:
            reasons.append(
                Reason(
                    ReasonCode.ON_GP_REGISTER,
                    Effect.ALLOWS,
                    f"On the GMC GP Register since {entered.isoformat()}.",
                )
            )
        else:
            reasons.append(
                Reason(
                    ReasonCode.NOT_ON_GP_REGISTER,
                    Effect.BLOCKS,
                    "No GMC GP Register entry recorded by that day: a GP who is not a "
                    "registrar must be on it (reg 26(2)(b)). A CCT is not needed.",
                )
            )
    if listed and performer.public_list_visible is False:
        checked = performer.public_list_checked_on
        reasons.append(
            Reason(
                ReasonCode.NOT_VISIBLE_ON_PUBLIC_LIST,
                Effect.NOTE,
                "Included, but the published list did not show the GP"
                + ("" if checked is None else f" on {checked.isoformat()}")
                + ": the inclusion is valid; ask PCSE to correct the published list.",
            )
        )
    for request in requests:
        due = rules.decision_due_by(request.kind, request.complete_on)
        reasons.append(
            Reason(
                ReasonCode.OPEN_REQUEST,
                Effect.NOTE,
                f"{request.kind.value} request {request.reference}: complete on "
                f"{request.complete_on.isoformat()}, {(today - request.complete_on).days} "
                f"days open, decision due by {due.isoformat()}.",
            )
        )
    blocked = any(reason.effect is Effect.BLOCKS for reason in reasons)
    return Answer(not blocked, reasons)


def _status_reasons(performer: Performer, on: date) -> list[Reason]:
    """The list status, or what lets a GP work without inclusion."""
    reasons: list[Reason] = []
    registrar = performer.under_training_supervision
    status = performer.status
    listed = status in rules.ON_LIST
    if status is ListStatus.SUSPENDED:
        review = performer.suspension_review_on
        reasons.append(
            Reason(
                ReasonCode.SUSPENDED,
                Effect.BLOCKS,
                "Suspended from the list (reg 12)"
                + ("." if review is None else f"; next review {review.isoformat()}."),
            )
        )
    elif listed:
        reasons.append(Reason(ReasonCode.INCLUDED, Effect.ALLOWS, f"On the list: {status.value}."))
        if status is ListStatus.INCLUDED_WITH_CONDITIONS:
            reasons.append(
                Reason(
                    ReasonCode.CONDITIONS,
                    Effect.NOTE,
                    "Conditions imposed (reg 10): the practice must be able to meet them. "
                    + (performer.conditions or ""),
                )
            )
    elif rules.in_registrar_window(
        registrar=registrar, training_start=performer.training_programme_start, on=on
    ):
        assert performer.training_programme_start is not None
        ends = rules.registrar_window_ends(performer.training_programme_start)
        reasons.append(
            Reason(
                ReasonCode.REGISTRAR_WINDOW,
                Effect.ALLOWS,
                f"A registrar in the first three months of the GP programme (from "
                f"{performer.training_programme_start.isoformat()}): may work until "
                f"{ends.isoformat()} without inclusion.",
            )
        )
    elif rules.exempt_by_designated_body(performer.designated_body, on):
        reasons.append(
            Reason(
                ReasonCode.DESIGNATED_BODY_EXEMPTION,
                Effect.ALLOWS,
                f"Employed by a designated body ({performer.designated_body}): exempt from "
                "inclusion since 27 May 2024 (SI 2024/575).",
            )
        )
    else:
        if registrar and performer.training_programme_start is not None:
            ends = rules.registrar_window_ends(performer.training_programme_start)
            reasons.append(
                Reason(
                    ReasonCode.REGISTRAR_WINDOW_ENDED,
                    Effect.BLOCKS,
                    f"The registrar's three months ended on {ends.isoformat()}.",
                )
            )
        reasons.append(
            Reason(ReasonCode.NOT_INCLUDED, Effect.BLOCKS, f"Not on the list: {status.value}.")
        )

    return reasons
