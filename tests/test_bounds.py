"""Every list argument outside payments is bounded before work starts: filters by status or
kind, `_entities` representations, and whatever a body of any size holds, at the subgraphs
as well as at the gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from stack import SERVICES

if TYPE_CHECKING:
    from collections.abc import Iterator

    from stack import Stack

SUBGRAPH_MAX_BODY_BYTES = 4 * 1024 * 1024


def _codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json()["errors"]]


@pytest.mark.parametrize(
    ("argument", "value", "field"),
    [
        ("recordMovements", "status: [" + ", ".join(["REQUESTED"] * 30) + "]", "status"),
        ("recordIncidents", "kind: [" + ", ".join(["EMPTY_ENVELOPE"] * 30) + "]", "kind"),
    ],
)
def test_a_filter_list_longer_than_its_enum_is_refused(
    gateway: httpx.Client, argument: str, value: str, field: str
) -> None:
    query = (
        f'{{ practice(odsCode: "A81001") {{ {argument}({value}, first: 1) '
        "{ nodes { __typename } } } }"
    )
    body = gateway.post("/graphql", json={"query": query}).json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field


def test_a_filter_naming_each_value_once_is_fine(gateway: httpx.Client) -> None:
    query = (
        '{ practice(odsCode: "A81001") { recordMovements(status: [REQUESTED, DELIVERED], '
        "first: 1) { nodes { status } } } }"
    )
    assert "errors" not in gateway.post("/graphql", json={"query": query}).json()


@pytest.mark.parametrize("service", SERVICES)
def test_too_many_representations_are_refused_at_each_subgraph(stack: Stack, service: str) -> None:
    query = "query ($r: [_Any!]!) { _entities(representations: $r) { __typename } }"
    representations = [{"__typename": "Practice", "odsCode": "A81001"}] * 10_001
    response = httpx.post(
        stack.service_url(service),
        json={"query": query, "variables": {"r": representations}},
        headers={"authorization": f"Bearer {stack.token('admin')}"},
        timeout=30,
    )
    assert response.status_code == httpx.codes.OK
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "representations"}


def _chunks(size: int) -> Iterator[bytes]:
    yield b'{"query": "{ __typename }", "variables": {"padding": "'
    for _ in range(size // 65536 + 1):
        yield b"x" * 65536
    yield b'"}}'


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("service", SERVICES)
def test_a_body_over_the_subgraph_limit_is_413_before_parsing(
    stack: Stack, service: str, *, chunked: bool
) -> None:
    """Straight to a subgraph, past the gateway's 64 KiB: its own limit (4 MiB) holds."""
    content = _chunks(SUBGRAPH_MAX_BODY_BYTES)
    response = httpx.post(
        stack.service_url(service),
        content=content if chunked else b"".join(content),
        headers={
            "authorization": f"Bearer {stack.token('admin')}",
            "content-type": "application/json",
        },
        timeout=30,
    )
    assert response.status_code == httpx.codes.REQUEST_ENTITY_TOO_LARGE
    assert _codes(response) == ["REQUEST_ENTITY_TOO_LARGE"]
