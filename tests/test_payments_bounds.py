"""The payments service's expensive arguments and fields, bounded before work starts and priced
at the gateway for what they do: the expected schedule's window."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import httpx

    from stack import Stack

PRACTICE = "A81001"
EXPECTED = "expected {{ component amount derivation {{ label value }} }}"


def _as_practice(stack: Stack) -> dict[str, str]:
    return {"authorization": f"Bearer {stack.token('practice', [PRACTICE])}"}


def _ask(gateway: httpx.Client, stack: Stack, query: str) -> dict[str, Any]:
    body: dict[str, Any] = gateway.post(
        "/graphql", json={"query": query}, headers=_as_practice(stack)
    ).json()
    return body


def test_one_expected_schedule_is_priced_within_the_limit_and_answers(
    gateway: httpx.Client, stack: Stack
) -> None:
    query = f'{{ practice(odsCode: "{PRACTICE}") {{ payments {{ {EXPECTED.format()} }} }} }}'

    body = _ask(gateway, stack, query)

    assert "errors" not in body, body
    assert body["data"]["practice"]["payments"]["expected"], body


def test_aliased_expected_schedules_are_priced_for_the_work_and_refused(
    gateway: httpx.Client, stack: Stack
) -> None:
    """Each alias works a practice's schedule out from its first statement: five of them were
    priced as five plain lists of ten, 1 + 1 + 5 x (1 + 10 x 23) = 1157, and let through. The
    field now declares @cost(weight: 100) @listSize(assumedSize: 50)."""
    windows = [("2026-01-01", "2026-01-31"), ("2025-01-01", "2025-12-31")] + [
        (f"{year}-04-01", f"{year + 1}-03-31") for year in (2022, 2023, 2024)
    ]
    aliased = " ".join(
        f'a{i}: expected(from: "{start}", to: "{end}") '
        "{ component amount derivation { label value } }"
        for i, (start, end) in enumerate(windows)
    )
    query = f'{{ practice(odsCode: "{PRACTICE}") {{ payments {{ {aliased} }} }} }}'

    body = _ask(gateway, stack, query)

    # practice 1 + payments 1 + 5 x (expected 100 + 50 x (component 1 + amount 1 +
    # derivation (1 + 10 x (label 1 + value 1))))
    assert 1 + 1 + 5 * (100 + 50 * (1 + 1 + (1 + 10 * 2))) == 6252
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["cost"] == {"estimated": 6252, "limit": 5000}


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        # The finding: a window far in the future worked out every month up to it.
        ('from: "2099-01-01", to: "2099-12-31"', "from"),
        ('to: "2099-12-31"', "to"),
        ('from: "2026-06-01", to: "2026-01-31"', "to"),
        ('from: "2010-01-01", to: "2026-01-31"', "to"),
    ],
    ids=["far future window", "far future end", "end before start", "over ten years"],
)
def test_an_expected_window_out_of_bounds_is_refused_before_any_work(
    gateway: httpx.Client, stack: Stack, arguments: str, field: str
) -> None:
    query = (
        f'{{ practice(odsCode: "{PRACTICE}") {{ payments {{ '
        f"expected({arguments}) {{ component }} }} }} }}"
    )

    body = _ask(gateway, stack, query)

    assert body["data"]["practice"]["payments"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
