from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from pcse_kit.db import StatementCounter
from pcse_kit.testing import graphql
from sqlalchemy import event

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

STATEMENTS = """
query ($reps: [_Any!]!, $first: Int, $after: String) {
  _entities(representations: $reps) {
    ... on Practice {
      odsCode
      payments {
        statements(first: $first, after: $after) {
          pageInfo { hasNextPage endCursor }
          nodes {
            period paymentDate sourceSystem gross deductions net
            lines { component paycode amount isDeduction }
          }
        }
      }
    }
  }
}
"""


def practice(code: str) -> dict[str, str]:
    return {"__typename": "Practice", "odsCode": code}


async def statements(
    client: httpx.AsyncClient, codes: list[str], **variables: Any
) -> dict[str, Any]:
    return await graphql(
        client, STATEMENTS, {"reps": [practice(code) for code in codes], **variables}
    )


async def test_a_statement_has_its_lines_and_totals_to_the_penny(
    make_statement: Any, client: httpx.AsyncClient
) -> None:
    await make_statement()

    body = await statements(client, ["A81001"])

    assert "errors" not in body
    [node] = body["data"]["_entities"][0]["payments"]["statements"]["nodes"]
    assert node["period"] == "2026-10-01"
    assert node["gross"] == "11234.56"
    assert node["deductions"] == "-111.10"
    assert node["net"] == "11123.46"
    assert [(line["component"], line["amount"], line["isDeduction"]) for line in node["lines"]] == [
        ("GLOBAL_SUM", "10000.00", False),
        ("QOF_ASPIRATION", "1234.56", False),
        ("EMPLOYEE_SUPERANNUATION", "-98.76", True),
        ("LMC_STATUTORY_LEVY", "-12.34", True),
    ]


async def test_statements_are_newest_first_and_paginate_by_cursor(
    make_statement: Any, client: httpx.AsyncClient
) -> None:
    for month in (7, 8, 9, 10):
        await make_statement(period=date(2026, month, 1))

    first = await statements(client, ["A81001"], first=3)
    page = first["data"]["_entities"][0]["payments"]["statements"]
    assert [n["period"] for n in page["nodes"]] == ["2026-10-01", "2026-09-01", "2026-08-01"]
    assert page["pageInfo"]["hasNextPage"] is True

    second = await statements(client, ["A81001"], first=3, after=page["pageInfo"]["endCursor"])
    rest = second["data"]["_entities"][0]["payments"]["statements"]
    assert [n["period"] for n in rest["nodes"]] == ["2026-07-01"]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_a_practice_sees_only_its_own_statements(
    make_statement: Any, client: httpx.AsyncClient
) -> None:
    await make_statement(ods_code="A81001")
    await make_statement(ods_code="B82002")

    body = await statements(client, ["A81001", "C83003"])

    a81001, c83003 = body["data"]["_entities"]
    assert len(a81001["payments"]["statements"]["nodes"]) == 1
    assert c83003 == {
        "odsCode": "C83003",
        "payments": {
            "statements": {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": []}
        },
    }


async def test_bad_page_arguments_are_typed_errors(client: httpx.AsyncClient) -> None:
    for variables, field in (
        ({"first": 0}, "first"),
        ({"first": 101}, "first"),
        ({"after": "not-a-cursor"}, "after"),
        ({"after": "WyJub3QgYSBkYXRlIl0="}, "after"),  # a well-formed cursor holding no date
    ):
        body = await statements(client, ["A81001"], **variables)
        [error] = body["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


async def test_statement_count_does_not_grow_with_the_number_of_practices(
    make_statement: Any, app: FastAPI, client: httpx.AsyncClient
) -> None:
    codes = [f"A{81001 + i}" for i in range(50)]
    for code in codes:
        await make_statement(ods_code=code)

    counts = []
    for batch in (codes[:1], codes):
        with StatementCounter().attached(app.state.engine) as counter:
            body = await statements(client, batch)
        assert "errors" not in body
        assert all(e["payments"]["statements"]["nodes"] for e in body["data"]["_entities"])
        counts.append(counter.count)

    # One statement for the statements page and all their lines.
    assert counts == [1, 1]


PERIODS_ONLY = """
query ($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Practice { payments { statements(first: 3) { nodes { period } } } }
  }
}
"""
TOTALS_IN_A_FRAGMENT = """
query ($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Practice { payments { statements(first: 3) { edges { node { ...money } } } } }
  }
}
fragment money on Statement { total: net }
"""


async def test_lines_are_read_with_the_page_only_when_the_query_wants_them(
    make_statement: Any, app: FastAPI, client: httpx.AsyncClient
) -> None:
    await make_statement()
    reps = {"reps": [practice("A81001")]}
    checkouts: list[object] = []

    def checked_out(*_args: object) -> None:
        checkouts.append(_args)

    with StatementCounter().attached(app.state.engine) as periods_only:
        body = await graphql(client, PERIODS_ONLY, reps)
    assert "errors" not in body
    event.listen(app.state.engine.sync_engine, "checkout", checked_out)
    try:
        with StatementCounter().attached(app.state.engine) as totals:
            body = await graphql(client, TOTALS_IN_A_FRAGMENT, reps)
    finally:
        event.remove(app.state.engine.sync_engine, "checkout", checked_out)
    assert "errors" not in body

    assert periods_only.count == 1
    # An aliased total inside a fragment still brings the lines, in the page's own statement.
    [edge] = body["data"]["_entities"][0]["payments"]["statements"]["edges"]
    assert edge["node"]["total"] == "11123.46"
    assert totals.count == 1
    assert len(checkouts) == 1
