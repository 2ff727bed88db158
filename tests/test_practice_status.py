"""The client contract of DESIGN.md, through the real gateway, on the demo data."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pcse_kit.dates import today

from stack import ROOT, SERVICES, Stack

PRACTICE_STATUS = (ROOT / "demo" / "practice-status.graphql").read_text()
# What a leaked Python exception looks like in a response body.
PYTHON_INTERNALS = re.compile(r"Traceback|File \"|\.py\b|Error\(|KeyError|TypeError|asyncpg")


def post(
    client: httpx.Client,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.headers["content-type"].startswith("application/"), response.text
    return response.json()


def current_members(directory: dict[str, Any], ods_code: str) -> list[str]:
    on = today().isoformat()
    return sorted(
        m["gmcNumber"]
        for m in directory["memberships"]
        if m["odsCode"] == ods_code
        and m["startDate"] <= on
        and (m["endDate"] is None or m["endDate"] >= on)
    )


def test_the_contract_query_brings_all_three_services_together(
    stack: Stack, gateway: httpx.Client, directory: dict[str, Any]
) -> None:
    # As the practice's own manager would ask it.
    body = post(
        gateway, PRACTICE_STATUS, {"ods": "A81001"}, token=stack.token("practice", ["A81001"])
    )

    assert "errors" not in body
    practice = body["data"]["practice"]
    expected = next(p for p in directory["practices"] if p["odsCode"] == "A81001")
    # performers owns the practice itself and its performers
    assert practice["odsCode"] == "A81001"
    assert practice["name"] == expected["name"]
    assert practice["lmc"]["code"] == expected["lmcCode"]
    assert sorted(p["gmcNumber"] for p in practice["performers"]) == current_members(
        directory, "A81001"
    )
    assert all(p["status"] and p["name"] for p in practice["performers"])
    # payments adds the statements, newest first, each reconciling to the penny
    statements = practice["payments"]["statements"]["nodes"]
    # the demo pays the twelve months before this one
    newest: list[str] = []
    month = today().replace(day=1)
    for _ in range(3):
        month = (month - timedelta(days=1)).replace(day=1)
        newest.append(month.isoformat())
    assert [s["period"] for s in statements] == newest
    for statement in statements:
        lines = [float(line["amount"]) for line in statement["lines"]]
        assert round(sum(lines), 2) == float(statement["net"])
        assert float(statement["gross"]) + float(statement["deductions"]) == pytest.approx(
            float(statement["net"]), abs=0.001
        )
    # records adds the movements in and out, with status and age
    movements = practice["recordMovements"]["nodes"]
    assert len(movements) == 5
    assert practice["recordMovements"]["pageInfo"]["hasNextPage"] is True
    assert {m["direction"] for m in movements} <= {"IN", "OUT"}
    assert all(m["ageDays"] >= m["daysInStatus"] >= 0 for m in movements)


def test_every_record_status_is_in_the_demo_data(gateway: httpx.Client) -> None:
    query = """
    query ($ods: String!) {
      practice(odsCode: $ods) { recordMovements(first: 100) { nodes { status } } }
    }
    """
    body = post(gateway, query, {"ods": "A81001"})
    statuses = {m["status"] for m in body["data"]["practice"]["recordMovements"]["nodes"]}
    assert statuses == {
        "REQUESTED", "IN_PROGRESS", "READY_FOR_COLLECTION", "COLLECTED", "DELIVERED",
        "CANCELLED", "NO_PAPER_RECORD", "MISSING", "LOST", "IN_CENTRAL_STORAGE",
        "IN_STORAGE_AT_PRACTICE", "WRONG_RECORD_DELIVERED",
    }  # fmt: skip


def test_an_unknown_practice_is_null_not_an_error(gateway: httpx.Client) -> None:
    response = gateway.post(
        "/graphql", json={"query": PRACTICE_STATUS, "variables": {"ods": "Z99999"}}
    )
    assert response.status_code == httpx.codes.OK
    assert response.json() == {"data": {"practice": None}}


@pytest.mark.parametrize("ods", ["A8100", "a81001", "A81001X", "", "A81001' OR '1'='1"])
def test_a_malformed_ods_code_is_a_typed_error_without_internals(
    gateway: httpx.Client, ods: str
) -> None:
    response = gateway.post("/graphql", json={"query": PRACTICE_STATUS, "variables": {"ods": ods}})

    body = response.json()
    assert body["data"] == {"practice": None}
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "odsCode"
    assert not PYTHON_INTERNALS.search(response.text)


def test_a_wrongly_typed_variable_is_rejected_by_the_gateway(gateway: httpx.Client) -> None:
    response = gateway.post("/graphql", json={"query": PRACTICE_STATUS, "variables": {"ods": 7}})
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert not PYTHON_INTERNALS.search(response.text)


def test_lmc_and_performer_root_fields(gateway: httpx.Client, directory: dict[str, Any]) -> None:
    performer = directory["performers"][0]
    body = post(
        gateway,
        """
        query ($gmc: String!) {
          lmc(code: "kernow") { name practices(first: 100) { nodes { odsCode } } }
          performer(gmcNumber: $gmc) { gmcNumber name status }
        }
        """,
        {"gmc": performer["gmcNumber"]},
    )
    kernow = sorted(p["odsCode"] for p in directory["practices"] if p["lmcCode"] == "kernow")
    assert body["data"]["lmc"]["name"] == "Kernow LMC"
    assert sorted(n["odsCode"] for n in body["data"]["lmc"]["practices"]["nodes"]) == kernow
    assert body["data"]["performer"]["name"] == (
        f"{performer['givenName']} {performer['familyName']}"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_each_subgraph_answers_malformed_representations_cleanly(
    stack: Stack, service: str
) -> None:
    representations: list[object] = [
        {"__typename": "Practice", "odsCode": "A81001"},
        {"odsCode": "A81001"},
        "A81001",
        {"__typename": "NoSuchType"},
        {"__typename": "Practice", "odsCode": {"$gt": ""}},
        {"__typename": "Practice", "odsCode": "A81001"},
    ]
    response = httpx.post(
        stack.service_url(service),
        headers={"authorization": f"Bearer {stack.token('admin')}"},
        json={
            "query": "query ($r: [_Any!]!) { _entities(representations: $r) "
            "{ ... on Practice { odsCode } } }",
            "variables": {"r": representations},
        },
    )

    body = response.json()
    entities = body["data"]["_entities"]
    assert entities[0] == entities[5] == {"odsCode": "A81001"}
    assert entities[1:5] == [None] * 4
    assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}
    assert not PYTHON_INTERNALS.search(response.text)


def test_health_endpoints(stack: Stack) -> None:
    for name, port in stack.config.ports.items():
        if name == "gateway_metrics":
            continue  # metrics only
        for path in ("/healthz", "/readyz"):
            assert httpx.get(f"http://127.0.0.1:{port}{path}").status_code == httpx.codes.OK
