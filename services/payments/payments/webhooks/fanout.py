"""From the ``payments`` stream to one delivery row per subscription and event.

A durable consumer of the service's own stream (``payments-webhooks``) rather than a second
reader of the outbox: the kit's consumer already applies each event once, in stream order,
in a transaction with its inbox row, and survives restarts and replicas; reading the outbox
by id would miss an event whose transaction took an id early and committed late. The unique
(subscription, event) pair makes a replayed stream, or the same event fanned out twice, add
nothing. Sending happens later, in the delivery worker: a consumer must not call out.

Who takes an event is decided here (repository.sees) and again at each attempt, so a consent
withdrawn since stops what was still waiting.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pcse_kit.events import Consumer, MalformedEvent
from pcse_kit.identifiers import is_practice_code
from sqlalchemy.dialects.postgresql import insert as pg_insert

from payments import events
from payments.models import DeadLetter, DeliveryStatus, Inbox, WebhookDelivery
from payments.webhooks import repository, rules

if TYPE_CHECKING:
    from pcse_kit.events import Event
    from pcse_kit.service import EventWiring
    from sqlalchemy.ext.asyncio import AsyncSession

CONSUMER = "payments-webhooks"


def consumer(wiring: EventWiring) -> Consumer:
    return Consumer(
        wiring.sessionmaker,
        wiring.bus,
        name=CONSUMER,
        streams=[events.STREAM],
        handler=apply,
        inbox=Inbox,
        dead_letters=DeadLetter,
    )


async def apply(session: AsyncSession, event: Event) -> None:
    await fan_out(session, event)


async def fan_out(session: AsyncSession, event: Event) -> int:
    """Record the event for each subscription that takes it; how many rows were new."""
    if event.type not in rules.ALL_TYPES:
        return 0
    ods_code = event.payload.get("odsCode", event.key)
    if not isinstance(ods_code, str) or not is_practice_code(ods_code):
        raise MalformedEvent(f"{event.type} without a practice's ODS code")
    subscriptions = await repository.subscribers(session, event_type=event.type, ods_code=ods_code)
    if not subscriptions:
        return 0
    event_id = str(event.event_id)
    now = datetime.now(UTC)
    inserted = await session.execute(
        pg_insert(WebhookDelivery)
        .values(
            [
                {
                    "subscription_id": subscription.id,
                    "webhook_id": rules.webhook_id(subscription.id, event_id),
                    "event_id": event_id,
                    "event_type": event.type,
                    "ods_code": ods_code,
                    "body": rules.body(
                        kind=subscription.kind,
                        event_id=event_id,
                        event_type=event.type,
                        occurred_at=event.occurred_at,
                        payload=event.payload,
                    ),
                    "status": DeliveryStatus.PENDING,
                    "next_attempt_at": now,
                }
                for subscription in subscriptions
            ]
        )
        .on_conflict_do_nothing()
        .returning(WebhookDelivery.id)
    )
    return len(inserted.all())
