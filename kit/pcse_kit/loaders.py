"""DataLoader builders: one short read-only session per batch, results in key order.

Loaders are created per request (in the context), never at module level: a module-level loader
would cache across requests and across callers. A loader only reads: its batch runs without a
transaction around it (:func:`pcse_kit.db.read_only`), one round trip to the database.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, TypeVar

from strawberry.dataloader import DataLoader

from pcse_kit.db import read_only

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Hashable, Iterable

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

K = TypeVar("K", bound="Hashable")
V = TypeVar("V")


def one_per_key(
    sessionmaker: async_sessionmaker[AsyncSession],
    fetch: Callable[[AsyncSession, list[K]], Awaitable[Iterable[V]]],
    key: Callable[[V], K],
) -> DataLoader[K, V | None]:
    """A loader of at most one value per key; None where there is none."""
    reader = read_only(sessionmaker)

    async def batch(keys: list[K]) -> list[V | None]:
        async with reader() as session:
            found = {key(value): value for value in await fetch(session, keys)}
        return [found.get(k) for k in keys]

    return DataLoader(load_fn=batch)


def many_per_key(
    sessionmaker: async_sessionmaker[AsyncSession],
    fetch: Callable[[AsyncSession, list[K]], Awaitable[Iterable[tuple[K, V]]]],
) -> DataLoader[K, list[V]]:
    """A loader of a list per key, from (key, value) pairs in the order to keep."""
    reader = read_only(sessionmaker)

    async def batch(keys: list[K]) -> list[list[V]]:
        grouped: dict[K, list[V]] = defaultdict(list)
        async with reader() as session:
            for k, value in await fetch(session, keys):
                grouped[k].append(value)
        return [grouped.get(k, []) for k in keys]

    return DataLoader(load_fn=batch)
