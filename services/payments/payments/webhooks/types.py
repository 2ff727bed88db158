"""GraphQL of webhooks: subscriptions, their secrets (shown once), deliveries and replays."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from pcse_kit.errors import BadUserInput
from pcse_kit.pagination import Connection, PageRequest, build_connection
from strawberry.federation.schema_directives import ListSize
from strawberry.types import Info

from payments import settings
from payments.context import PaymentsContext
from payments.models import (
    DeliveryStatus,
    SubscriberKind,
    SubscriptionStatus,
)
from payments.models import WebhookDelivery as DeliveryRow
from payments.models import WebhookSubscription as SubscriptionRow
from payments.webhooks import repository, service
from payments.webhooks.rules import WebhookEventType

strawberry.enum(
    WebhookEventType, description="A payments event a webhook carries (docs/events.md)."
)
strawberry.enum(
    SubscriberKind,
    name="WebhookSubscriberKind",
    description="Whom a webhook subscription speaks for.",
)
strawberry.enum(
    SubscriptionStatus,
    name="WebhookSubscriptionStatus",
    description="ACTIVE sends; PAUSED keeps deliveries and holds them until resumed; DISABLED "
    "(failing for days) records nothing until resumed; DELETED.",
)
strawberry.enum(
    DeliveryStatus,
    name="WebhookDeliveryStatus",
    description="PENDING (to send or retry), DELIVERED (a 2xx answer), FAILED (every attempt "
    "failed: replay it), WITHHELD (the subscriber may no longer see the practice).",
)

MAX_ID_DIGITS = 18
"""A bigint's ids fit in 18 digits."""
_KEY = "Unique per intended change (8-100 characters); a replay returns the first result."


@strawberry.type(description="One event for one subscription, and its attempts.")
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(description="The delivery's id (for a replay).")
    webhook_id: str = strawberry.field(
        description="The `webhook-id` header: the same on every attempt and replay."
    )
    event_id: str = strawberry.field(description="The event's id on the payments stream.")
    event_type: str = strawberry.field(description="e.g. statement.published.")
    ods_code: str = strawberry.field(description="The practice the event is about.")
    status: DeliveryStatus = strawberry.field(description="Where it stands.")
    attempts: int = strawberry.field(description="Attempts made since it was made or replayed.")
    last_response_status: int | None = strawberry.field(
        description="The HTTP status of the last attempt; null if none came (a timeout, a "
        "refused address)."
    )
    last_error: str | None = strawberry.field(description="Why the last attempt failed.")
    next_attempt_at: datetime | None = strawberry.field(
        description="When it is tried next; null once delivered, failed or withheld."
    )
    last_attempt_at: datetime | None = strawberry.field(description="When it was last tried.")
    delivered_at: datetime | None = strawberry.field(description="When a 2xx answered it.")
    created_at: datetime = strawberry.field(description="When the event was recorded for it.")

    @classmethod
    def from_row(cls, row: DeliveryRow) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(str(row.id)),
            webhook_id=row.webhook_id,
            event_id=row.event_id,
            event_type=row.event_type,
            ods_code=row.ods_code,
            status=row.status,
            attempts=row.attempts,
            last_response_status=row.last_response_status,
            last_error=row.last_error,
            next_attempt_at=row.next_attempt_at,
            last_attempt_at=row.last_attempt_at,
            delivered_at=row.delivered_at,
            created_at=row.created_at,
        )


@strawberry.type(
    description="Where to send which payments events, for whom. The signing secret is never "
    "shown here: only once, in the answer that made it."
)
class WebhookSubscription:
    id: strawberry.ID = strawberry.field(description="The subscription's id.")
    kind: SubscriberKind = strawberry.field(
        description="Whom it speaks for, which decides the practices it hears of."
    )
    ods_codes: list[str] = strawberry.field(
        description="A practice's subscription: its practices. Empty for the others (an "
        "accountant's follows its consents, an LMC's its area, an operator's is every practice)."
    )
    lmc_code: str | None = strawberry.field(description="An LMC's subscription: the LMC.")
    url: str = strawberry.field(description="Where deliveries are POSTed.")
    event_types: list[WebhookEventType] = strawberry.field(description="What it receives.")
    description: str | None = strawberry.field(description="The subscriber's own note.")
    status: SubscriptionStatus = strawberry.field(description="Whether it sends.")
    status_reason: str | None = strawberry.field(
        description="Why it was disabled (every attempt failing since when, and the last error)."
    )
    failing_since: datetime | None = strawberry.field(
        description="The first failed attempt since the last success; null while healthy."
    )
    created_at: datetime = strawberry.field(description="When it was made.")
    created_by: str = strawberry.field(description="Who made it (the token's subject).")
    secret_rotated_at: datetime | None = strawberry.field(
        description="When the secret was last replaced."
    )

    @classmethod
    def from_row(cls, row: SubscriptionRow) -> WebhookSubscription:
        return cls(
            id=strawberry.ID(row.id),
            kind=row.kind,
            ods_codes=list(row.ods_codes),
            lmc_code=row.owner if row.kind is SubscriberKind.LMC else None,
            url=row.url,
            event_types=[WebhookEventType(t) for t in row.event_types],
            description=row.description,
            status=row.status,
            status_reason=row.status_reason,
            failing_since=row.failing_since,
            created_at=row.created_at,
            created_by=row.created_by,
            secret_rotated_at=row.secret_rotated_at,
        )

    @strawberry.field(
        description="Its deliveries, newest first, with their attempts.",
        directives=[
            ListSize(  # type: ignore[call-arg]
                slicing_arguments=["first"], sized_fields=["edges", "nodes"]
            )
        ],
    )
    async def deliveries(
        self,
        info: Info[PaymentsContext, None],
        status: Annotated[
            DeliveryStatus | None, strawberry.argument(description="Only these.")
        ] = None,
        first: Annotated[int, strawberry.argument(description="Page size, 1-100.")] = 20,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[WebhookDelivery]:
        page = PageRequest.parse(first, after, parsers=(int,))
        async with info.context.reader() as session:
            rows = await repository.deliveries_page(
                session,
                str(self.id),
                status=status,
                before=None if page.after is None else int(page.after[0]),
                limit=page.first + 1,
            )
        return build_connection(rows, page, key=lambda r: (r.id,), node=WebhookDelivery.from_row)


@strawberry.type(
    description="A subscription with its signing secret: the only time the secret is shown."
)
class WebhookSubscriptionSecret:
    subscription: WebhookSubscription = strawberry.field(description="The subscription.")
    secret: str | None = strawberry.field(
        description="`whsec_` and base64: keep it now, it is never shown again. Null when the "
        "request was a replay of an idempotency key (the secret was in the first answer)."
    )


@strawberry.input(description="A new subscription; the practices follow from who asks.")
class CreateWebhookSubscriptionInput:
    url: str = strawberry.field(
        description="https:// only, without a user name or password; its host must resolve "
        "to public addresses (checked now and at every delivery)."
    )
    event_types: list[WebhookEventType] = strawberry.field(
        description="What to receive. An accountant may have statements and anomalies; an LMC "
        "anomalies and escalatable disputes (without amounts); a practice and an operator "
        "everything."
    )
    description: str | None = strawberry.field(
        default=None, description="A note of the subscriber's own (up to 300 characters)."
    )
    lmc_code: str | None = strawberry.field(
        default=None, description="An LMC's token naming several LMCs: which one."
    )
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="A subscription to change.")
class WebhookSubscriptionInput:
    id: strawberry.ID = strawberry.field(description="The subscription.")
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="A delivery to send again.")
class ReplayWebhookDeliveryInput:
    id: strawberry.ID = strawberry.field(description="The delivery (WebhookDelivery.id).")
    idempotency_key: str = strawberry.field(description=_KEY)


async def _subscription(info: Info[PaymentsContext, None], subscription_id: str) -> SubscriptionRow:
    async with info.context.sessionmaker() as session:
        row = await session.get(SubscriptionRow, subscription_id)
    assert row is not None  # written in the mutation's committed transaction
    return row


@strawberry.type
class WebhooksQuery:
    @strawberry.field(
        description="The webhook subscriptions the caller manages, newest first: a practice's "
        "staff their practice's, an accountant and an LMC their own (at most 20 each), payments "
        "operators and admins every one; deleted ones are left out.",
        directives=[
            ListSize(  # type: ignore[call-arg]
                assumed_size=service.MAX_SUBSCRIPTIONS, require_one_slicing_argument=False
            )
        ],
    )
    async def webhook_subscriptions(
        self,
        info: Info[PaymentsContext, None],
        id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this one.")
        ] = None,
    ) -> list[WebhookSubscription]:
        async with info.context.reader() as session:
            rows = await service.visible(session, info.context.principal)
        return [
            WebhookSubscription.from_row(row) for row in rows if id is None or row.id == str(id)
        ]


def _delivery_id(value: str) -> int:
    if not value.isdigit() or len(value) > MAX_ID_DIGITS:
        raise BadUserInput("`id` is not a delivery's id.", field="id")
    return int(value)


@strawberry.type
class WebhooksMutation:
    @strawberry.mutation(
        description="Subscribe a URL to payments events, signed per the Standard Webhooks "
        "specification. The answer holds the signing secret, shown this once. A practice, an "
        "accountant, an LMC, payments operators and admins; each receives what it may see."
    )
    async def create_webhook_subscription(
        self, info: Info[PaymentsContext, None], input: CreateWebhookSubscriptionInput
    ) -> WebhookSubscriptionSecret:
        made = await service.create(
            info.context.sessionmaker,
            info.context.principal,
            url=input.url,
            event_types=input.event_types,
            description=input.description,
            lmc=input.lmc_code,
            idempotency_key=input.idempotency_key,
            allow_private=settings.webhooks().allow_private_targets,
        )
        row = await _subscription(info, made.subscription_id)
        return WebhookSubscriptionSecret(
            subscription=WebhookSubscription.from_row(row), secret=made.secret
        )

    @strawberry.mutation(
        description="Replace the signing secret; the old one stops at once, and the new one is "
        "shown in this answer only."
    )
    async def rotate_webhook_secret(
        self, info: Info[PaymentsContext, None], input: WebhookSubscriptionInput
    ) -> WebhookSubscriptionSecret:
        made = await service.rotate_secret(
            info.context.sessionmaker,
            info.context.principal,
            subscription_id=str(input.id),
            idempotency_key=input.idempotency_key,
        )
        row = await _subscription(info, made.subscription_id)
        return WebhookSubscriptionSecret(
            subscription=WebhookSubscription.from_row(row), secret=made.secret
        )

    @strawberry.mutation(
        description="Stop sending; deliveries are still recorded and wait for a resume."
    )
    async def pause_webhook_subscription(
        self, info: Info[PaymentsContext, None], input: WebhookSubscriptionInput
    ) -> WebhookSubscription:
        return await _status(info, input, SubscriptionStatus.PAUSED)

    @strawberry.mutation(
        description="Send again: a paused or disabled subscription; what waited goes now."
    )
    async def resume_webhook_subscription(
        self, info: Info[PaymentsContext, None], input: WebhookSubscriptionInput
    ) -> WebhookSubscription:
        return await _status(info, input, SubscriptionStatus.ACTIVE)

    @strawberry.mutation(
        description="Delete a subscription: nothing more is recorded or sent, its secret is "
        "erased; its delivery log stays for the audit."
    )
    async def delete_webhook_subscription(
        self, info: Info[PaymentsContext, None], input: WebhookSubscriptionInput
    ) -> WebhookSubscription:
        return await _status(info, input, SubscriptionStatus.DELETED)

    @strawberry.mutation(
        description="Send a delivery again (delivered, failed or pending alike) with the same "
        "`webhook-id`, so the receiver can tell it has it; a fresh schedule of retries."
    )
    async def replay_webhook_delivery(
        self, info: Info[PaymentsContext, None], input: ReplayWebhookDeliveryInput
    ) -> WebhookDelivery:
        delivery_id = await service.replay(
            info.context.sessionmaker,
            info.context.principal,
            delivery_id=_delivery_id(str(input.id)),
            idempotency_key=input.idempotency_key,
        )
        async with info.context.sessionmaker() as session:
            row = await session.get(DeliveryRow, delivery_id)
        assert row is not None
        return WebhookDelivery.from_row(row)


async def _status(
    info: Info[PaymentsContext, None], input: WebhookSubscriptionInput, to: SubscriptionStatus
) -> WebhookSubscription:
    subscription_id = await service.change_status(
        info.context.sessionmaker,
        info.context.principal,
        subscription_id=str(input.id),
        to=to,
        idempotency_key=input.idempotency_key,
    )
    return WebhookSubscription.from_row(await _subscription(info, subscription_id))
