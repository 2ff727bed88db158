"""Typed client errors, and the masking that keeps every other exception away from clients.

A resolver raises a :class:`ClientError` subclass for anything the caller did wrong; the
GraphQL response then carries its message and ``extensions.code``. Anything else is a bug or an
outage: it is logged with its traceback here and reaches the client only as
``Internal server error`` with ``extensions.code = INTERNAL_SERVER_ERROR``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger("pcse.errors")


class ClientError(Exception):
    """An error the caller can act on; its message is safe to show."""

    code: ClassVar[str] = "BAD_USER_INPUT"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def extensions(self) -> dict[str, Any]:
        # graphql-core copies ``extensions`` from the original error into the response.
        extensions: dict[str, Any] = {"code": self.code}
        if self.field is not None:
            extensions["field"] = self.field
        return extensions


class BadUserInput(ClientError):
    """A value failed validation: a malformed identifier, an impossible date, ..."""

    code = "BAD_USER_INPUT"


class NotFound(ClientError):
    """A referenced object does not exist (only where saying so reveals nothing)."""

    code = "NOT_FOUND"


class Conflict(ClientError):
    """The request is valid but contradicts the current state."""

    code = "CONFLICT"


INTERNAL_MESSAGE = "Internal server error."


def _is_client_safe(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None:
        # Syntax, validation and variable-coercion errors come from graphql-core itself and
        # describe only the request.
        return True
    return isinstance(original, ClientError | GraphQLError)


def _mask(error: GraphQLError) -> bool:
    if _is_client_safe(error):
        return False
    original = error.original_error
    logger.error(
        "unexpected error at %s",
        ".".join(str(p) for p in error.path or ()),
        exc_info=(type(original), original, original.__traceback__) if original else None,
    )
    return True


class MaskInternalErrors(MaskErrors):
    """Strawberry's masking, with a code on the masked error and the traceback logged."""

    def __init__(self, should_mask_error: Callable[[GraphQLError], bool] = _mask) -> None:
        super().__init__(should_mask_error=should_mask_error, error_message=INTERNAL_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return GraphQLError(
            message=self.error_message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR"},
        )
