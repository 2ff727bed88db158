"""Which status changes a record movement may make.

PCSE's own path is Requested -> In progress -> Ready for collection -> Collected -> Delivered,
with the courier's scans at collection and delivery. Off that path: a movement can be
cancelled until the record is collected; a patient with no paper record goes by GP2GP alone,
unless GP2GP fails and the sender must print and post after all; a record nobody can find is
missing after five working days' search and lost after six months, and a missing or lost
record can still turn up, or be found in central storage. A record in central storage is
released from there when it should not have gone (erroneous archiving). The receiving practice
ends a movement by confirming it holds the record (PCSE's "In storage at GP practice"); another
patient's record delivered instead keeps the movement open until the right one comes. Cancelled
and in storage at the practice are final.
"""

from __future__ import annotations

from typing import Final

from pcse_kit.errors import BadUserInput

from records.models import MovementStatus

S = MovementStatus
INITIAL: Final = frozenset(
    {S.REQUESTED, S.IN_PROGRESS, S.NO_PAPER_RECORD, S.IN_CENTRAL_STORAGE}
)  # fmt: skip
ALLOWED: Final[dict[MovementStatus, frozenset[MovementStatus]]] = {
    # The receiving practice may already hold the record ("In storage at GP practice").
    S.REQUESTED: frozenset(
        {S.IN_PROGRESS, S.READY_FOR_COLLECTION, S.CANCELLED, S.NO_PAPER_RECORD, S.MISSING,
         S.IN_STORAGE_AT_PRACTICE}
    ),
    S.IN_PROGRESS: frozenset(
        {S.READY_FOR_COLLECTION, S.COLLECTED, S.CANCELLED, S.NO_PAPER_RECORD, S.MISSING,
         S.IN_STORAGE_AT_PRACTICE}
    ),
    S.READY_FOR_COLLECTION: frozenset({S.COLLECTED, S.CANCELLED, S.MISSING}),
    # In transit: delivered, received, another patient's record delivered instead, lost on
    # the way, or taken to storage instead of on.
    S.COLLECTED: frozenset(
        {S.DELIVERED, S.IN_STORAGE_AT_PRACTICE, S.WRONG_RECORD_DELIVERED, S.MISSING,
         S.IN_CENTRAL_STORAGE}
    ),
    # The courier's delivery; the receiving practice then finds whose record it is.
    S.DELIVERED: frozenset({S.IN_STORAGE_AT_PRACTICE, S.WRONG_RECORD_DELIVERED}),
    S.CANCELLED: frozenset(),
    # GP2GP failed (not integrated by day eight): the sender prints and posts. Or the
    # receiver confirms it has the record through GP2GP.
    S.NO_PAPER_RECORD: frozenset({S.IN_PROGRESS, S.IN_STORAGE_AT_PRACTICE}),
    S.MISSING: frozenset(
        {S.READY_FOR_COLLECTION, S.LOST, S.IN_CENTRAL_STORAGE, S.IN_STORAGE_AT_PRACTICE}
    ),
    S.LOST: frozenset({S.READY_FOR_COLLECTION, S.IN_CENTRAL_STORAGE, S.IN_STORAGE_AT_PRACTICE}),
    S.IN_CENTRAL_STORAGE: frozenset({S.READY_FOR_COLLECTION}),
    S.IN_STORAGE_AT_PRACTICE: frozenset(),
    # The right record is still owed: released again, collected again, searched for, found.
    S.WRONG_RECORD_DELIVERED: frozenset(
        {S.READY_FOR_COLLECTION, S.COLLECTED, S.MISSING, S.IN_STORAGE_AT_PRACTICE,
         S.IN_CENTRAL_STORAGE}
    ),
}  # fmt: skip
IN_TRANSIT: Final = frozenset({S.COLLECTED})
CANCELLABLE: Final = frozenset(s for s, targets in ALLOWED.items() if S.CANCELLED in targets)
FROM_SCANS: Final = frozenset({S.COLLECTED, S.DELIVERED})
"""Set by the courier's scans, never keyed in."""
FROM_RECEIPT: Final = frozenset({S.WRONG_RECORD_DELIVERED})
"""Set only when the receiving practice says whose record arrived."""
RECEIVABLE: Final = frozenset(
    s for s, targets in ALLOWED.items() if S.IN_STORAGE_AT_PRACTICE in targets
) - {S.NO_PAPER_RECORD}
"""Where the receiving practice may confirm that it holds the paper record (a GP2GP-only
transfer is integrated, not received)."""


def allowed(current: MovementStatus, target: MovementStatus) -> bool:
    return target in ALLOWED[current]


def require(current: MovementStatus, target: MovementStatus) -> None:
    """Refuse a change the table does not allow: BAD_USER_INPUT naming ``status``."""
    if not allowed(current, target):
        raise BadUserInput(
            f"A movement that is {current.value} cannot become {target.value}.", field="status"
        )
