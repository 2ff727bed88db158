"""Signed webhooks: the signature of the Standard Webhooks specification's own example, the
retry schedule written out in minutes, the addresses a webhook may not reach, who receives
which event and what of it, and the delivery worker's attempts against a receiver.

Expected values are written by hand: the signature is the one the specification publishes for
its example (secret, id, timestamp and body below); the schedule is 1, 2, 4 ... minutes as
stated in the README, not computed by the code under test."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from payments import settings
from payments.models import (
    AccountantConsent,
    AuditEvent,
    DeliveryStatus,
    IdempotencyKey,
    SubscriptionStatus,
    WebhookDelivery,
    WebhookSubscription,
)
from payments.settings import WebhookSettings
from payments.webhooks import delivery, fanout, rules, service, targets
from payments.webhooks.rules import WebhookEventType
from pcse_kit.auth import Forbidden, Principal, Role
from pcse_kit.errors import BadUserInput
from pcse_kit.events import Event, MalformedEvent
from pcse_kit.testing import Token, graphql
from sqlalchemy import func, select, update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI

# --- the signature ---------------------------------------------------------------------------

# The Standard Webhooks specification's example (spec/standard-webhooks.md, "Signature
# scheme", and the reference libraries' tests).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = datetime.fromtimestamp(1614265330, UTC)
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_signature_is_the_specifications_for_its_example() -> None:
    assert (
        rules.signature(SPEC_SECRET, message_id=SPEC_ID, timestamp=SPEC_TIMESTAMP, body=SPEC_BODY)
        == SPEC_SIGNATURE
    )
    assert rules.headers(
        SPEC_SECRET, message_id=SPEC_ID, timestamp=SPEC_TIMESTAMP, body=SPEC_BODY
    ) == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": "1614265330",
        "webhook-signature": SPEC_SIGNATURE,
        "content-type": "application/json",
    }


def test_a_receiver_detects_a_tampered_body_or_signature_and_an_old_timestamp() -> None:
    now = datetime.now(UTC)
    sent = rules.headers(SPEC_SECRET, message_id=SPEC_ID, timestamp=now, body=SPEC_BODY)
    receiver = Webhook(SPEC_SECRET)
    assert receiver.verify(SPEC_BODY, sent) == {"test": 2432232314}
    with pytest.raises(WebhookVerificationError):
        receiver.verify('{"test": 2432232315}', sent)
    with pytest.raises(WebhookVerificationError):
        receiver.verify(SPEC_BODY, {**sent, "webhook-signature": "v1," + "A" * 44})
    with pytest.raises(WebhookVerificationError):
        Webhook(rules.new_secret()).verify(SPEC_BODY, sent)
    # Receivers hold a timestamp to five minutes either way.
    old = now - timedelta(minutes=6)
    stale = rules.headers(SPEC_SECRET, message_id=SPEC_ID, timestamp=old, body=SPEC_BODY)
    with pytest.raises(WebhookVerificationError, match="too old"):
        receiver.verify(SPEC_BODY, stale)


def test_a_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = rules.new_secret(), rules.new_secret()
    assert first.startswith("whsec_")
    assert len(first) == len("whsec_") + 44  # base64 of 32 bytes: 44 characters
    assert first != second


def test_the_webhook_id_is_the_same_for_a_subscription_and_event_and_differs_otherwise() -> None:
    event = str(uuid.uuid4())
    assert rules.webhook_id("sub_a", event) == rules.webhook_id("sub_a", event)
    assert rules.webhook_id("sub_a", event) != rules.webhook_id("sub_b", event)
    assert rules.webhook_id("sub_a", event).startswith("msg_")


# --- retries ---------------------------------------------------------------------------------

# Minutes after each failed attempt (the 1st ... the 15th) at the default base of 60 s:
# doubling from 1 minute to 512, then 12 hours (720 minutes) five times.
SCHEDULE_MINUTES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 720, 720, 720, 720, 720]


def test_the_retry_schedule_doubles_from_a_minute_to_twelve_hours_over_about_three_days() -> None:
    assert [rules.nominal_delay(attempts, base=60) for attempts in range(1, 16)] == [
        timedelta(minutes=m) for m in SCHEDULE_MINUTES
    ]
    # After the 16th attempt there is no other: the delivery has failed.
    assert rules.nominal_delay(16, base=60) is None
    # 1 + 2 + ... + 512 = 1,023 minutes, and 5 x 720 = 3,600: 4,623 minutes = 77 h 3 min.
    assert sum(SCHEDULE_MINUTES) == 4_623
    # The test stack's base of 0.2 s: 0.2 s, 0.4 s, 0.8 s ...
    assert rules.nominal_delay(3, base=0.2) == timedelta(seconds=0.8)


def test_jitter_takes_up_to_a_fifth_off_a_delay() -> None:
    for _ in range(200):
        wait = rules.delay(4, base=60)
        assert wait is not None
        assert timedelta(minutes=6.4) <= wait <= timedelta(minutes=8)


# --- addresses -------------------------------------------------------------------------------

REFUSED_ADDRESSES = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",  # a cloud's metadata service
    "0.0.0.0": "unspecified",
    "224.0.0.1": "multicast",
    "240.0.0.1": "private",  # reserved (Python counts 240/4 as private too)
    "100.64.0.1": "not globally reachable",  # carrier-grade NAT
    "::1": "loopback",
    "::": "unspecified",
    "fe80::1": "link-local",
    "fc00::1": "private",
    "ff02::1": "multicast",
    "::ffff:127.0.0.1": "private",  # IPv4-mapped: refused whatever it maps
    "::ffff:10.0.0.1": "private",
    "2002:7f00:1::": "loopback",  # 6to4 of 127.0.0.1: the address it carries is checked
    "64:ff9b::a00:1": "reserved",  # NAT64 of 10.0.0.1
}
ALLOWED_ADDRESSES = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4009:81a::200e"]


@pytest.mark.parametrize(("address", "reason"), REFUSED_ADDRESSES.items())
def test_an_address_that_is_not_public_is_refused(address: str, reason: str) -> None:
    refusal = rules.refusal(ipaddress.ip_address(address))
    assert refusal is not None
    assert refusal.endswith(f"is {reason}"), refusal


@pytest.mark.parametrize("address", ALLOWED_ADDRESSES)
def test_a_public_address_is_allowed(address: str) -> None:
    assert rules.refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "allow_private", "problem"),
    [
        ("http://example.com/hook", False, "an https:// URL"),
        ("ftp://example.com/hook", True, "an https:// URL"),
        ("https://user:secret@example.com/hook", False, "without a user name or password"),
        ("https://example.com/hook#x", False, "without a #fragment"),
        ("not a url", False, "an https:// URL"),
        ("https://" + "a" * 2000 + ".com/", False, "at most 2000 characters"),
    ],
)
def test_a_url_must_be_https_without_credentials(
    url: str, allow_private: bool, problem: str
) -> None:
    with pytest.raises(BadUserInput, match=problem) as raised:
        targets.checked(url, allow_private=allow_private)
    assert raised.value.field == "url"


async def test_a_name_is_resolved_and_every_address_checked() -> None:
    refused = targets.parse("https://localhost/hook", allow_private=False)
    with pytest.raises(targets.Refused, match="loopback"):
        await targets.resolve(refused, allow_private=False)
    literal = targets.parse("https://[::ffff:169.254.169.254]/", allow_private=False)
    with pytest.raises(targets.Refused):
        await targets.resolve(literal, allow_private=False)
    allowed = targets.parse("http://127.0.0.1:9/hook", allow_private=True)
    assert str(await targets.resolve(allowed, allow_private=True)) == "127.0.0.1"


CREATE = """
mutation ($url: String!, $types: [WebhookEventType!]!, $key: String!) {
  createWebhookSubscription(input: {url: $url, eventTypes: $types, idempotencyKey: $key}) {
    secret subscription { id kind odsCodes url eventTypes status }
  }
}
"""


def codes(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["extensions"]["code"], e["extensions"].get("field")) for e in body["errors"]]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",  # http, and loopback
        "https://127.0.0.1/hook",
        "https://10.0.0.7/hook",
        "https://[::1]/hook",
        "https://[::ffff:192.168.0.1]/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/hook",
    ],
)
async def test_by_default_a_loopback_private_or_http_url_is_refused_and_nothing_written(
    app: FastAPI, client: httpx.AsyncClient, token: Token, url: str
) -> None:
    body = await graphql(
        client,
        CREATE,
        {"url": url, "types": ["STATEMENT_PUBLISHED"], "key": "refused-url-1"},
        token=token("practice", ["A81001"]),
    )
    assert body["data"] is None
    assert codes(body) == [("BAD_USER_INPUT", "url")]
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookSubscription)) == 0
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) == 0


# --- who receives what -----------------------------------------------------------------------

PRACTICE = Principal(subject="manager@a81001", role=Role.PRACTICE, scope=frozenset({"A81001"}))
OTHER_PRACTICE = Principal(
    subject="manager@b82002", role=Role.PRACTICE, scope=frozenset({"B82002"})
)
ACCOUNTANT = Principal(subject="acct-books", role=Role.ACCOUNTANT, scope=frozenset())
LMC = Principal(subject="secretary@kernow", role=Role.LMC, scope=frozenset({"kernow"}))
OTHER_LMC = Principal(subject="secretary@essex", role=Role.LMC, scope=frozenset({"essex"}))
OPERATOR = Principal(subject="pcse-ops", role=Role.OPERATOR, scope=frozenset({"payments"}))
RECORDS_OPERATOR = Principal(subject="rec-ops", role=Role.OPERATOR, scope=frozenset({"records"}))

ANOMALY = {
    "anomalyId": 7,
    "odsCode": "A81001",
    "lmcCode": "kernow",
    "kind": "MISSING_PAYMENT",
    "component": "GLOBAL_SUM",
    "coversFrom": "2026-10-01",
    "coversTo": "2026-10-31",
    "direction": "underpaid",
    "amountAtStake": "10000.00",
    "firstDetectedAt": "2026-11-02T09:00:00+00:00",
    "resolvedAt": None,
}


def event(type_: str, payload: dict[str, Any], *, event_id: uuid.UUID | None = None) -> Event:
    return Event(
        event_id=event_id or uuid.uuid4(),
        stream="payments",
        type=type_,
        key=payload["odsCode"],
        payload=payload,
        occurred_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        position=1,
    )


async def subscribe(
    app: FastAPI,
    who: Principal,
    types: list[WebhookEventType],
    key: str,
    url: str = "http://127.0.0.1:9/hook",
) -> str:
    made = await service.create(
        app.state.sessionmaker,
        who,
        url=url,
        event_types=types,
        description=None,
        lmc=None,
        idempotency_key=key,
        allow_private=True,
    )
    assert made.secret is not None
    return made.subscription_id


@pytest.fixture
async def subscribers(
    app: FastAPI, make_practice: Any, client: httpx.AsyncClient
) -> dict[str, str]:
    """A81001 in kernow, B82002 in essex; acct-books holds A81001's consent. One subscription
    of each kind to anomalies (and an LMC's to escalatable disputes)."""
    await make_practice(ods_code="A81001", lmc_code="kernow")
    await make_practice(ods_code="B82002", lmc_code="essex")
    async with app.state.sessionmaker.begin() as session:
        session.add(
            AccountantConsent(
                ods_code="A81001", accountant_id="acct-books", granted_by="manager@a81001",
                granted_at=datetime.now(UTC),
            )
        )  # fmt: skip
    anomalies = [WebhookEventType.ANOMALY_RAISED, WebhookEventType.ANOMALY_RESOLVED]
    return {
        "practice": await subscribe(app, PRACTICE, anomalies, "sub-practice-1"),
        "other practice": await subscribe(app, OTHER_PRACTICE, anomalies, "sub-other-1"),
        "accountant": await subscribe(app, ACCOUNTANT, anomalies, "sub-acct-1"),
        "lmc": await subscribe(
            app, LMC, [*anomalies, WebhookEventType.DISPUTE_ESCALATABLE], "sub-lmc-1"
        ),
        "other lmc": await subscribe(app, OTHER_LMC, anomalies, "sub-lmc-2"),
        "operator": await subscribe(app, OPERATOR, anomalies, "sub-ops-1"),
    }


async def deliveries(app: FastAPI) -> dict[str, WebhookDelivery]:
    async with app.state.sessionmaker() as session:
        rows = await session.scalars(select(WebhookDelivery))
        return {row.subscription_id: row for row in rows}


async def test_each_subscriber_gets_its_own_practices_events_and_an_lmc_no_amounts(
    app: FastAPI, subscribers: dict[str, str]
) -> None:
    raised = event("anomaly.raised", ANOMALY)
    async with app.state.sessionmaker.begin() as session:
        assert await fanout.fan_out(session, raised) == 4
    found = await deliveries(app)
    names = {v: k for k, v in subscribers.items()}
    assert sorted(names[s] for s in found) == ["accountant", "lmc", "operator", "practice"]

    practice = json.loads(found[subscribers["practice"]].body)
    assert practice == {
        "type": "anomaly.raised",
        "timestamp": "2026-11-02T09:00:00+00:00",
        "eventId": str(raised.event_id),
        "data": ANOMALY,
        "withheld": [],
    }
    lmc = json.loads(found[subscribers["lmc"]].body)
    assert lmc["withheld"] == ["amountAtStake"]
    assert "amountAtStake" not in lmc["data"]
    assert lmc["data"]["odsCode"] == "A81001"
    assert lmc["data"]["kind"] == "MISSING_PAYMENT"
    assert json.loads(found[subscribers["accountant"]].body)["data"]["amountAtStake"] == "10000.00"

    # The same event again (a replayed stream) adds nothing.
    async with app.state.sessionmaker.begin() as session:
        assert await fanout.fan_out(session, raised) == 0
    assert len(await deliveries(app)) == 4


async def test_an_event_type_added_by_another_part_reaches_its_subscribers_without_its_amount(
    app: FastAPI, subscribers: dict[str, str]
) -> None:
    escalatable = {
        "reference": "D-00000001", "odsCode": "A81001", "lmcCode": "kernow",
        "openedOn": "2026-09-01", "ageDays": 41, "amountClaimed": "1234.50",
    }  # fmt: skip
    async with app.state.sessionmaker.begin() as session:
        assert await fanout.fan_out(session, event("dispute.escalatable", escalatable)) == 1
    [(subscription, row)] = (await deliveries(app)).items()
    assert subscription == subscribers["lmc"]
    body = json.loads(row.body)
    assert body["data"] == {
        "reference": "D-00000001", "odsCode": "A81001", "lmcCode": "kernow",
        "openedOn": "2026-09-01", "ageDays": 41,
    }  # fmt: skip
    assert body["withheld"] == ["amountClaimed"]


async def test_an_event_without_a_practice_is_dead_lettered(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    broken = Event(
        event_id=uuid.uuid4(), stream="payments", type="anomaly.raised", key="nobody",
        payload={"odsCode": "nobody"}, occurred_at=datetime.now(UTC), position=1,
    )  # fmt: skip
    async with app.state.sessionmaker.begin() as session:
        with pytest.raises(MalformedEvent):
            await fanout.fan_out(session, broken)


async def test_who_may_subscribe_to_what(app: FastAPI, client: httpx.AsyncClient) -> None:
    async def refused(who: Principal, types: list[WebhookEventType]) -> BadUserInput:
        with pytest.raises(BadUserInput) as raised:
            await subscribe(app, who, types, "refused-types-1")
        return raised.value

    error = await refused(LMC, [WebhookEventType.STATEMENT_PUBLISHED])
    assert error.field == "eventTypes"
    assert "lmc may not subscribe to statement.published" in error.message
    assert (await refused(ACCOUNTANT, [WebhookEventType.DISPUTE_ESCALATABLE])).field == "eventTypes"
    assert (await refused(PRACTICE, [])).field == "eventTypes"
    with pytest.raises(Forbidden):
        await subscribe(app, RECORDS_OPERATOR, [WebhookEventType.ANOMALY_RAISED], "records-1")
    # An LMC may follow its own area only.
    with pytest.raises(Forbidden):
        await service.create(
            app.state.sessionmaker, LMC, url="http://127.0.0.1:9/", lmc="essex",
            event_types=[WebhookEventType.ANOMALY_RAISED], description=None,
            idempotency_key="lmc-essex-1", allow_private=True,
        )  # fmt: skip


# --- the delivery worker ---------------------------------------------------------------------


class Endless(httpx.AsyncByteStream):
    """A response body that never ends: the worker must stop reading it."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 512


class Receiver:
    """A receiver behind httpx's transport: answers each request with the next status."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if self.statuses else 204
        headers = {"location": "https://elsewhere.example/"} if status == 302 else {}
        return httpx.Response(status, headers=headers, stream=Endless())


def worker(app: FastAPI, receiver: Receiver, **settings: Any) -> delivery.DeliveryWorker:
    return delivery.DeliveryWorker(
        app.state.sessionmaker,
        WebhookSettings(allow_private_targets=True, **settings),
        transport=httpx.MockTransport(receiver),
    )


async def secret_of(app: FastAPI, subscription_id: str) -> str:
    async with app.state.sessionmaker() as session:
        row = await session.get(WebhookSubscription, subscription_id)
        assert row is not None
        secret: str = row.secret
        return secret


async def test_a_delivery_is_signed_retried_on_schedule_and_sent_once_delivered(
    app: FastAPI, subscribers: dict[str, str]
) -> None:
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id != subscribers["practice"])
            .values(status=SubscriptionStatus.PAUSED)
        )
        await fanout.fan_out(session, event("anomaly.raised", ANOMALY))
    receiver = Receiver(503, 302)
    sender = worker(app, receiver)
    async with sender.client() as client:
        assert await sender.send_one(client)  # 503
        row = (await deliveries(app))[subscribers["practice"]]
        assert (row.status, row.attempts, row.last_response_status) == (
            DeliveryStatus.PENDING,
            1,
            503,
        )
        assert row.last_error == "HTTP 503"
        assert row.next_attempt_at is not None
        assert row.last_attempt_at is not None
        # Retried 48 to 60 seconds later (1 minute less up to a fifth).
        wait = row.next_attempt_at - row.last_attempt_at
        assert timedelta(seconds=48) <= wait <= timedelta(seconds=60)
        assert not await sender.send_one(client)  # not due yet: nothing sent

        async with app.state.sessionmaker.begin() as session:
            await session.execute(update(WebhookDelivery).values(next_attempt_at=func.now()))
        assert await sender.send_one(client)  # 302: not followed
        row = (await deliveries(app))[subscribers["practice"]]
        assert (row.attempts, row.last_response_status) == (2, 302)
        assert row.last_error == "redirects are not followed"

        async with app.state.sessionmaker.begin() as session:
            await session.execute(update(WebhookDelivery).values(next_attempt_at=func.now()))
        assert await sender.send_one(client)  # 204
        row = (await deliveries(app))[subscribers["practice"]]
        assert (row.status, row.attempts, row.next_attempt_at) == (
            DeliveryStatus.DELIVERED,
            3,
            None,
        )
        assert not await sender.send_one(client)

    assert len(receiver.requests) == 3
    assert {r.headers["webhook-id"] for r in receiver.requests} == {row.webhook_id}
    secret = await secret_of(app, subscribers["practice"])
    for request in receiver.requests:
        assert request.headers["host"] == "127.0.0.1:9"
        assert request.headers["content-type"] == "application/json"
        assert Webhook(secret).verify(request.content, dict(request.headers))["data"] == ANOMALY


async def test_the_last_attempt_fails_the_delivery_and_long_failure_disables_the_subscription(
    app: FastAPI, subscribers: dict[str, str]
) -> None:
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id != subscribers["practice"])
            .values(status=SubscriptionStatus.PAUSED)
        )
        await fanout.fan_out(session, event("anomaly.raised", ANOMALY))
        # Fifteen attempts failed already, the first of them six days ago.
        await session.execute(update(WebhookDelivery).values(attempts=15))
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == subscribers["practice"])
            .values(failing_since=datetime.now(UTC) - timedelta(days=6))
        )
    sender = worker(app, Receiver(500))
    async with sender.client() as client:
        assert await sender.send_one(client)
    row = (await deliveries(app))[subscribers["practice"]]
    assert (row.status, row.attempts, row.next_attempt_at) == (DeliveryStatus.FAILED, 16, None)
    async with app.state.sessionmaker() as session:
        subscription = await session.get(WebhookSubscription, subscribers["practice"])
        assert subscription is not None
        assert subscription.status is SubscriptionStatus.DISABLED
        assert subscription.status_reason is not None
        assert "every attempt failed since" in subscription.status_reason

    # Disabled: nothing more is recorded for it (the three paused ones keep theirs).
    async with app.state.sessionmaker.begin() as session:
        assert await fanout.fan_out(session, event("anomaly.raised", ANOMALY)) == 3
        mine = await session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.subscription_id == subscribers["practice"])
        )
    assert mine == 1


async def test_a_withdrawn_consent_withholds_what_was_waiting(
    app: FastAPI, subscribers: dict[str, str]
) -> None:
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id != subscribers["accountant"])
            .values(status=SubscriptionStatus.PAUSED)
        )
        await fanout.fan_out(session, event("anomaly.raised", ANOMALY))
        await session.execute(update(AccountantConsent).values(revoked_at=func.now()))
    receiver = Receiver()
    sender = worker(app, receiver)
    async with sender.client() as client:
        assert await sender.send_one(client)
    row = (await deliveries(app))[subscribers["accountant"]]
    assert row.status is DeliveryStatus.WITHHELD
    assert receiver.requests == []
    # And nothing new is recorded for it.
    async with app.state.sessionmaker.begin() as session:
        assert await fanout.fan_out(session, event("anomaly.raised", ANOMALY)) == 3


async def test_two_senders_never_send_one_delivery_twice(
    app: FastAPI, subscribers: dict[str, str]
) -> None:
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id != subscribers["practice"])
            .values(status=SubscriptionStatus.PAUSED)
        )
        await fanout.fan_out(session, event("anomaly.raised", ANOMALY))
    calls: list[str] = []

    async def slow(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["webhook-id"])
        await asyncio.sleep(0.3)
        return httpx.Response(200)

    first = delivery.DeliveryWorker(
        app.state.sessionmaker,
        WebhookSettings(allow_private_targets=True),
        transport=httpx.MockTransport(slow),
    )
    second = delivery.DeliveryWorker(
        app.state.sessionmaker,
        WebhookSettings(allow_private_targets=True),
        transport=httpx.MockTransport(slow),
    )
    async with first.client() as a, second.client() as b:
        sent = await asyncio.gather(first.send_one(a), second.send_one(b))
    assert sorted(sent) == [False, True]
    assert len(calls) == 1


async def test_a_url_that_now_resolves_to_a_private_address_is_not_called(
    app: FastAPI, subscribers: dict[str, str]
) -> None:
    """Checked again at delivery: with private targets refused, the loopback receiver the
    subscription names is not called, and the attempt says why."""
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id != subscribers["practice"])
            .values(status=SubscriptionStatus.PAUSED)
        )
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == subscribers["practice"])
            .values(url="https://localhost:9/hook")
        )
        await fanout.fan_out(session, event("anomaly.raised", ANOMALY))
    receiver = Receiver()
    sender = delivery.DeliveryWorker(
        app.state.sessionmaker, WebhookSettings(), transport=httpx.MockTransport(receiver)
    )
    async with sender.client() as client:
        assert await sender.send_one(client)
    row = (await deliveries(app))[subscribers["practice"]]
    assert row.status is DeliveryStatus.PENDING
    assert row.last_error is not None
    assert row.last_error.startswith("refused: localhost resolves to an address not allowed")
    assert receiver.requests == []


# --- the API ---------------------------------------------------------------------------------

LIST = """
{ webhookSubscriptions { id kind odsCodes lmcCode status eventTypes
    deliveries(first: 5) { nodes { webhookId eventType status attempts } } } }
"""


async def test_the_secret_is_shown_once_and_each_sees_only_its_own_subscriptions(
    app: FastAPI, client: httpx.AsyncClient, token: Token, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "webhooks", lambda: WebhookSettings(allow_private_targets=True))
    practice = token("practice", ["A81001"], subject="manager@a81001")
    variables = {"url": "http://127.0.0.1:9/hook", "types": ["ANOMALY_RAISED"], "key": "made-0001"}
    first = await graphql(client, CREATE, variables, token=practice)
    made = first["data"]["createWebhookSubscription"]
    assert made["secret"].startswith("whsec_")
    assert made["subscription"]["kind"] == "PRACTICE"
    assert made["subscription"]["odsCodes"] == ["A81001"]
    again = await graphql(client, CREATE, variables, token=practice)
    assert again["data"]["createWebhookSubscription"]["secret"] is None
    assert again["data"]["createWebhookSubscription"]["subscription"] == made["subscription"]

    mine = await graphql(client, LIST, token=token("practice", ["A81001"], subject="nurse@a81001"))
    assert [s["id"] for s in mine["data"]["webhookSubscriptions"]] == [made["subscription"]["id"]]
    for other in (token("practice", ["B82002"]), token("lmc", ["kernow"]), token("accountant")):
        assert (await graphql(client, LIST, token=other))["data"]["webhookSubscriptions"] == []
    ops = await graphql(client, LIST, token=token("operator", ["payments"]))
    assert len(ops["data"]["webhookSubscriptions"]) == 1

    rotate = (
        "mutation ($id: ID!, $key: String!) { rotateWebhookSecret(input: {id: $id, "
        "idempotencyKey: $key}) { secret } }"
    )
    rotated = await graphql(
        client, rotate, {"id": made["subscription"]["id"], "key": "rotate-0001"}, token=practice
    )
    new_secret = rotated["data"]["rotateWebhookSecret"]["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != made["secret"]
    refused = await graphql(
        client, rotate, {"id": made["subscription"]["id"], "key": "rotate-0002"},
        token=token("practice", ["B82002"]),
    )  # fmt: skip
    assert codes(refused) == [("FORBIDDEN", None)]

    # Nothing the API shows, and nothing in the audit trail, holds a secret.
    async with app.state.sessionmaker() as session:
        found = await session.execute(select(AuditEvent.c.before, AuditEvent.c.after))
        trail = [json.dumps([before, after]) for before, after in found]
        remembered = [
            json.dumps(r) for r in await session.scalars(select(IdempotencyKey.c.response))
        ]
    assert len(remembered) == 2
    assert not [line for line in remembered if "whsec_" in line]
    assert trail
    assert not [line for line in trail if "whsec_" in line]


async def test_paused_deliveries_wait_for_a_resume_and_a_deleted_subscription_takes_nothing(
    app: FastAPI, subscribers: dict[str, str]
) -> None:
    sub = subscribers["practice"]
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id != sub)
            .values(status=SubscriptionStatus.DELETED)
        )

    async def change(to: SubscriptionStatus, key: str) -> None:
        await service.change_status(
            app.state.sessionmaker, PRACTICE, subscription_id=sub, to=to, idempotency_key=key
        )

    await change(SubscriptionStatus.PAUSED, "pause-0001")
    async with app.state.sessionmaker.begin() as session:
        assert await fanout.fan_out(session, event("anomaly.raised", ANOMALY)) == 1
    receiver = Receiver()
    sender = worker(app, receiver)
    async with sender.client() as client:
        assert not await sender.send_one(client)  # held while paused
        await change(SubscriptionStatus.ACTIVE, "resume-0001")
        assert await sender.send_one(client)
    assert len(receiver.requests) == 1
    assert (await deliveries(app))[sub].status is DeliveryStatus.DELIVERED

    # Another practice's staff may not touch it, whether or not it exists.
    with pytest.raises(Forbidden):
        await service.change_status(
            app.state.sessionmaker, OTHER_PRACTICE, subscription_id=sub,
            to=SubscriptionStatus.DELETED, idempotency_key="delete-other-1",
        )  # fmt: skip
    await change(SubscriptionStatus.DELETED, "delete-0001")
    async with app.state.sessionmaker.begin() as session:
        assert await fanout.fan_out(session, event("anomaly.raised", ANOMALY)) == 0
        row = await session.get(WebhookSubscription, sub)
        assert row is not None
        assert row.secret is None
        actions = list(
            await session.scalars(
                select(AuditEvent.c.action)
                .where(AuditEvent.c.entity_key == sub)
                .order_by(AuditEvent.c.id)
            )
        )
    assert actions == ["create", "pause", "resume", "delete"]
