"""GraphQL over HTTP: which media type a response uses, and which status code it carries.

The rules are those of the GraphQL over HTTP specification (draft, graphql/graphql-over-http,
``spec/GraphQLOverHTTP.md``, sections "Body", "Legacy watershed" and "Status Codes"), which
apply from its watershed of 1 January 2025:

===================================== ============================ ===========================
outcome                               application/json             graphql-response+json
===================================== ============================ ===========================
executed (``data`` present, even null) 200                          200
request error: the document does not   200, no ``data``             400, no ``data``
parse or validate, a variable fails
coercion, the operation cannot be
determined
failure before execution of our own    200, no ``data``             500, no ``data``
not a well-formed request (body not    400                          400
JSON, no query)
a mutation sent with GET               405                          405
Accept names neither type              406                          406
===================================== ============================ ===========================

A request without an Accept header is answered as ``application/graphql-response+json`` (the
specification's rule after the watershed); ``*/*`` and ``application/*`` get
``application/json``. The GraphQL specification itself ("Response", "Data") says ``data`` is
absent when an error is raised before execution begins, and present, null where a non-null
root field failed, once execution has started.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from strawberry.types import ExecutionResult

GRAPHQL_RESPONSE_JSON: Final = "application/graphql-response+json"
JSON: Final = "application/json"
_JSON_RANGES: Final = frozenset({JSON, "application/*", "*/*"})


class Outcome(enum.Enum):
    EXECUTED = "executed"
    """Execution started: the response carries ``data``, null if a non-null root field failed."""
    REQUEST_ERROR = "request error"
    """Refused before execution for the client's mistake: parse, validation, variables."""
    FAILED = "failed"
    """Refused before execution by a failure of ours (masked as INTERNAL_SERVER_ERROR)."""


def negotiate(accept: str | None) -> str | None:
    """The media type to answer in, by the client's preference; None if it accepts neither."""
    if accept is None or not accept.strip():
        return GRAPHQL_RESPONSE_JSON
    ranges: list[tuple[float, int, str]] = []
    for index, item in enumerate(accept.split(",")):
        media, *parameters = (part.strip() for part in item.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranges.append((-quality, index, media.lower()))
    for _, _, media in sorted(ranges):
        if media == GRAPHQL_RESPONSE_JSON:
            return GRAPHQL_RESPONSE_JSON
        if media in _JSON_RANGES:
            return JSON
    return None


def outcome(result: ExecutionResult) -> Outcome:
    """Whether execution started, from the result alone.

    Every error raised while executing has a path (the field it came from); errors raised
    before execution (parsing, validation, variable coercion) have none. So a result without
    data whose errors all lack a path was never executed.
    """
    if result.data is not None or not result.errors:
        return Outcome.EXECUTED
    if any(error.path for error in result.errors):
        return Outcome.EXECUTED
    if any(
        (error.extensions or {}).get("code") == "INTERNAL_SERVER_ERROR" for error in result.errors
    ):
        return Outcome.FAILED
    return Outcome.REQUEST_ERROR


def status_code(result_outcome: Outcome, media_type: str) -> int:
    """The status of a GraphQL response to a well-formed request."""
    if result_outcome is Outcome.EXECUTED or media_type == JSON:
        return 200
    return 400 if result_outcome is Outcome.REQUEST_ERROR else 500
