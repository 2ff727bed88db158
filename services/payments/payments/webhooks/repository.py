"""SQL of webhooks. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, and_, exists, literal, or_, select

from payments.models import (
    AccountantConsent,
    DeliveryStatus,
    PracticeDirectory,
    SubscriberKind,
    SubscriptionStatus,
    WebhookDelivery,
    WebhookSubscription,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


def sees(ods_code: str) -> ColumnElement[bool]:
    """Whether a subscription may hear of this practice, now: its own practice's; an
    accountant's while the practice's consent to it is active; an LMC's while the practice is
    in its area (this service's copy of the directory); an operator's always."""
    subscription = WebhookSubscription
    return or_(
        subscription.kind == SubscriberKind.OPERATOR,
        and_(
            subscription.kind == SubscriberKind.PRACTICE,
            literal(ods_code).op("=")(subscription.ods_codes.any_()),
        ),
        and_(
            subscription.kind == SubscriberKind.ACCOUNTANT,
            exists().where(
                AccountantConsent.accountant_id == subscription.owner,
                AccountantConsent.ods_code == ods_code,
                AccountantConsent.revoked_at.is_(None),
            ),
        ),
        and_(
            subscription.kind == SubscriberKind.LMC,
            exists().where(
                PracticeDirectory.ods_code == ods_code,
                PracticeDirectory.lmc_code == subscription.owner,
            ),
        ),
    )


async def subscribers(
    session: AsyncSession, *, event_type: str, ods_code: str
) -> list[WebhookSubscription]:
    """Subscriptions that take this event now: active or paused (a paused one keeps what
    comes, to send on resuming), subscribed to its type, and entitled to its practice."""
    return list(
        await session.scalars(
            select(WebhookSubscription)
            .where(
                WebhookSubscription.status.in_(
                    [SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED]
                ),
                literal(event_type).op("=")(WebhookSubscription.event_types.any_()),
                sees(ods_code),
            )
            .order_by(WebhookSubscription.id)
        )
    )


async def still_sees(session: AsyncSession, subscription_id: str, ods_code: str) -> bool:
    found = await session.scalar(
        select(WebhookSubscription.id).where(
            WebhookSubscription.id == subscription_id, sees(ods_code)
        )
    )
    return found is not None


async def deliveries_page(
    session: AsyncSession,
    subscription_id: str,
    *,
    status: DeliveryStatus | None,
    before: int | None,
    limit: int,
) -> list[WebhookDelivery]:
    """Newest first, by id."""
    statement = (
        select(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if status is not None:
        statement = statement.where(WebhookDelivery.status == status)
    if before is not None:
        statement = statement.where(WebhookDelivery.id < before)
    return list(await session.scalars(statement))
