"""GraphQL over HTTP through the gateway and on each subgraph: media types, status codes, and
``data`` present exactly when execution started.

The subgraph rules are tested one by one on a probe service in
``kit/tests/test_service_http.py``; here the real services and the real gateway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from stack import SERVICES, Stack

if TYPE_CHECKING:
    from collections.abc import Iterator

GRAPHQL_RESPONSE = "application/graphql-response+json"
ACCEPTS = ["application/json", GRAPHQL_RESPONSE]
# An LMC may change nothing; the mutation's type is non-null, so its refusal nulls all data.
ENTITIES = "query ($r: [_Any!]!) { _entities(representations: $r) { __typename } }"
REFUSED_MUTATION = (
    'mutation { updateRecordMovement(input: {movementNumber: "M00000001", status: DELIVERED, '
    'idempotencyKey: "over-http"}) { movementNumber } }'
)


@pytest.fixture
def lmc(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(
        timeout=10, headers={"authorization": f"Bearer {stack.token('lmc', ['kernow'])}"}
    ) as client:
        yield client


@pytest.mark.parametrize("accept", ACCEPTS)
def test_a_refused_mutation_through_the_gateway_answers_data_null(
    stack: Stack, lmc: httpx.Client, accept: str
) -> None:
    response = lmc.post(
        stack.gateway_url, json={"query": REFUSED_MUTATION}, headers={"accept": accept}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(accept)
    body = response.json()
    assert "data" in body
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["path"] == ["updateRecordMovement"]
    assert error["extensions"]["code"] in {"FORBIDDEN", "BAD_USER_INPUT"}


@pytest.mark.parametrize(("accept", "status"), [("application/json", 200), (GRAPHQL_RESPONSE, 400)])
def test_a_request_error_through_the_gateway_has_no_data(
    stack: Stack, lmc: httpx.Client, accept: str, status: int
) -> None:
    response = lmc.post(stack.gateway_url, json={"query": "{ nosuch }"}, headers={"accept": accept})
    assert response.status_code == status
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize(
    ("body", "json_status", "graphql_status", "has_data"),
    [
        ({"query": "{ _service { sdl } }"}, 200, 200, True),
        ({"query": "{ _service { sdl "}, 200, 400, False),
        ({"query": "{ nosuch }"}, 200, 400, False),
        ({"query": ENTITIES}, 200, 400, False),
        (
            {"query": ENTITIES, "variables": {"r": [{"__typename": "Nonsense"}]}},
            200, 200, True,
        ),
    ],
    ids=["executed", "parse", "validation", "variables", "field-error"],
)  # fmt: skip
def test_each_subgraph_answers_as_graphql_over_http_recommends(
    stack: Stack,
    lmc: httpx.Client,
    service: str,
    body: dict[str, object],
    json_status: int,
    graphql_status: int,
    has_data: bool,
) -> None:
    for accept, status in (("application/json", json_status), (GRAPHQL_RESPONSE, graphql_status)):
        response = lmc.post(stack.service_url(service), json=body, headers={"accept": accept})
        assert response.status_code == status, (accept, response.text)
        assert response.headers["content-type"] == f"{accept}; charset=utf-8"
        assert ("data" in response.json()) is has_data, (accept, response.text)
