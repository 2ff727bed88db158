"""Cursor connections with keyset cursors: stable under inserts, and an index seek per page."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import strawberry

from pcse_kit.errors import BadUserInput

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@strawberry.federation.type(
    shareable=True, description="Where a page ends, and whether more follow."
)
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when a later page exists.")
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` to fetch the next page; null on an empty page."
    )


@strawberry.type(description="One item of a page, with the cursor that points just after it.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque position of this item.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of items, in a stable order.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page with cursors.")
    page_info: PageInfo = strawberry.field(description="Whether more items follow.")

    nodes: list[T] = strawberry.field(description="The items of this page, without cursors.")


def encode_cursor(key: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), default=str).encode()).decode()


def decode_cursor(cursor: str, *, parsers: Sequence[Callable[[Any], Any]]) -> tuple[Any, ...]:
    """The sort key a cursor stands for, each part through its parser (``date.fromisoformat``).

    A cursor a client made up is a BAD_USER_INPUT, never an exception further down.
    """
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(raw, list) or len(raw) != len(parsers):
            raise ValueError("wrong shape")  # noqa: TRY301 - one handler for every malformation
        return tuple(parse(part) for parse, part in zip(parsers, raw, strict=True))
    except (binascii.Error, ValueError, TypeError, UnicodeError):
        raise BadUserInput("`after` is not a cursor this field returned.", field="after") from None


@dataclass(frozen=True)
class PageRequest:
    """A validated (first, after) pair; hashable so it can be part of a DataLoader key."""

    first: int
    after: tuple[Any, ...] | None

    @classmethod
    def parse(
        cls,
        first: int | None,
        after: str | None,
        *,
        parsers: Sequence[Callable[[Any], Any]] = (str,),
    ) -> PageRequest:
        size = DEFAULT_PAGE_SIZE if first is None else first
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise BadUserInput(f"`first` must be between 1 and {MAX_PAGE_SIZE}.", field="first")
        return cls(size, None if after is None else decode_cursor(after, parsers=parsers))


def build_connection(rows: list[Any], page: PageRequest, *, key: Any, node: Any) -> Connection[Any]:
    """``rows`` holds up to ``page.first + 1`` items; the extra one only says more follow."""
    has_next = len(rows) > page.first
    edges = [Edge(cursor=encode_cursor(key(row)), node=node(row)) for row in rows[: page.first]]
    return Connection(
        edges=edges,
        nodes=[edge.node for edge in edges],
        page_info=PageInfo(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None),
    )


E = TypeVar("E")


def filter_values(values: list[E] | None, *, field: str, members: int) -> frozenset[E] | None:
    """A list argument that filters by enum values (statuses, kinds), bounded before any work:
    at most as many items as the enum has members, since each is worth naming once."""
    if values is None:
        return None
    if len(values) > members:
        raise BadUserInput(f"`{field}` names at most {members} values, each once.", field=field)
    return frozenset(values)
