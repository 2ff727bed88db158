# mypy: disallow-untyped-decorators=False
# (strawberry.field(description=...) as a decorator is typed to return Any, as in the services.)
"""Plain fields read directly give exactly graphql-core's answers, errors and paths included.

The expected answers are graphql-core's own, from Strawberry's executor on the same schema;
the rows misbehave in each way a plain field can (null where non-null, a value its scalar or
enum refuses, a getter that raises, an awaitable).
"""

from __future__ import annotations

import enum
from typing import Any

import pytest
import strawberry
from pcse_kit.execution import PlainFieldsExecutor
from pcse_kit.graphql import create_schema
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


@strawberry.enum(description="A kind.")
class Kind(enum.Enum):
    ONE = "one"
    TWO = "two"


@strawberry.type(description="A row whose fields are plain values, or misbehave on purpose.")
class Row:
    code: str = strawberry.field(description="Always a string.")
    count: int = strawberry.field(description="Non-null; sometimes None or not a number.")
    maybe: int | None = strawberry.field(description="Nullable.")
    kind: Kind = strawberry.field(description="Non-null enum; sometimes a stray value.")
    amount: float | None = strawberry.field(description="Nullable float; sometimes not one.")

    @strawberry.field(description="Has a resolver: never read directly.")
    def doubled(self) -> int:
        return self.count * 2


class Broken:
    """Reads as a row, but its count raises."""

    code = "X"
    maybe = None
    kind = Kind.ONE
    amount = 1.5

    @property
    def count(self) -> int:
        raise RuntimeError("unreadable")


class Awaited:
    """A row whose nullable field is an awaitable (graphql-core awaits it)."""

    code = "W"
    count = 1
    kind = Kind.TWO
    amount = None

    @property
    def maybe(self) -> Any:
        async def later() -> int:
            return 7

        return later()


ROWS: list[Any] = [
    Row(code="A", count=1, maybe=None, kind=Kind.ONE, amount=2.5),
    Row(code="B", count=None, maybe=3, kind=Kind.TWO, amount=None),  # type: ignore[arg-type]
    Row(code="C", count="many", maybe=4, kind=Kind.ONE, amount=1.0),  # type: ignore[arg-type]
    Row(code="D", count=2**40, maybe=5, kind=Kind.ONE, amount=0.0),
    Row(code="E", count=5, maybe=6, kind="stray", amount="x"),  # type: ignore[arg-type]
    Broken(),
    Awaited(),
]


@strawberry.type(description="Probe.")
class Query:
    @strawberry.field(description="Each row in its own nullable slot.")
    def rows(self) -> list[Row | None]:
        return ROWS

    @strawberry.field(description="One well-formed row.")
    def row(self) -> Row:
        first: Row = ROWS[0]
        return first


QUERIES = [
    "{ rows { code count maybe kind amount doubled } }",
    "{ rows { code maybe amount } }",
    "{ row { code count kind } rows { ... on Row { code kind } } }",
    "{ rows { c: code c2: code maybe @skip(if: true) count @include(if: false) } }",
    "query ($s: Boolean!) { rows { code maybe @include(if: $s) } }",
]


@pytest.mark.parametrize("query", QUERIES)
async def test_answers_errors_and_paths_are_graphql_cores(query: str) -> None:
    plain = create_schema(query=Query)
    assert plain.execution_context_class is PlainFieldsExecutor
    general = create_schema(query=Query)
    general.execution_context_class = StrawberryGraphQLCoreExecutionContext
    expected = await general.execute(query, variable_values={"s": True})
    got = await plain.execute(query, variable_values={"s": True})
    assert got.data == expected.data
    assert [e.formatted for e in got.errors or []] == [e.formatted for e in expected.errors or []]


async def test_the_misbehaving_rows_are_errors_at_their_own_paths() -> None:
    """The comparison above is not vacuous: the rows do fail, each where it should."""
    result = await create_schema(query=Query).execute("{ rows { code count maybe kind amount } }")
    assert result.data is not None
    rows = result.data["rows"]
    assert rows[0] == {"code": "A", "count": 1, "maybe": None, "kind": "ONE", "amount": 2.5}
    assert rows[1] is None  # count null: the non-null field nulls its row
    assert rows[2] is None  # "many" is not an Int
    assert rows[3] is None  # 2**40 is beyond a GraphQL Int
    assert rows[4] is None  # a stray enum value
    assert rows[5] is None  # the getter raised
    assert rows[6] == {"code": "W", "count": 1, "maybe": 7, "kind": "TWO", "amount": None}
    paths = sorted(tuple(e.path or ()) for e in result.errors or [])
    # Row 4's kind fails first, and a non-null error ends the row: its amount is not reached.
    assert paths == [
        ("rows", 1, "count"),
        ("rows", 2, "count"),
        ("rows", 3, "count"),
        ("rows", 4, "kind"),
        ("rows", 5, "count"),
    ]
