"""The delivery worker: sends due deliveries, signed, and schedules the next attempt.

It runs in the payments process beside the relay and consumers (one per process; several
processes share the work). Each sender claims one due delivery with ``FOR UPDATE SKIP LOCKED``
and holds the row until the attempt is recorded, so no two senders, in this process or
another, ever send the same delivery at once; a sender that dies mid-attempt releases it with
its transaction, and it is sent again (at least once). The subscription row is not locked, so
one subscription's deliveries go out side by side: order is not guaranteed.

Before each attempt the subscriber's right to the practice is checked again: a delivery to an
accountant whose consent was withdrawn since is ``withheld``, not sent. Each attempt is signed
afresh (``webhook-timestamp`` is the attempt's time, which receivers hold to five minutes)
with the subscription's secret of the moment. A failure is retried on the schedule of
:func:`rules.delay` (about three days), then the delivery is ``failed`` and waits for a replay.
A subscription that has failed every attempt for ``PAYMENTS_WEBHOOKS_DISABLE_AFTER_DAYS``
(5) is disabled (visible in the API, with why); resuming it sends what is still pending.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import httpx
from pcse_kit import metrics
from prometheus_client import Counter, Gauge
from sqlalchemy import func, select, update

from payments.models import (
    DeliveryStatus,
    SubscriptionStatus,
    WebhookDelivery,
    WebhookSubscription,
)
from payments.webhooks import repository, rules, targets

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from payments.settings import WebhookSettings

logger = logging.getLogger("payments.webhooks")

DELIVERIES: Final = Gauge(
    "pcse_webhook_deliveries",
    "Webhook deliveries by status: pending (waiting to be sent or retried), failed (every "
    "attempt failed; replay them). Alert on failed rising.",
    ["status"],
)
ATTEMPTS: Final = Counter(
    "pcse_webhook_attempts_total",
    "Webhook delivery attempts, by outcome (delivered, failed, withheld).",
    ["outcome"],
)
IDLE_SECONDS: Final = 1.0
"""How often an idle sender looks for due deliveries (a due retry waits at most this)."""


class DeliveryWorker:
    """Runs ``settings.senders`` senders until stopped."""

    label = "webhook deliveries"

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: WebhookSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._sessions = sessionmaker
        self._allow_private = settings.allow_private_targets
        self._base = settings.backoff_base_seconds
        self._disable_after = timedelta(days=settings.disable_after_days)
        self._senders = max(1, settings.senders)
        self._transport = transport

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=targets.TIMEOUT,
            follow_redirects=False,
            transport=self._transport,
            # No proxy from the environment: the address checked is the address called.
            trust_env=False,
        )

    async def run_forever(self, stop: asyncio.Event, *, idle_seconds: float = 0.5) -> None:
        del idle_seconds  # the relay's and consumers' poll; deliveries keep their own
        found = asyncio.Event()
        async with self.client() as client:
            with metrics.before_scrape(self.count):
                await asyncio.gather(
                    *(
                        self._sender(client, stop, found, looks=index == 0)
                        for index in range(self._senders)
                    )
                )

    async def _sender(
        self, client: httpx.AsyncClient, stop: asyncio.Event, found: asyncio.Event, *, looks: bool
    ) -> None:
        """Send due deliveries until none is left, then wait. While nothing is due, one sender
        (``looks``) looks every :data:`IDLE_SECONDS`; the others wait until a sender has sent
        one (``found``: there may be more) or, at the latest, for as many seconds as there are
        senders. An idle service then asks the database once a second, not once per sender: at
        four senders the polls were two fifths of the payments service's CPU while idle."""
        failures = 0
        while not stop.is_set():
            try:
                sent = await self.send_one(client)
                failures = 0
            except Exception:
                failures += 1
                sent = False
                if failures == 1:
                    logger.exception("sending a webhook failed; retrying")
            if sent:
                found.set()
                continue
            found.clear()
            wait = IDLE_SECONDS * (1 if looks else self._senders)
            wait *= min(2 ** max(failures - 1, 0), 30)
            waits = [asyncio.ensure_future(stop.wait())]
            if not looks:
                waits.append(asyncio.ensure_future(found.wait()))
            try:
                await asyncio.wait(waits, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()

    async def count(self) -> None:
        async with self._sessions() as session:
            rows = await session.execute(
                select(WebhookDelivery.status, func.count())
                .where(WebhookDelivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.FAILED]))
                .group_by(WebhookDelivery.status)
            )
            counts: dict[DeliveryStatus, int] = dict(rows.tuples().all())
        for status in (DeliveryStatus.PENDING, DeliveryStatus.FAILED):
            DELIVERIES.labels(status.value).set(counts.get(status, 0))

    async def send_one(self, client: httpx.AsyncClient) -> bool:
        """Attempt one due delivery; False when none is due."""
        async with self._sessions.begin() as session:
            found = (
                await session.execute(
                    select(WebhookDelivery, WebhookSubscription)
                    .join(
                        WebhookSubscription,
                        WebhookSubscription.id == WebhookDelivery.subscription_id,
                    )
                    .where(
                        WebhookDelivery.status == DeliveryStatus.PENDING,
                        WebhookDelivery.next_attempt_at <= func.now(),
                        WebhookSubscription.status == SubscriptionStatus.ACTIVE,
                    )
                    .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                    .limit(1)
                    .with_for_update(of=WebhookDelivery, skip_locked=True)
                )
            ).first()
            if found is None:
                return False
            delivery, subscription = found
            await self._attempt(session, client, delivery, subscription)
        return True

    async def _attempt(
        self,
        session: AsyncSession,
        client: httpx.AsyncClient,
        delivery: WebhookDelivery,
        subscription: WebhookSubscription,
    ) -> None:
        now = datetime.now(UTC)
        if not await repository.still_sees(session, subscription.id, delivery.ods_code):
            delivery.status = DeliveryStatus.WITHHELD
            delivery.next_attempt_at = None
            delivery.last_error = "the subscriber may no longer see this practice"
            ATTEMPTS.labels("withheld").inc()
            return
        assert subscription.secret is not None  # only a deleted subscription has none
        outcome = await targets.send(
            client,
            subscription.url,
            headers=rules.headers(
                subscription.secret,
                message_id=delivery.webhook_id,
                timestamp=now,
                body=delivery.body,
            ),
            body=delivery.body,
            allow_private=self._allow_private,
        )
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_response_status = outcome.status
        delivery.last_error = None if outcome.error is None else outcome.error[:500]
        if outcome.delivered:
            ATTEMPTS.labels("delivered").inc()
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
            if subscription.failing_since is not None:
                await self._update_subscription(session, subscription.id, failing_since=None)
            return
        ATTEMPTS.labels("failed").inc()
        wait = rules.delay(delivery.attempts, base=self._base)
        if wait is None:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = now + wait
        since = subscription.failing_since or now
        changes: dict[str, Any] = {}
        if subscription.failing_since is None:
            changes["failing_since"] = now
        if now - since >= self._disable_after:
            changes["status"] = SubscriptionStatus.DISABLED
            changes["status_reason"] = (
                f"every attempt failed since {since.isoformat(timespec='seconds')} "
                f"(last: {delivery.last_error}); resume it once the receiver is fixed"
            )[:300]
            logger.warning(
                "webhook subscription %s disabled: failing since %s", subscription.id, since
            )
        if changes:
            await self._update_subscription(session, subscription.id, **changes)

    @staticmethod
    async def _update_subscription(
        session: AsyncSession, subscription_id: str, **changes: Any
    ) -> None:
        await session.execute(
            update(WebhookSubscription)
            .where(
                WebhookSubscription.id == subscription_id,
                WebhookSubscription.status != SubscriptionStatus.DELETED,
            )
            .values(**changes)
        )
