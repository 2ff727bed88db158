"""The rules of webhooks that need no database: which events a subscriber may have, what of
them it is shown, how a delivery is signed, when it is retried, and which addresses it may
reach.

Signatures follow the Standard Webhooks specification (standardwebhooks.com, read 3 December
2026): headers ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``,
``v1,`` and the base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` keyed with the secret's
bytes; the secret is ``whsec_`` and base64. The signing is the project's own library
(``standardwebhooks``: no dependencies of its own, the standard library's hmac inside), so a
receiver using it verifies exactly what is signed here.
"""

from __future__ import annotations

import base64
import enum
import ipaddress
import json
import random
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from standardwebhooks.webhooks import Webhook

from payments import events
from payments.models import SubscriberKind

if TYPE_CHECKING:
    from collections.abc import Mapping


class WebhookEventType(enum.StrEnum):
    """Every payments event a webhook may carry (docs/events.md, stream ``payments``). A new
    event type of the stream becomes subscribable by adding it here and to the rights below;
    nothing else is written per type."""

    STATEMENT_PUBLISHED = events.STATEMENT_PUBLISHED
    STATEMENT_CHANGED = events.STATEMENT_CHANGED
    ANOMALY_RAISED = events.ANOMALY_RAISED
    ANOMALY_RESOLVED = events.ANOMALY_RESOLVED
    DISPUTE_ESCALATABLE = events.DISPUTE_ESCALATABLE
    DEADLINE_APPROACHING = events.DEADLINE_APPROACHING


ALL_TYPES: Final = frozenset(WebhookEventType)

MAY_SUBSCRIBE: Final[Mapping[SubscriberKind, frozenset[WebhookEventType]]] = {
    # The practice, and this domain's operators and admins: everything about it.
    SubscriberKind.PRACTICE: ALL_TYPES,
    SubscriberKind.OPERATOR: ALL_TYPES,
    # An accountant's consent reaches the practice's payments, not its disputes with PCSE
    # (policy.read_disputes) nor its to-do list.
    SubscriberKind.ACCOUNTANT: frozenset(
        {
            WebhookEventType.STATEMENT_PUBLISHED,
            WebhookEventType.STATEMENT_CHANGED,
            WebhookEventType.ANOMALY_RAISED,
            WebhookEventType.ANOMALY_RESOLVED,
        }
    ),
    # An LMC learns which of its practices are affected and by what, never how much one
    # practice is owed (the LMC summary's rule, payments/disclosure.py): the problems and the
    # disputes it may be asked to escalate, without their amounts. A statement arriving is a
    # single practice's payments, which an LMC does not see here.
    SubscriberKind.LMC: frozenset(
        {
            WebhookEventType.ANOMALY_RAISED,
            WebhookEventType.ANOMALY_RESOLVED,
            WebhookEventType.DISPUTE_ESCALATABLE,
        }
    ),
}


def _is_money(field: str) -> bool:
    # Every sum of money in the stream's payloads is named amount... (amountAtStake,
    # amountClaimed): withheld by name, so a new type's money is withheld without a change here.
    return field.startswith("amount")


def shown(kind: SubscriberKind, payload: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The payload as the subscriber may see it, and the fields withheld from it."""
    if kind is not SubscriberKind.LMC:
        return dict(payload), []
    withheld = sorted(field for field in payload if _is_money(field))
    return {k: v for k, v in payload.items() if k not in withheld}, withheld


def body(
    *,
    kind: SubscriberKind,
    event_id: str,
    event_type: str,
    occurred_at: datetime,
    payload: Mapping[str, Any],
) -> str:
    """What is sent: the Standard Webhooks shape (``type``, ``timestamp``, ``data``), the
    event's id, and the names of fields withheld from this subscriber."""
    data, withheld = shown(kind, payload)
    return json.dumps(
        {
            "type": event_type,
            "timestamp": occurred_at.astimezone(UTC).isoformat(),
            "eventId": event_id,
            "data": data,
            "withheld": withheld,
        },
        separators=(",", ":"),
        sort_keys=True,
    )


_WEBHOOK_IDS: Final = uuid.UUID("6f1c1b0e-4a52-4d55-9b8e-7061796d656e")


def webhook_id(subscription_id: str, event_id: str) -> str:
    """The ``webhook-id`` of an event sent to a subscription: the same however often it is
    fanned out, retried or replayed, so the receiver dedupes by it."""
    return "msg_" + uuid.uuid5(_WEBHOOK_IDS, f"{subscription_id}/{event_id}").hex


def new_secret() -> str:
    """``whsec_`` and the base64 of 32 random bytes (256 bits, HMAC-SHA256's block of key)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, *, message_id: str, timestamp: datetime, body: str) -> str:
    """The ``webhook-signature`` header: ``v1,<base64 HMAC-SHA256 of id.timestamp.body>``."""
    return Webhook(secret).sign(message_id, timestamp, body)


def headers(secret: str, *, message_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature(
            secret, message_id=message_id, timestamp=timestamp, body=body
        ),
        "content-type": "application/json",
    }


# --- retries ----------------------------------------------------------------------------------

MAX_ATTEMPTS: Final = 16
"""The first attempt and 15 retries: the last about 77 hours (3 days 5 hours) after the first
at the default base of a minute."""
CAP_FACTOR: Final = 720
"""No wait is longer than this many bases: 12 hours at the default."""


def nominal_delay(attempts: int, *, base: float) -> timedelta | None:
    """How long after the ``attempts``-th failed attempt the next one is due, before jitter;
    None when that was the last. Doubling from ``base``: 1, 2, 4, ... 512 minutes, then 12
    hours, at the default base of 60 seconds."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return timedelta(seconds=base * min(2 ** (attempts - 1), CAP_FACTOR))


def delay(attempts: int, *, base: float) -> timedelta | None:
    """:func:`nominal_delay` less up to a fifth at random: deliveries that failed together (a
    receiver down) do not all come back at the same instant."""
    nominal = nominal_delay(attempts, base=base)
    if nominal is None:
        return None
    return nominal * random.uniform(0.8, 1.0)  # noqa: S311 - spreading load, not cryptography


# --- addresses --------------------------------------------------------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _embedded(address: IPAddress) -> list[IPAddress]:
    """The address and any IPv4 address it carries (IPv4-mapped, 6to4, Teredo), each of which
    must be allowed: ``::ffff:127.0.0.1`` reaches the loopback."""
    found: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address.teredo is not None:
            found.extend(address.teredo)
        # NAT64's well-known prefix (RFC 6052) carries an IPv4 address in its last 32 bits.
        if address in ipaddress.IPv6Network("64:ff9b::/96"):
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def refusal(address: IPAddress) -> str | None:
    """Why a webhook may not be sent to this address, or None if it may: only addresses
    reachable on the public internet."""
    for each in _embedded(address):
        for test, reason in (
            (each.is_unspecified, "unspecified"),
            (each.is_loopback, "loopback"),
            (each.is_link_local, "link-local"),
            (each.is_multicast, "multicast"),
            (each.is_private, "private"),
            (each.is_reserved, "reserved"),
            (not each.is_global, "not globally reachable"),
        ):
            if test:
                return f"{each} is {reason}"
    return None
