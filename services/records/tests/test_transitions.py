"""Every status change, allowed or refused, on the real database: a refusal writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit.testing import graphql
from records import rules
from records.models import AuditEvent, MovementEvent, MovementStatus, Scan
from sqlalchemy import func, select

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

S = MovementStatus
UPDATE = """
mutation ($number: String!, $status: MovementStatus!, $key: String!) {
  updateRecordMovement(input: {movementNumber: $number, status: $status, idempotencyKey: $key}) {
    status history { kind fromStatus toStatus recordedBy }
  }
}
"""
SCAN = """
mutation ($scan: String!, $number: String!, $kind: ScanKind!, $at: DateTime!) {
  recordCourierScan(input: {scanId: $scan, movementNumber: $number, kind: $kind,
                            scannedAt: $at}) {
    status collectedAt deliveredAt
  }
}
"""
CANCEL = """
mutation ($number: String!, $key: String!) {
  cancelRecordMovement(input: {movementNumber: $number, reason: "Registered in error",
                               idempotencyKey: $key}) {
    status history { kind note }
  }
}
"""


async def written(app: FastAPI) -> tuple[int, int, int]:
    """(history rows, audit events, scans): what a refused change must leave alone."""
    async with app.state.sessionmaker() as session:
        return (
            await session.scalar(select(func.count()).select_from(MovementEvent)) or 0,
            await session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
            await session.scalar(select(func.count()).select_from(Scan)) or 0,
        )


# Collected and delivered come from scans, cancelled from the cancel mutation, a wrong record
# from the receiving practice's receipt: tested elsewhere.
BY_UPDATE = [s for s in S if s not in rules.FROM_SCANS | rules.FROM_RECEIPT | {S.CANCELLED}]
PAIRS = [(current, target) for current in S for target in BY_UPDATE if current is not target]


@pytest.mark.parametrize(("current", "target"), PAIRS, ids=str)
async def test_each_status_change_is_allowed_or_refused_as_the_table_says(
    app: FastAPI,
    make_movement: Any,
    client: httpx.AsyncClient,
    current: MovementStatus,
    target: MovementStatus,
) -> None:
    number = await make_movement(status=current)
    variables = {"number": number, "status": target.name, "key": f"t-{current}-{target}"}

    body = await graphql(client, UPDATE, variables)

    if rules.allowed(current, target):
        moved = body["data"]["updateRecordMovement"]
        assert moved["status"] == target.name
        assert moved["history"][-1] == {
            "kind": "STATUS_CHANGED",
            "fromStatus": current.name,
            "toStatus": target.name,
            "recordedBy": "test-admin",
        }
        assert await written(app) == (1, 1, 0)
    else:
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "status"}
        assert body["data"] is None
        assert await written(app) == (0, 0, 0)


@pytest.mark.parametrize("current", list(S), ids=str)
async def test_a_collection_scan_is_allowed_or_refused_as_the_table_says(
    app: FastAPI, make_movement: Any, client: httpx.AsyncClient, current: MovementStatus
) -> None:
    number = await make_movement(status=current)
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

    body = await graphql(
        client, SCAN, {"scan": f"c-{current}", "number": number, "kind": "COLLECTION", "at": at}
    )

    if rules.allowed(current, S.COLLECTED):
        assert body["data"]["recordCourierScan"]["status"] == "COLLECTED"
        assert await written(app) == (1, 1, 1)
    else:
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "status"}
        assert await written(app) == (0, 0, 0)


@pytest.mark.parametrize("current", list(S), ids=str)
async def test_cancelling_is_allowed_only_before_collection(
    app: FastAPI, make_movement: Any, client: httpx.AsyncClient, current: MovementStatus
) -> None:
    number = await make_movement(status=current)

    body = await graphql(client, CANCEL, {"number": number, "key": f"cancel-{current}"})

    if rules.allowed(current, S.CANCELLED):
        cancelled = body["data"]["cancelRecordMovement"]
        assert cancelled["status"] == "CANCELLED"
        assert cancelled["history"] == [{"kind": "CANCELLED", "note": "Registered in error"}]
    else:
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "status"}
        assert await written(app) == (0, 0, 0)


async def test_a_delivery_before_a_collection_is_refused_and_writes_nothing(
    app: FastAPI, make_movement: Any, client: httpx.AsyncClient
) -> None:
    number = await make_movement(status=S.READY_FOR_COLLECTION)
    at = datetime.now(UTC).isoformat()

    body = await graphql(
        client, SCAN, {"scan": "d-early-1", "number": number, "kind": "DELIVERY", "at": at}
    )

    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "status"}
    assert error["message"] == "A delivery scan needs a collection scan first."
    assert await written(app) == (0, 0, 0)


async def test_collection_then_delivery_scans_drive_the_status_and_a_resent_scan_is_a_no_op(
    app: FastAPI, make_movement: Any, client: httpx.AsyncClient
) -> None:
    number = await make_movement(status=S.READY_FOR_COLLECTION)
    collected = datetime.now(UTC) - timedelta(hours=5)
    delivered = collected + timedelta(hours=3)
    collection = {"scan": "cs-0001", "number": number, "kind": "COLLECTION"}
    delivery = {"scan": "cs-0002", "number": number, "kind": "DELIVERY"}

    first = await graphql(client, SCAN, {**collection, "at": collected.isoformat()})
    again = await graphql(client, SCAN, {**collection, "at": collected.isoformat()})
    done = await graphql(client, SCAN, {**delivery, "at": delivered.isoformat()})
    late_resend = await graphql(client, SCAN, {**collection, "at": collected.isoformat()})

    assert first["data"]["recordCourierScan"]["status"] == "COLLECTED"
    assert again["data"]["recordCourierScan"]["status"] == "COLLECTED"
    assert done["data"]["recordCourierScan"]["status"] == "DELIVERED"
    assert late_resend["data"]["recordCourierScan"]["status"] == "DELIVERED"
    assert await written(app) == (2, 2, 2)


async def test_a_scan_id_reused_for_another_scan_is_a_conflict(
    app: FastAPI, make_movement: Any, client: httpx.AsyncClient
) -> None:
    number = await make_movement(status=S.READY_FOR_COLLECTION)
    at = datetime.now(UTC) - timedelta(hours=1)
    await graphql(
        client,
        SCAN,
        {"scan": "dup-1", "number": number, "kind": "COLLECTION", "at": at.isoformat()},
    )

    body = await graphql(
        client,
        SCAN,
        {
            "scan": "dup-1",
            "number": number,
            "kind": "DELIVERY",
            "at": datetime.now(UTC).isoformat(),
        },
    )

    assert body["errors"][0]["extensions"] == {"code": "CONFLICT", "field": "scanId"}
    assert await written(app) == (1, 1, 1)


@pytest.mark.parametrize(
    ("variables", "code", "field"),
    [
        ({"number": "MV99999999"}, "NOT_FOUND", "movementNumber"),
        ({"number": "mv-1"}, "BAD_USER_INPUT", "movementNumber"),
        ({"scan": "has space"}, "BAD_USER_INPUT", "scanId"),
        ({"at": "2026-01-01T10:00:00"}, "BAD_USER_INPUT", "scannedAt"),
        (
            {"at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
            "BAD_USER_INPUT",
            "scannedAt",
        ),
        ({"at": "2000-01-01T10:00:00+00:00"}, "BAD_USER_INPUT", "scannedAt"),
    ],
)
async def test_bad_scans_are_typed_errors_and_write_nothing(
    app: FastAPI,
    make_movement: Any,
    client: httpx.AsyncClient,
    variables: dict[str, str],
    code: str,
    field: str,
) -> None:
    number = await make_movement(status=S.READY_FOR_COLLECTION)
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    defaults = {"scan": "bad-1", "number": number, "kind": "COLLECTION", "at": at}

    body = await graphql(client, SCAN, {**defaults, **variables})

    assert body["errors"][0]["extensions"] == {"code": code, "field": field}
    assert await written(app) == (0, 0, 0)
