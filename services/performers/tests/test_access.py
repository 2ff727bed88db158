"""Who may see what in the directory and the performers list."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit.testing import Token, graphql

if TYPE_CHECKING:
    import httpx


@pytest.fixture
async def directory(make_lmc: Any, make_practice: Any, make_performer: Any) -> dict[str, str]:
    """Two LMCs; A81001 and B82002 in kernow, C83003 in essex; a GP at each, one at two."""
    await make_lmc()
    await make_lmc(code="essex", name="Essex LMCs")
    await make_practice(ods_code="A81001")
    await make_practice(ods_code="B82002")
    await make_practice(ods_code="C83003", lmc_code="essex")
    return {
        "a_gp": await make_performer(at="A81001"),
        "c_gp": await make_performer(at="C83003"),
    }


def codes(body: dict[str, Any], *path: str) -> list[str]:
    node: Any = body["data"]
    for key in path:
        node = node[key]
    return [n["odsCode"] for n in node["nodes"]]


def refused(body: dict[str, Any]) -> bool:
    return [e["extensions"]["code"] for e in body.get("errors", [])] == ["FORBIDDEN"]


PRACTICE = "query ($ods: String!) { practice(odsCode: $ods) { odsCode name } }"


async def test_a_practice_sees_only_its_own_practice(
    directory: dict[str, str], client: httpx.AsyncClient, token: Token
) -> None:
    own = token("practice", ["A81001"])
    mine = await graphql(client, PRACTICE, {"ods": "A81001"}, token=own)
    other = await graphql(client, PRACTICE, {"ods": "B82002"}, token=own)
    unknown = await graphql(client, PRACTICE, {"ods": "Z99999"}, token=own)
    listing = await graphql(client, "{ practices { nodes { odsCode } } }", token=own)

    assert "data" in mine, mine
    assert mine["data"]["practice"]["odsCode"] == "A81001"
    assert refused(other)
    assert refused(unknown)
    assert other["errors"][0]["message"] == unknown["errors"][0]["message"]
    assert codes(listing, "practices") == ["A81001"]


async def test_an_lmc_sees_its_area_and_nothing_else(
    directory: dict[str, str], client: httpx.AsyncClient, token: Token
) -> None:
    kernow = token("lmc", ["kernow"])
    in_area = await graphql(client, PRACTICE, {"ods": "B82002"}, token=kernow)
    out_of_area = await graphql(client, PRACTICE, {"ods": "C83003"}, token=kernow)
    unknown = await graphql(client, PRACTICE, {"ods": "Z99999"}, token=kernow)
    listing = await graphql(client, "{ practices { nodes { odsCode } } }", token=kernow)
    essex = await graphql(
        client, '{ practices(lmcCode: "essex") { nodes { odsCode } } }', token=kernow
    )

    assert in_area["data"]["practice"]["odsCode"] == "B82002"
    assert refused(out_of_area)
    assert refused(unknown)
    assert codes(listing, "practices") == ["A81001", "B82002"]
    assert refused(essex)


async def test_performers_are_visible_through_the_practices_one_may_see(
    directory: dict[str, str], client: httpx.AsyncClient, token: Token
) -> None:
    query = "query ($gmc: String!) { performer(gmcNumber: $gmc) { gmcNumber } }"
    a_practice = token("practice", ["A81001"])
    essex = token("lmc", ["essex"])

    assert (await graphql(client, query, {"gmc": directory["a_gp"]}, token=a_practice))["data"][
        "performer"
    ]["gmcNumber"] == directory["a_gp"]
    assert refused(await graphql(client, query, {"gmc": directory["c_gp"]}, token=a_practice))
    assert refused(await graphql(client, query, {"gmc": "0000000"}, token=a_practice))
    assert (await graphql(client, query, {"gmc": directory["c_gp"]}, token=essex))["data"][
        "performer"
    ]["gmcNumber"] == directory["c_gp"]


async def test_a_performers_memberships_show_only_practices_one_may_see(
    make_performer: Any, directory: dict[str, str], client: httpx.AsyncClient, token: Token
) -> None:
    gmc = await make_performer(at="A81001", start=date(2015, 1, 1), end=date(2016, 1, 1))
    # The same GP later at C83003 (essex): a second membership.
    from performers.models import Membership, Role  # noqa: PLC0415 - test-local setup

    app = client._transport.app  # type: ignore[attr-defined]
    async with app.state.sessionmaker.begin() as session:
        session.add(
            Membership(
                gmc_number=gmc, ods_code="C83003", role=Role.LOCUM, start_date=date(2017, 1, 1)
            )
        )
    query = (
        "query ($gmc: String!) { performer(gmcNumber: $gmc) { memberships { practice "
        "{ odsCode } } } }"
    )

    as_a = await graphql(client, query, {"gmc": gmc}, token=token("practice", ["A81001"]))
    as_admin = await graphql(client, query, {"gmc": gmc})

    assert [m["practice"]["odsCode"] for m in as_a["data"]["performer"]["memberships"]] == [
        "A81001"
    ]
    assert [m["practice"]["odsCode"] for m in as_admin["data"]["performer"]["memberships"]] == [
        "A81001",
        "C83003",
    ]


@pytest.mark.parametrize(
    ("role", "scope", "allowed"),
    [
        ("lmc", ["kernow"], True),
        ("lmc", ["essex"], False),
        ("practice", ["A81001"], True),
        ("practice", ["C83003"], False),
        ("accountant", [], False),
        ("operator", ["payments"], False),
        ("operator", ["performers"], True),
    ],
)
async def test_who_may_see_an_lmc(
    directory: dict[str, str],
    client: httpx.AsyncClient,
    token: Token,
    role: str,
    scope: list[str],
    allowed: bool,
) -> None:
    body = await graphql(client, '{ lmc(code: "kernow") { name } }', token=token(role, scope))
    if allowed:
        assert body == {"data": {"lmc": {"name": "Kernow LMC"}}}
    else:
        assert refused(body)


@pytest.mark.parametrize("role", ["accountant", "operator"])
async def test_accountants_and_other_operators_see_no_directory(
    directory: dict[str, str], client: httpx.AsyncClient, token: Token, role: str
) -> None:
    caller = token(role, ["payments"] if role == "operator" else [])
    for query in (PRACTICE, "{ practices { nodes { odsCode } } }"):
        body = await graphql(client, query, {"ods": "A81001"}, token=caller)
        assert refused(body)
