"""Who may see record movements, and who may see a patient's NHS number."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit.testing import Token, graphql

if TYPE_CHECKING:
    import httpx

MOVEMENTS = """
query ($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Practice { odsCode recordMovements { nodes { movementNumber nhsNumber } } }
  }
}
"""
NHS_NUMBER = "9434765919"


def reps(*codes: str) -> dict[str, Any]:
    return {"reps": [{"__typename": "Practice", "odsCode": code} for code in codes]}


async def test_both_ends_of_a_movement_see_the_nhs_number(
    make_movement: Any, client: httpx.AsyncClient, token: Token
) -> None:
    number = await make_movement(sender="A81001", receiver="B82002", nhs_number=NHS_NUMBER)

    for code in ("A81001", "B82002"):
        body = await graphql(client, MOVEMENTS, reps(code), token=token("practice", [code]))
        assert body["data"]["_entities"][0]["recordMovements"]["nodes"] == [
            {"movementNumber": number, "nhsNumber": NHS_NUMBER}
        ]


@pytest.mark.parametrize(("role", "scope"), [("admin", []), ("operator", ["records"])])
async def test_operators_and_admins_see_movements_but_never_the_nhs_number(
    make_movement: Any, client: httpx.AsyncClient, token: Token, role: str, scope: list[str]
) -> None:
    await make_movement(sender="A81001", receiver="B82002", nhs_number=NHS_NUMBER)

    body = await graphql(client, MOVEMENTS, reps("A81001"), token=token(role, scope))

    [node] = body["data"]["_entities"][0]["recordMovements"]["nodes"]
    assert node["nhsNumber"] is None
    assert NHS_NUMBER not in str(body)


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        ("practice", ["C83003"]),
        ("lmc", ["kernow"]),
        ("accountant", []),
        ("operator", ["payments"]),
    ],
)
async def test_no_one_else_sees_a_practices_movements(
    make_movement: Any, client: httpx.AsyncClient, token: Token, role: str, scope: list[str]
) -> None:
    await make_movement(sender="A81001", receiver="B82002", nhs_number=NHS_NUMBER)

    body = await graphql(client, MOVEMENTS, reps("A81001", "B82002"), token=token(role, scope))

    assert body["data"]["_entities"] == [None, None]
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
    assert NHS_NUMBER not in str(body)
