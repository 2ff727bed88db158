from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pcse_kit.db import StatementCounter
from pcse_kit.testing import graphql
from records.models import MovementStatus

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

MOVEMENTS = """
query ($reps: [_Any!]!, $direction: Direction, $status: [MovementStatus!], $first: Int,
       $after: String) {
  _entities(representations: $reps) {
    ... on Practice {
      odsCode
      recordMovements(direction: $direction, status: $status, first: $first, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes {
          movementNumber nhsNumber direction status sendingOdsCode receivingOdsCode
          ageDays daysInStatus
        }
      }
    }
  }
}
"""


async def movements(
    client: httpx.AsyncClient, codes: list[str], **variables: Any
) -> dict[str, Any]:
    reps = [{"__typename": "Practice", "odsCode": code} for code in codes]
    return await graphql(client, MOVEMENTS, {"reps": reps, **variables})


def page_of(body: dict[str, Any], index: int = 0) -> dict[str, Any]:
    assert "errors" not in body, body
    page: dict[str, Any] = body["data"]["_entities"][index]["recordMovements"]
    return page


async def test_a_practice_sees_movements_in_and_out_with_status_and_age(
    make_movement: Any, client: httpx.AsyncClient
) -> None:
    incoming = await make_movement(sender="B82002", receiver="A81001", requested_days_ago=3)
    outgoing = await make_movement(
        sender="A81001",
        receiver="C83003",
        status=MovementStatus.COLLECTED,
        requested_days_ago=9,
    )
    await make_movement(sender="B82002", receiver="C83003")  # not A81001's

    nodes = page_of(await movements(client, ["A81001"]))["nodes"]

    assert [(n["movementNumber"], n["direction"], n["status"]) for n in nodes] == [
        (incoming, "IN", "REQUESTED"),
        (outgoing, "OUT", "COLLECTED"),
    ]
    assert [(n["ageDays"], n["daysInStatus"]) for n in nodes] == [(3, 2), (9, 8)]


async def test_movements_filter_by_direction_and_status(
    make_movement: Any, client: httpx.AsyncClient
) -> None:
    await make_movement(sender="B82002", receiver="A81001")
    delivered = await make_movement(
        sender="A81001", receiver="C83003", status=MovementStatus.DELIVERED
    )
    await make_movement(sender="A81001", receiver="C83003", status=MovementStatus.LOST)

    outgoing = page_of(await movements(client, ["A81001"], direction="OUT"))["nodes"]
    assert len(outgoing) == 2
    delivered_only = page_of(await movements(client, ["A81001"], status=["DELIVERED"]))["nodes"]
    assert [n["movementNumber"] for n in delivered_only] == [delivered]


async def test_a_movement_to_central_storage_has_no_receiving_practice(
    make_movement: Any, client: httpx.AsyncClient
) -> None:
    await make_movement(sender="A81001", receiver=None, status=MovementStatus.IN_CENTRAL_STORAGE)
    [node] = page_of(await movements(client, ["A81001"]))["nodes"]
    assert node["receivingOdsCode"] is None
    assert node["status"] == "IN_CENTRAL_STORAGE"


async def test_movements_paginate_newest_first(
    make_movement: Any, client: httpx.AsyncClient
) -> None:
    numbers = [await make_movement(requested_days_ago=days) for days in (5, 4, 3, 2, 1)]

    first = page_of(await movements(client, ["A81001"], first=2))
    second = page_of(
        await movements(client, ["A81001"], first=2, after=first["pageInfo"]["endCursor"])
    )
    third = page_of(
        await movements(client, ["A81001"], first=2, after=second["pageInfo"]["endCursor"])
    )

    seen = [n["movementNumber"] for page in (first, second, third) for n in page["nodes"]]
    assert seen == list(reversed(numbers))
    assert [p["pageInfo"]["hasNextPage"] for p in (first, second, third)] == [True, True, False]


async def test_a_made_up_cursor_is_a_typed_error(client: httpx.AsyncClient) -> None:
    body = await movements(client, ["A81001"], after="WyJub3QgYSB0aW1lIiwgMV0=")
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


async def test_statement_count_does_not_grow_with_the_number_of_practices(
    make_movement: Any, app: FastAPI, client: httpx.AsyncClient
) -> None:
    codes = [f"A{81001 + i}" for i in range(50)]
    for code in codes:
        await make_movement(sender="Y00001", receiver=code)

    counts = []
    for batch in (codes[:1], codes):
        with StatementCounter().attached(app.state.engine) as counter:
            body = await movements(client, batch)
        assert all(e["recordMovements"]["nodes"] for e in body["data"]["_entities"])
        counts.append(counter.count)

    assert counts == [1, 1]
