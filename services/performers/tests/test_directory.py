from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit.db import StatementCounter
from pcse_kit.testing import (
    assert_bad_representations_fail_alone,
    assert_migrations_match_models,
    graphql,
)
from performers.models import ListStatus

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI
    from sqlalchemy import MetaData

PRACTICE = """
query ($ods: String!) {
  practice(odsCode: $ods) {
    odsCode name postcode icbCode subIcbCode contractType listSize
    lmc { code name }
    performers { gmcNumber name status }
  }
}
"""


async def test_a_practice_with_its_lmc_and_current_performers(
    make_lmc: Any, make_practice: Any, make_performer: Any, client: httpx.AsyncClient
) -> None:
    await make_lmc()
    await make_practice()
    current = await make_performer(family_name="Adams")
    suspended = await make_performer(family_name="Brown", status=ListStatus.SUSPENDED)
    await make_performer(family_name="Clark", end=date(2021, 3, 31))  # has left

    body = await graphql(client, PRACTICE, {"ods": "A81001"})

    assert body == {
        "data": {
            "practice": {
                "odsCode": "A81001",
                "name": "Riverside",
                "postcode": "TR1 1AA",
                "icbCode": "QT6",
                "subIcbCode": "11N",
                "contractType": "GMS",
                "listSize": 8000,
                "lmc": {"code": "kernow", "name": "Kernow LMC"},
                "performers": [
                    {"gmcNumber": current, "name": "Priya Adams", "status": "INCLUDED"},
                    {"gmcNumber": suspended, "name": "Priya Brown", "status": "SUSPENDED"},
                ],
            }
        }
    }


CONTRACT_PART = """
query ($ods: String!) {
  practice(odsCode: $ods) { odsCode name ...staff }
}
fragment staff on Practice { performers { gmcNumber name status } }
"""


async def test_the_practice_and_its_performers_are_read_in_one_statement(
    app: FastAPI,
    make_lmc: Any,
    make_practice: Any,
    make_performer: Any,
    client: httpx.AsyncClient,
) -> None:
    await make_lmc()
    await make_practice()
    await make_practice(ods_code="A81002")
    adams = await make_performer(family_name="Adams")
    await make_performer(family_name="Clark", end=date(2021, 3, 31))  # has left
    await make_performer(family_name="Brown", at="A81002")

    with StatementCounter().attached(app.state.engine) as counter:
        body = await graphql(client, CONTRACT_PART, {"ods": "A81001"})
    with StatementCounter().attached(app.state.engine) as without_performers:
        nobody = await graphql(
            client, "query ($ods: String!) { practice(odsCode: $ods) { name } }", {"ods": "A81002"}
        )

    assert body == {
        "data": {
            "practice": {
                "odsCode": "A81001",
                "name": "Riverside",
                "performers": [{"gmcNumber": adams, "name": "Priya Adams", "status": "INCLUDED"}],
            }
        }
    }
    # The practice with its current performers: one statement, not one and then another.
    assert counter.count == 1
    assert "errors" not in nobody
    assert without_performers.count == 1


async def test_a_performer_with_every_practice_worked_at(
    make_lmc: Any, make_practice: Any, make_performer: Any, client: httpx.AsyncClient
) -> None:
    await make_lmc()
    await make_practice()
    gmc = await make_performer(start=date(2019, 4, 1), end=date(2022, 3, 31))

    body = await graphql(
        client,
        "query ($gmc: String!) { performer(gmcNumber: $gmc) { gmcNumber status "
        "memberships { role startDate endDate practice { odsCode } } } }",
        {"gmc": gmc},
    )

    assert body["data"]["performer"] == {
        "gmcNumber": gmc,
        "status": "INCLUDED",
        "memberships": [
            {
                "role": "PARTNER",
                "startDate": "2019-04-01",
                "endDate": "2022-03-31",
                "practice": {"odsCode": "A81001"},
            }
        ],
    }


async def test_an_lmc_lists_its_practices_page_by_page(
    make_lmc: Any, make_practice: Any, client: httpx.AsyncClient
) -> None:
    await make_lmc()
    await make_lmc(code="essex", name="Essex LMCs")
    for code in ("C83003", "A81001", "B82002"):
        await make_practice(ods_code=code)
    await make_practice(ods_code="D84004", lmc_code="essex")
    query = """
    query ($after: String) {
      lmc(code: "kernow") {
        name
        practices(first: 2, after: $after) {
          nodes { odsCode }
          pageInfo { hasNextPage endCursor }
        }
      }
    }
    """

    first = (await graphql(client, query))["data"]["lmc"]["practices"]
    after = first["pageInfo"]["endCursor"]
    second = (await graphql(client, query, {"after": after}))["data"]["lmc"]["practices"]

    assert [n["odsCode"] for n in first["nodes"]] == ["A81001", "B82002"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert [n["odsCode"] for n in second["nodes"]] == ["C83003"]
    assert second["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize(
    ("field", "argument", "value"),
    [
        ("practice", "odsCode", "Z99999"),
        ("performer", "gmcNumber", "0000000"),
        ("lmc", "code", "nowhere"),
    ],
)
async def test_an_unknown_key_is_null_not_an_error(
    client: httpx.AsyncClient, field: str, argument: str, value: str
) -> None:
    body = await graphql(client, f'{{ {field}({argument}: "{value}") {{ __typename }} }}')
    assert body == {"data": {field: None}}


@pytest.mark.parametrize(
    ("field", "argument", "value"),
    [
        ("practice", "odsCode", "A8100"),
        ("practice", "odsCode", "a81001"),
        ("practice", "odsCode", "A81001; DROP TABLE practice"),
        ("performer", "gmcNumber", "123456"),
        ("performer", "gmcNumber", "12345678"),
        ("lmc", "code", "Kernow LMC"),
        ("practices", "lmcCode", "-"),
    ],
)
async def test_a_malformed_key_is_a_typed_error_naming_the_argument(
    client: httpx.AsyncClient, field: str, argument: str, value: str
) -> None:
    body = await graphql(client, f'{{ {field}({argument}: "{value}") {{ __typename }} }}')
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": argument}


@pytest.mark.parametrize(
    ("typename", "key", "bad_value", "unknown_value"),
    [
        ("Practice", "odsCode", "A8100", "Z99999"),
        ("Performer", "gmcNumber", "12", "0000000"),
        ("Lmc", "code", "!", "nowhere"),
    ],
)
async def test_every_entity_resolves_from_its_key_and_rejects_bad_ones(
    make_lmc: Any,
    make_practice: Any,
    make_performer: Any,
    client: httpx.AsyncClient,
    typename: str,
    key: str,
    bad_value: str,
    unknown_value: str,
) -> None:
    await make_lmc()
    await make_practice()
    gmc = await make_performer()
    good_value = {"Practice": "A81001", "Performer": gmc, "Lmc": "kernow"}[typename]

    await assert_bad_representations_fail_alone(
        client,
        good={"__typename": typename, key: good_value},
        bad=[{"__typename": typename, key: bad_value}, {"__typename": typename, key: [1]}],
        selection=key,
    )
    missing = await graphql(
        client,
        "query ($r: [_Any!]!) { _entities(representations: $r) { __typename } }",
        {"r": [{"__typename": typename, key: unknown_value}]},
    )
    assert missing == {"data": {"_entities": [None]}}


async def test_statement_count_does_not_grow_with_the_number_of_practices(
    app: FastAPI,
    make_lmc: Any,
    make_practice: Any,
    make_performer: Any,
    client: httpx.AsyncClient,
) -> None:
    await make_lmc()
    codes = [f"A{81001 + i}" for i in range(50)]
    for code in codes:
        await make_practice(ods_code=code)
        await make_performer(at=code)
    query = """
    query ($reps: [_Any!]!) {
      _entities(representations: $reps) {
        ... on Practice { odsCode name lmc { name } performers { gmcNumber memberships { role } } }
      }
    }
    """

    counts = []
    for batch in (codes[:1], codes):
        reps = [{"__typename": "Practice", "odsCode": code} for code in batch]
        with StatementCounter().attached(app.state.engine) as counter:
            body = await graphql(client, query, {"reps": reps})
        assert all(entity["performers"] for entity in body["data"]["_entities"])
        counts.append(counter.count)

    # Practices with their performers (one statement), their LMCs, the performers'
    # memberships: one each.
    assert counts == [3, 3]


async def test_migrations_match_the_models(app: FastAPI, service_metadata: MetaData) -> None:
    await assert_migrations_match_models(app, service_metadata)
