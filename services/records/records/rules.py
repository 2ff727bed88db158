"""Which status changes a record movement may make.

PCSE's own path is Requested -> In progress -> Ready for collection -> Collected -> Delivered,
with the courier's scans at collection and delivery. Off that path: a movement can be
cancelled until the record is collected; a patient with no paper record goes by GP2GP alone,
unless GP2GP fails and the sender must print and post after all; a record nobody can find is
missing after five working days' search and lost after six months, and a missing or lost
record can still turn up, or be found in central storage. A record in central storage is
released from there when it should not have gone (erroneous archiving). Delivered and
cancelled are final: a wrong delivery is an incident, not a status.
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
    S.REQUESTED: frozenset(
        {S.IN_PROGRESS, S.READY_FOR_COLLECTION, S.CANCELLED, S.NO_PAPER_RECORD, S.MISSING}
    ),
    S.IN_PROGRESS: frozenset(
        {S.READY_FOR_COLLECTION, S.COLLECTED, S.CANCELLED, S.NO_PAPER_RECORD, S.MISSING}
    ),
    S.READY_FOR_COLLECTION: frozenset({S.COLLECTED, S.CANCELLED, S.MISSING}),
    # In transit: delivered, lost on the way, or taken to storage instead of on.
    S.COLLECTED: frozenset({S.DELIVERED, S.MISSING, S.IN_CENTRAL_STORAGE}),
    S.DELIVERED: frozenset(),
    S.CANCELLED: frozenset(),
    # GP2GP failed (not integrated in eight days): the sender prints and posts.
    S.NO_PAPER_RECORD: frozenset({S.IN_PROGRESS}),
    S.MISSING: frozenset({S.READY_FOR_COLLECTION, S.LOST, S.IN_CENTRAL_STORAGE}),
    S.LOST: frozenset({S.READY_FOR_COLLECTION, S.IN_CENTRAL_STORAGE}),
    S.IN_CENTRAL_STORAGE: frozenset({S.READY_FOR_COLLECTION}),
}
IN_TRANSIT: Final = frozenset({S.COLLECTED})
CANCELLABLE: Final = frozenset(s for s, targets in ALLOWED.items() if S.CANCELLED in targets)


def allowed(current: MovementStatus, target: MovementStatus) -> bool:
    return target in ALLOWED[current]


def require(current: MovementStatus, target: MovementStatus) -> None:
    """Refuse a change the table does not allow: BAD_USER_INPUT naming ``status``."""
    if not allowed(current, target):
        raise BadUserInput(
            f"A movement that is {current.value} cannot become {target.value}.", field="status"
        )
