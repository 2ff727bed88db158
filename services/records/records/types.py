"""GraphQL types of the records subgraph: paper records moving in and out of a practice."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import strawberry
from pcse_kit.auth import Principal
from pcse_kit.identifiers import practice_code
from pcse_kit.pagination import Connection, PageRequest, build_connection
from strawberry.types import Info

from records import models, policy, repository
from records.context import MovementQuery, RecordsContext

strawberry.enum(
    models.MovementStatus,
    description="Where a record movement stands: PCSE's statuses plus missing, lost, storage.",
)
strawberry.enum(models.MovementReason, description="Why the record moves.")
strawberry.enum(models.Urgency, description="Routine or urgent.")

SECONDS_PER_DAY = 86_400


@strawberry.enum(description="Whether a record is coming to the practice or leaving it.")
class Direction(enum.Enum):
    IN = repository.IN
    OUT = repository.OUT


@strawberry.type(description="A patient's paper record moving between two places.")
class RecordMovement:
    movement_number: str = strawberry.field(description="PCSE movement number.")
    nhs_number: str | None = strawberry.field(
        description="The patient's NHS number; shown only to the sending and receiving "
        "practices, null for everyone else."
    )
    direction: Direction = strawberry.field(description="In to or out of the practice asking.")
    sending_ods_code: str | None = strawberry.field(
        description="Sending practice; null for central storage or another UK nation."
    )
    receiving_ods_code: str | None = strawberry.field(
        description="Receiving practice; null for central storage or another UK nation."
    )
    reason: models.MovementReason = strawberry.field(description="Why the record moves.")
    urgency: models.Urgency = strawberry.field(description="Routine or urgent.")
    status: models.MovementStatus = strawberry.field(description="Current status.")
    requested_at: datetime = strawberry.field(description="When the movement was requested.")
    status_changed_at: datetime = strawberry.field(description="When the status last changed.")
    now: strawberry.Private[datetime]

    @classmethod
    def from_row(
        cls, direction: str, row: models.Movement, *, now: datetime, principal: Principal
    ) -> RecordMovement:
        return cls(
            movement_number=row.movement_number,
            nhs_number=row.nhs_number if policy.sees_nhs_number(principal, row) else None,
            direction=Direction(direction),
            sending_ods_code=row.sender_ods_code,
            receiving_ods_code=row.receiver_ods_code,
            reason=row.reason,
            urgency=row.urgency,
            status=row.status,
            requested_at=row.requested_at,
            status_changed_at=row.status_changed_at,
            now=now,
        )

    @strawberry.field(description="Whole days since the movement was requested.")
    def age_days(self) -> int:
        return int((self.now - self.requested_at).total_seconds() // SECONDS_PER_DAY)

    @strawberry.field(description="Whole days in the current status.")
    def days_in_status(self) -> int:
        return int((self.now - self.status_changed_at).total_seconds() // SECONDS_PER_DAY)


@strawberry.federation.type(keys=["odsCode"], description="A GP practice (owned by performers).")
class Practice:
    ods_code: str = strawberry.field(description="ODS practice code.")

    @classmethod
    async def resolve_reference(
        cls,
        info: Info[RecordsContext, None],
        odsCode: str,  # noqa: N803 - federation passes the key in its GraphQL spelling
    ) -> Practice:
        # A caller not entitled to this practice's movements gets nothing for it: FORBIDDEN.
        code = practice_code(odsCode)
        policy.read_practice(info.context.principal, code)
        return cls(ods_code=code)

    @strawberry.field(
        description="Records moving in and out of the practice, newest first. Null, with a "
        "FORBIDDEN error, for a caller who may not see them."
    )
    async def record_movements(
        self,
        info: Info[RecordsContext, None],
        direction: Annotated[
            Direction | None, strawberry.argument(description="Only in, or only out.")
        ] = None,
        status: Annotated[
            list[models.MovementStatus] | None,
            strawberry.argument(description="Only movements in these statuses."),
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[RecordMovement] | None:
        principal = info.context.principal
        policy.read_practice(principal, self.ods_code)
        query = MovementQuery(
            directions=frozenset(
                {repository.IN, repository.OUT} if direction is None else {direction.value}
            ),
            statuses=None if status is None else frozenset(status),
            page=PageRequest.parse(first, after, parsers=(datetime.fromisoformat, int)),
        )
        rows = await info.context.movements.load((self.ods_code, query))
        now = info.context.now
        return build_connection(
            rows,
            query.page,
            key=lambda row: (row[1].requested_at.isoformat(), row[1].id),
            node=lambda row: RecordMovement.from_row(row[0], row[1], now=now, principal=principal),
        )
