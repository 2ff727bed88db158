"""Async engine and session factories, built in an application's lifespan, never at import."""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Enum, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

if TYPE_CHECKING:
    import enum
    from collections.abc import Callable, Iterator
    from contextlib import AbstractAsyncContextManager

    from sqlalchemy.engine import Connection


def asyncpg_url(url: str) -> str:
    """Return ``url`` with the asyncpg driver, whichever PostgreSQL spelling it came in."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("not a URL")
    if scheme in {"postgresql", "postgres", "postgresql+asyncpg"}:
        return f"postgresql+asyncpg://{rest}"
    raise ValueError(f"unsupported database scheme {scheme!r}")


def create_engine(
    url: str,
    *,
    application_name: str,
    pool_size: int = 10,
    max_overflow: int = 10,
    statement_timeout_seconds: float = 0,
) -> AsyncEngine:
    """An asyncpg engine whose pool heals itself after a database restart.

    Its errors never carry the statement's parameters: they can hold patients' NHS numbers,
    and a logged exception must not put one in a log.

    ``statement_timeout_seconds`` (0: none) is set as the session's ``statement_timeout`` in
    the startup packet of every connection, so it costs no round trip and no statement can
    escape it, whichever code path opened the connection.
    """
    server_settings = {"application_name": application_name}
    if statement_timeout_seconds:
        # Milliseconds; at least 1, because 0 would mean no limit to PostgreSQL.
        server_settings["statement_timeout"] = str(max(round(statement_timeout_seconds * 1000), 1))
    engine = _create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        hide_parameters=True,
        connect_args={"server_settings": server_settings},
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed)
    return engine


def _refuse_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Replace a pooled connection the server has closed, instead of failing a request on it.

    A restarted or terminated server closes its sockets and asyncpg marks the connection
    closed as soon as it reads the end of the stream, so this check costs no round trip.
    SQLAlchemy's ``pool_pre_ping`` costs three (BEGIN, a ping, ROLLBACK) on every checkout:
    about a tenth of the payments service's CPU per request on the client contract query.
    """
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit, so results can leave the session."""
    return async_sessionmaker(engine, expire_on_commit=False)


_READERS: weakref.WeakKeyDictionary[
    async_sessionmaker[AsyncSession], async_sessionmaker[AsyncSession]
] = weakref.WeakKeyDictionary()


def read_only(sessionmaker: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """Sessions of the same engine and pool whose statements each run on their own, with no
    ``BEGIN`` before them and no ``ROLLBACK`` after: for reads, one round trip in place of three.

    Under PostgreSQL's default isolation (read committed) each statement of a transaction takes
    its own snapshot anyway, so a read sees exactly what it would have seen in a transaction of
    its own; only a caller that writes, locks rows (``FOR UPDATE``) or needs several statements
    to see one snapshot needs the transaction. DataLoaders (:mod:`pcse_kit.loaders`) read one
    statement per batch, and use these. Made once per sessionmaker; a sessionmaker bound to
    anything but an engine (a connection, in a test) is returned as it is.
    """
    reader = _READERS.get(sessionmaker)
    if reader is None:
        bind = sessionmaker.kw.get("bind")
        if not isinstance(bind, AsyncEngine):
            return sessionmaker
        reader = async_sessionmaker(
            bind.execution_options(isolation_level="AUTOCOMMIT"),
            expire_on_commit=sessionmaker.kw.get("expire_on_commit", True),
        )
        _READERS[sessionmaker] = reader
    return reader


_ROW_READERS: weakref.WeakKeyDictionary[
    async_sessionmaker[AsyncSession],
    Callable[[], AbstractAsyncContextManager[AsyncConnection | AsyncSession]],
] = weakref.WeakKeyDictionary()


def row_reader(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> Callable[[], AbstractAsyncContextManager[AsyncConnection | AsyncSession]]:
    """Connections of the same engine and pool, without a transaction (as :func:`read_only`'s
    sessions), for a read of plain rows (a Core ``select`` of columns, not of mapped classes).

    No ORM session around the statement: no identity map, no session transaction, no ORM
    compile step. On the practice status query's reads that was about 0.35 ms of CPU a
    statement out of 0.9. Statements still go through the engine (its compiled cache, its
    result types, its events: tracing and statement counts see them). A sessionmaker bound to
    anything but an engine gets :func:`read_only`'s sessions, which execute the same way.
    """
    reader = _ROW_READERS.get(sessionmaker)
    if reader is None:
        sessions = read_only(sessionmaker)
        # The read-only sessions' own engine (AUTOCOMMIT, the same pool): one per sessionmaker.
        bind = sessions.kw.get("bind")
        if sessions is not sessionmaker and isinstance(bind, AsyncEngine):
            reader = bind.connect
        else:
            reader = sessions
        _ROW_READERS[sessionmaker] = reader
    return reader


@dataclass
class StatementCounter:
    """Counts the SQL statements an engine sends while it is attached; used by tests."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    def _record(self, _conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)

    @contextmanager
    def attached(self, engine: AsyncEngine) -> Iterator[StatementCounter]:
        event.listen(engine.sync_engine, "before_cursor_execute", self._record)
        try:
            yield self
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", self._record)


def text_enum(enum_cls: type[enum.StrEnum], name: str, *, length: int = 32) -> Enum:
    """A string enum stored as text with a CHECK constraint, by value.

    Not a native PostgreSQL enum: adding a member later is a constraint swap in a migration,
    not an ``ALTER TYPE`` that cannot run inside a transaction.
    """
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [member.value for member in members],
    )
