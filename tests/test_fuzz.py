"""Fuzzing, bounded in time: generated requests against the gateway and every subgraph.

Whatever a client sends, no response is a server error and none carries Python or Node
exception text. Queries run as an admin, to reach every resolver, and again as a practice and
as an LMC, whose answers the access rules shape most; mutations as an LMC, which may write
nothing, and as a practice no other test reads. The stack's gateway runs without its rate
limit, so that every generated request reaches the services. Each
subgraph's `_entities` gets representations of every shape, well-formed or not.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import graphql
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Err
from schemathesis.graphql import nodes

from stack import SERVICES

if TYPE_CHECKING:
    from stack import Stack

EXAMPLES_PER_OPERATION = 8
INTERNALS = re.compile(
    r"Traceback|File \"|\.py\"|\bat [\w.<>]+ \(|node:internal|sqlalchemy|asyncpg|"
    r"TypeError|KeyError|AttributeError|ValueError|ECONNREFUSED"
)


def _representation() -> st.SearchStrategy[graphql.ValueNode]:
    text = st.text(max_size=12).map(nodes.String)
    key = st.sampled_from(["odsCode", "gmcNumber", "code", "__typename", "x"])
    value: st.SearchStrategy[graphql.ValueNode] = st.one_of(
        text,
        st.sampled_from(["Practice", "Performer", "Lmc", "A81001", "9071747", "kernow"]).map(
            nodes.String
        ),
        st.integers(-(2**31), 2**31 - 1).map(nodes.Int),
        st.just(graphql.NullValueNode()),
        st.booleans().map(nodes.Boolean),
    )
    field = st.tuples(key, value).map(
        lambda kv: graphql.ObjectFieldNode(name=graphql.NameNode(value=kv[0]), value=kv[1])
    )
    return st.one_of(
        st.lists(field, max_size=3).map(nodes.Object),
        text,
        st.lists(text, max_size=2).map(lambda values: nodes.List(list(values))),
    )


# Federation's _Any accepts any JSON value; give the fuzzer shapes worth trying.
schemathesis.graphql.scalar("_Any", _representation())
schemathesis.graphql.scalar(
    "Decimal",
    st.decimals(places=2, allow_nan=False, allow_infinity=False).map(
        lambda d: nodes.String(str(d))
    ),
)
schemathesis.graphql.scalar("Date", st.dates().map(lambda d: nodes.String(d.isoformat())))
schemathesis.graphql.scalar("DateTime", st.datetimes().map(lambda d: nodes.String(d.isoformat())))


def fuzz(
    url: str, headers: dict[str, str], *, mutations: bool, budget_seconds: float | None = None
) -> int:
    """Run every operation of the schema at ``url``; return how many requests were sent.

    With a budget, no operation is started once it is spent (the one under way finishes), so
    a loaded machine trims the run instead of stretching it.
    """
    schema = schemathesis.graphql.from_url(url, headers=headers, timeout=10)
    sent = 0
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        if (operation.label.startswith("Mutation.")) != mutations:
            continue
        if deadline is not None and time.monotonic() > deadline:
            break

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            nonlocal sent
            response = httpx.post(url, json={"query": case.body}, headers=headers, timeout=10)
            sent += 1
            assert response.status_code < httpx.codes.INTERNAL_SERVER_ERROR, (
                case.body,
                response.text,
            )
            assert not INTERNALS.search(response.text), (case.body, response.text)

        check()
    return sent


def test_the_gateway_survives_generated_queries(stack: Stack) -> None:
    headers = {"authorization": f"Bearer {stack.token('admin')}"}
    assert fuzz(stack.gateway_url, headers, mutations=False) > 0


def test_the_gateway_survives_generated_mutations_without_writing(stack: Stack) -> None:
    headers = {"authorization": f"Bearer {stack.token('lmc', ['kernow'])}"}
    assert fuzz(stack.gateway_url, headers, mutations=True) > 0


# A practice no other test reads, so that a generated write that happens to name it (the
# fuzzer makes up codes, so one almost never does) disturbs nothing another test checks.
FUZZ_PRACTICE = "C85759"
BUDGET_SECONDS = 30.0


@pytest.mark.parametrize(
    ("caller", "mutations"),
    [
        pytest.param(("practice", [FUZZ_PRACTICE]), False, id="practice queries"),
        pytest.param(("practice", [FUZZ_PRACTICE]), True, id="practice mutations"),
        pytest.param(("lmc", ["llr"]), False, id="lmc queries"),
    ],
)
def test_the_gateway_survives_generated_requests_from_a_practice_and_an_lmc(
    stack: Stack, caller: tuple[str, list[str]], *, mutations: bool
) -> None:
    """As the callers the access rules narrow most, through the gateway with its rate limit
    off (tests/conftest.py): refusals, empty answers and partial data, never a server error
    or exception text."""
    role, scope = caller
    headers = {"authorization": f"Bearer {stack.token(role, scope, subject=f'fuzz-{role}')}"}
    sent = fuzz(stack.gateway_url, headers, mutations=mutations, budget_seconds=BUDGET_SECONDS)
    assert sent > 0


@pytest.mark.parametrize("service", SERVICES)
def test_each_subgraph_survives_generated_queries(stack: Stack, service: str) -> None:
    headers = {"authorization": f"Bearer {stack.token('admin')}"}
    # records has no root query of its own; its only entry is _entities, fuzzed below.
    assert fuzz(stack.service_url(service), headers, mutations=False) >= 0


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
KEYS = st.sampled_from(["odsCode", "gmcNumber", "code", "x"])
REPRESENTATIONS = st.lists(
    st.one_of(
        JSON,
        st.fixed_dictionaries(
            {"__typename": st.sampled_from(["Practice", "Performer", "Lmc", "Nope"]) | JSON},
            optional={"odsCode": JSON | st.just("A81001"), "gmcNumber": JSON, "code": JSON},
        ),
        st.dictionaries(KEYS, JSON, max_size=2),
    ),
    max_size=4,
)
ENTITIES = (
    "query ($r: [_Any!]!) { _entities(representations: $r) { __typename "
    "... on Practice { odsCode } ... on Performer { gmcNumber } ... on Lmc { code } } }"
)
BOUNDED = settings(
    max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


def answered_cleanly(url: str, headers: dict[str, str], body: Any) -> None:
    response = httpx.post(url, json=body, headers=headers, timeout=10)
    assert response.status_code < httpx.codes.INTERNAL_SERVER_ERROR, (body, response.text)
    assert not INTERNALS.search(response.text), (body, response.text)


@pytest.mark.parametrize("service", SERVICES)
def test_each_subgraph_survives_generated_entities(stack: Stack, service: str) -> None:
    headers = {"authorization": f"Bearer {stack.token('admin')}"}

    @given(representations=REPRESENTATIONS)
    @BOUNDED
    def check(representations: list[Any]) -> None:
        body = {"query": ENTITIES, "variables": {"r": representations}}
        answered_cleanly(stack.service_url(service), headers, body)

    check()


@pytest.mark.parametrize("target", ["gateway", *SERVICES])
def test_any_json_body_is_answered_without_a_server_error(stack: Stack, target: str) -> None:
    url = stack.gateway_url if target == "gateway" else stack.service_url(target)
    headers = {"authorization": f"Bearer {stack.token('admin')}"}

    @given(body=JSON)
    @BOUNDED
    def check(body: Any) -> None:
        answered_cleanly(url, headers, body)

    check()
