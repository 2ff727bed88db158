"""Subscriptions managed through the API: who may hold one, for which practices, and the
changes to it (each once per idempotency key, in the audit trail).

The signing secret is shown once, in the answer to the request that made it (creation or
rotation). The idempotency record keeps the answer without it, so a replay of that request
answers with the subscription and no secret; the audit trail never holds it either.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pcse_kit import audit
from pcse_kit.auth import Forbidden, Role
from pcse_kit.errors import BadUserInput, Conflict
from pcse_kit.identifiers import free_text, lmc_code
from sqlalchemy import select, update

from payments import policy
from payments.models import (
    AuditEvent,
    DeliveryStatus,
    IdempotencyKey,
    SubscriberKind,
    SubscriptionStatus,
    WebhookDelivery,
    WebhookSubscription,
)
from payments.webhooks import rules, targets

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

MAX_DESCRIPTION = 300
MAX_SUBSCRIPTIONS = 20
"""Per subscriber (a practice's staff share theirs): enough for several systems, bounded."""


@dataclass(frozen=True)
class Subscriber:
    """Who a new subscription speaks for."""

    kind: SubscriberKind
    owner: str
    ods_codes: tuple[str, ...]


def subscriber(principal: Principal, *, lmc: str | None) -> Subscriber:
    """The caller as a subscriber: a practice for its practices, an accountant for those that
    consent to it (decided at each delivery), an LMC for its area, an operator of this domain
    or an admin for every practice. Anyone else may not subscribe."""
    if principal.operates(policy.DOMAIN):
        return Subscriber(SubscriberKind.OPERATOR, principal.subject, ())
    if principal.role is Role.PRACTICE and principal.scope:
        return Subscriber(
            SubscriberKind.PRACTICE, principal.subject, tuple(sorted(principal.scope))
        )
    if principal.role is Role.ACCOUNTANT:
        return Subscriber(SubscriberKind.ACCOUNTANT, principal.subject, ())
    if principal.role is Role.LMC and principal.scope:
        if lmc is None:
            if len(principal.scope) != 1:
                raise BadUserInput("Name the LMC (`lmcCode`).", field="lmcCode")
            [lmc] = principal.scope
        code = lmc_code(lmc)
        if not principal.is_lmc_of(code):
            raise Forbidden
        return Subscriber(SubscriberKind.LMC, code, ())
    raise Forbidden


def may_manage(principal: Principal, row: WebhookSubscription) -> bool:
    """The subscriber it speaks for: the practice's staff (every practice it covers), the
    accountant, the LMC; and this domain's operators and admins, any."""
    if principal.operates(policy.DOMAIN):
        return True
    match row.kind:
        case SubscriberKind.PRACTICE:
            return bool(row.ods_codes) and all(principal.is_practice_of(c) for c in row.ods_codes)
        case SubscriberKind.ACCOUNTANT:
            return principal.role is Role.ACCOUNTANT and row.owner == principal.subject
        case SubscriberKind.LMC:
            return principal.is_lmc_of(row.owner)
        case _:
            return False


def may_list(principal: Principal) -> None:
    if principal.operates(policy.DOMAIN) or principal.role in {
        Role.PRACTICE,
        Role.ACCOUNTANT,
        Role.LMC,
    }:
        return
    raise Forbidden


async def visible(
    session: AsyncSession, principal: Principal, *, include_deleted: bool = False
) -> list[WebhookSubscription]:
    may_list(principal)
    statement = select(WebhookSubscription).order_by(
        WebhookSubscription.created_at.desc(), WebhookSubscription.id
    )
    if not include_deleted:
        statement = statement.where(WebhookSubscription.status != SubscriptionStatus.DELETED)
    if not principal.operates(policy.DOMAIN):
        if principal.role is Role.PRACTICE:
            statement = statement.where(
                WebhookSubscription.kind == SubscriberKind.PRACTICE,
                WebhookSubscription.ods_codes.contained_by(sorted(principal.scope)),
            )
        elif principal.role is Role.ACCOUNTANT:
            statement = statement.where(
                WebhookSubscription.kind == SubscriberKind.ACCOUNTANT,
                WebhookSubscription.owner == principal.subject,
            )
        else:
            statement = statement.where(
                WebhookSubscription.kind == SubscriberKind.LMC,
                WebhookSubscription.owner.in_(sorted(principal.scope)),
            )
    return list(await session.scalars(statement))


def event_types_input(kind: SubscriberKind, values: Sequence[rules.WebhookEventType]) -> list[str]:
    chosen = sorted(set(values))
    if not chosen:
        raise BadUserInput("Name at least one event type.", field="eventTypes")
    allowed = rules.MAY_SUBSCRIBE[kind]
    refused = [t for t in chosen if t not in allowed]
    if refused:
        raise BadUserInput(
            f"A {kind.value} may not subscribe to {', '.join(refused)}; it may to "
            f"{', '.join(sorted(allowed))}.",
            field="eventTypes",
        )
    return [str(t) for t in chosen]


async def url_input(url: str, *, allow_private: bool) -> str:
    """Checked at subscription time as at every delivery: https, no credentials, a host that
    resolves to public addresses only."""
    target = targets.checked(url.strip(), allow_private=allow_private)
    try:
        await targets.resolve(target, allow_private=allow_private)
    except targets.Refused as error:
        raise BadUserInput(f"`url` is refused: {error}.", field="url") from None
    return str(target.url)


def values(row: WebhookSubscription) -> dict[str, Any]:
    """What the audit trail and a replay keep: never the secret."""
    return {
        "id": row.id,
        "kind": row.kind.value,
        "owner": row.owner,
        "odsCodes": list(row.ods_codes),
        "url": row.url,
        "eventTypes": list(row.event_types),
        "description": row.description,
        "status": row.status.value,
        "statusReason": row.status_reason,
    }


@dataclass(frozen=True)
class WithSecret:
    subscription_id: str
    secret: str | None
    """Only in the answer to the request that made it; None on a replay."""


async def create(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    url: str,
    event_types: Sequence[rules.WebhookEventType],
    description: str | None,
    lmc: str | None,
    idempotency_key: str,
    allow_private: bool,
) -> WithSecret:
    who = subscriber(principal, lmc=lmc)
    types = event_types_input(who.kind, event_types)
    text = None
    if description is not None:
        text = free_text(description, field="description", limit=MAX_DESCRIPTION)
    address = await url_input(url, allow_private=allow_private)
    made: dict[str, str] = {}

    async def write(session: AsyncSession) -> dict[str, Any]:
        held = await visible(session, principal) if who.kind is not SubscriberKind.OPERATOR else []
        if len(held) >= MAX_SUBSCRIPTIONS:
            raise Conflict(
                f"At most {MAX_SUBSCRIPTIONS} subscriptions; delete one first.", field="url"
            )
        secret = rules.new_secret()
        row = WebhookSubscription(
            id="sub_" + uuid.uuid4().hex,
            kind=who.kind,
            owner=who.owner,
            ods_codes=list(who.ods_codes),
            url=address,
            event_types=types,
            description=text,
            secret=secret,
            status=SubscriptionStatus.ACTIVE,
            created_by=principal.subject,
        )
        session.add(row)
        await session.flush()
        await _audit(session, principal, "create", row, before=None)
        made["secret"] = secret
        return {"id": row.id}

    response = await audit.once(
        sessionmaker,
        IdempotencyKey,
        actor=principal,
        key=idempotency_key,
        operation="createWebhookSubscription",
        request={
            "url": address,
            "eventTypes": types,
            "description": text,
            "kind": who.kind.value,
            "owner": who.owner,
        },
        write=write,
    )
    return WithSecret(subscription_id=response["id"], secret=made.get("secret"))


async def _managed(
    session: AsyncSession, principal: Principal, subscription_id: str
) -> WebhookSubscription:
    """The subscription, locked, if the caller manages it; FORBIDDEN otherwise, whether or not
    it exists (a guessed id learns nothing)."""
    row = await session.get(WebhookSubscription, subscription_id, with_for_update=True)
    if row is None or row.status is SubscriptionStatus.DELETED or not may_manage(principal, row):
        raise Forbidden
    return row


async def _audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    row: WebhookSubscription,
    *,
    before: dict[str, Any] | None,
) -> None:
    await audit.record(
        session,
        AuditEvent,
        actor=principal,
        action=action,
        entity="webhook_subscription",
        key=row.id,
        before=before,
        after=values(row),
    )


async def change_status(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    subscription_id: str,
    to: SubscriptionStatus,
    idempotency_key: str,
) -> str:
    """Pause (deliveries are kept and held), resume (held and failed-for-too-long deliveries
    go out again from now), or delete (nothing more is recorded or sent; the log stays)."""
    policy_check = _authorizer(principal, subscription_id)
    action = {
        SubscriptionStatus.PAUSED: "pause",
        SubscriptionStatus.ACTIVE: "resume",
        SubscriptionStatus.DELETED: "delete",
    }[to]

    async def write(session: AsyncSession) -> dict[str, Any]:
        row = await _managed(session, principal, subscription_id)
        before = values(row)
        if row.status is not to:
            row.status = to
            row.status_reason = None
            if to is SubscriptionStatus.ACTIVE:
                row.failing_since = None
                # What waited while it was paused or disabled goes now, in a fresh schedule.
                await session.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.subscription_id == row.id,
                        WebhookDelivery.status == DeliveryStatus.PENDING,
                    )
                    .values(next_attempt_at=datetime.now(UTC))
                )
            if to is SubscriptionStatus.DELETED:
                row.secret = None
            await session.flush()
            await _audit(session, principal, action, row, before=before)
        return {"id": row.id}

    response = await audit.once(
        sessionmaker,
        IdempotencyKey,
        actor=principal,
        key=idempotency_key,
        operation=f"{action}WebhookSubscription",
        request={"id": subscription_id},
        write=write,
        authorize=policy_check,
    )
    return str(response["id"])


def _authorizer(
    principal: Principal, subscription_id: str
) -> Callable[[AsyncSession], Awaitable[None]]:
    """Checked on the first request and every replay alike (the caller's rights may have
    changed since)."""

    async def authorize(session: AsyncSession) -> None:
        row = await session.get(WebhookSubscription, subscription_id)
        if row is None or not may_manage(principal, row):
            raise Forbidden

    return authorize


async def rotate_secret(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    subscription_id: str,
    idempotency_key: str,
) -> WithSecret:
    """A new secret signs every attempt from now on (a retry of an older delivery too); the old
    one stops at once. The new one is shown in this answer only."""
    made: dict[str, str] = {}

    async def write(session: AsyncSession) -> dict[str, Any]:
        row = await _managed(session, principal, subscription_id)
        row.secret = made["secret"] = rules.new_secret()
        row.secret_rotated_at = datetime.now(UTC)
        await session.flush()
        await _audit(session, principal, "rotate_secret", row, before=values(row))
        return {"id": row.id}

    response = await audit.once(
        sessionmaker,
        IdempotencyKey,
        actor=principal,
        key=idempotency_key,
        operation="rotateWebhookSecret",
        request={"id": subscription_id},
        write=write,
        authorize=_authorizer(principal, subscription_id),
    )
    return WithSecret(subscription_id=response["id"], secret=made.get("secret"))


async def replay(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    delivery_id: int,
    idempotency_key: str,
) -> int:
    """Send a delivery again, whatever became of it, with the same ``webhook-id`` (the receiver
    dedupes by it) and a fresh schedule of attempts."""

    async def authorize(session: AsyncSession) -> None:
        row = await session.get(WebhookDelivery, delivery_id)
        subscription = (
            None if row is None else await session.get(WebhookSubscription, row.subscription_id)
        )
        if subscription is None or not may_manage(principal, subscription):
            raise Forbidden

    async def write(session: AsyncSession) -> dict[str, Any]:
        row = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
        assert row is not None  # authorized above, in this transaction
        subscription = await _managed(session, principal, row.subscription_id)
        before = asdict(DeliveryState.of(row))
        row.status = DeliveryStatus.PENDING
        row.attempts = 0
        row.next_attempt_at = datetime.now(UTC)
        await session.flush()
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="replay",
            entity="webhook_delivery",
            key=f"{subscription.id}/{row.id}",
            before=before,
            after=asdict(DeliveryState.of(row)),
        )
        return {"id": row.id}

    response = await audit.once(
        sessionmaker,
        IdempotencyKey,
        actor=principal,
        key=idempotency_key,
        operation="replayWebhookDelivery",
        request={"id": delivery_id},
        write=write,
        authorize=authorize,
    )
    return int(response["id"])


@dataclass(frozen=True)
class DeliveryState:
    webhook_id: str
    status: str
    attempts: int

    @classmethod
    def of(cls, row: WebhookDelivery) -> DeliveryState:
        return cls(webhook_id=row.webhook_id, status=row.status.value, attempts=row.attempts)
