"""GraphQL plumbing shared by the subgraphs: the federation schema, its extensions, ``/graphql``."""

from __future__ import annotations

import functools
import inspect
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, cast

import orjson
import strawberry
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.responses import Response as StarletteResponse
from starlette.websockets import WebSocketClose
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.fastapi import BaseContext
from strawberry.federation.schema import FederationAny  # noqa: TC002 - evaluated by Strawberry
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import Info  # noqa: TC002 - Strawberry evaluates the _entities signature

from pcse_kit import over_http
from pcse_kit.db import read_only, row_reader
from pcse_kit.errors import BadUserInput, MaskInternalErrors
from pcse_kit.execution import PlainFieldsExecutor
from pcse_kit.observe import OperationMetrics

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from cross_web import AsyncHTTPRequestAdapter
    from fastapi import Request, Response
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
    from starlette.types import ASGIApp, Receive, Scope, Send
    from strawberry.extensions import SchemaExtension
    from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
    from strawberry.types import ExecutionResult
    from strawberry.types.base import StrawberryObjectDefinition

    from pcse_kit.auth import Principal

    ContextGetter = Callable[[StarletteRequest], Awaitable[Any]]
    """The request's context, verifying its caller; may raise what a refusal answers."""

    Refusal = Callable[[StarletteRequest, Any], StarletteResponse]
    """The answer to a refused caller, given the request and the exception."""

MAX_REPRESENTATIONS: Final = 10_000
"""Entities one ``_entities`` call may ask for: far above what an operation within the
gateway's cost limit (5,000) makes it fetch at once, and a bound on what anyone else sends."""

FEDERATION_VERSION: Final = "2.9"
"""The newest version ``@theguild/federation-composition`` accepts; Strawberry defaults higher."""


class RequestContext(BaseContext):
    """Per-request context: the verified caller and a sessionmaker. Services add loaders.

    Concurrent resolvers never share one ``AsyncSession``: each loader batch and each mutation
    opens its own from ``sessionmaker``. ``reader`` makes sessions for reads alone, which run
    each statement without a transaction around it (:func:`pcse_kit.db.read_only`); ``rows``
    makes connections for reads of plain rows, without a session (:func:`pcse_kit.db.row_reader`).
    """

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], principal: Principal
    ) -> None:
        super().__init__()
        self.sessionmaker = sessionmaker
        self.reader = read_only(sessionmaker)
        self.rows = row_reader(sessionmaker)
        self.principal = principal


def _bad_representation(index: int, message: str) -> GraphQLError:
    return GraphQLError(
        message,
        path=["_entities", index],
        extensions={"code": "BAD_USER_INPUT"},
    )


class FederationSchema(strawberry.federation.Schema):
    """A federation schema whose ``_entities`` copes with any representation a client sends.

    Strawberry's own resolver assumes well-formed representations, so one bad item (no
    ``__typename``, an unknown type, a string) fails the whole batch with Python exception text.
    Here each bad item gets its own typed error and the others still resolve.
    """

    def entities_resolver(
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        if len(representations) > MAX_REPRESENTATIONS:
            raise BadUserInput(
                f"`representations` holds at most {MAX_REPRESENTATIONS} items.",
                field="representations",
            )
        results: list[Any] = []
        for index, representation in enumerate(representations):
            results.append(self._resolve_one(info, index, representation))
        return results

    def _resolve_one(self, info: Info, index: int, representation: Any) -> Any:
        if not isinstance(representation, dict):
            return _bad_representation(index, "A representation must be an object.")
        type_name = representation.get("__typename")
        if not isinstance(type_name, str):
            return _bad_representation(index, "A representation must have a string __typename.")
        type_ = self.schema_converter.type_map.get(type_name)
        definition = cast("StrawberryObjectDefinition | None", getattr(type_, "definition", None))
        resolve_reference = getattr(getattr(definition, "origin", None), "resolve_reference", None)
        if definition is None or resolve_reference is None:
            return _bad_representation(index, f"{type_name} is not an entity of this subgraph.")
        keys = {k: v for k, v in representation.items() if k != "__typename"}
        signature = _signature(resolve_reference)
        if "info" in signature.parameters:
            keys["info"] = info
        try:
            bound = signature.bind(**keys)
        except TypeError:
            return _bad_representation(
                index, f"The representation does not match {type_name}'s key."
            )
        return resolve_reference(*bound.args, **bound.kwargs)


@functools.cache
def _signature(resolve_reference: Callable[..., Any]) -> inspect.Signature:
    """A type's ``resolve_reference`` signature, worked out once: per representation it cost
    more than the rest of matching the representation to it."""
    return inspect.signature(resolve_reference)


def schema_extensions(
    *, parser_cache_size: int = 1024, validation_cache_size: int = 1024
) -> list[type[SchemaExtension] | Callable[[], SchemaExtension]]:
    """Measurement first (so it times the rest), caches (validation dominates an uncached
    request), then error masking, whose codes the measurement counts.

    The caches are passed as factories: a fresh extension per request, sharing one LRU.
    """
    return [
        OperationMetrics,
        lambda: ParserCache(maxsize=parser_cache_size),
        lambda: ValidationCache(maxsize=validation_cache_size),
        MaskInternalErrors,
    ]


def create_schema(
    *,
    query: type | None,
    mutation: type | None = None,
    types: Sequence[type] = (),
    parser_cache_size: int = 1024,
    validation_cache_size: int = 1024,
) -> FederationSchema:
    return FederationSchema(
        query=query,
        mutation=mutation,
        types=list(types),
        federation_version=FEDERATION_VERSION,
        execution_context_class=PlainFieldsExecutor,
        extensions=schema_extensions(
            parser_cache_size=parser_cache_size, validation_cache_size=validation_cache_size
        ),
    )


_MEDIA_TYPE: ContextVar[str] = ContextVar("graphql_response_media_type", default=over_http.JSON)
_OUTCOME: ContextVar[over_http.Outcome | None] = ContextVar("graphql_outcome", default=None)


class OverHttp:
    """Strawberry's HTTP view, answering as GraphQL over HTTP recommends (see ``over_http``).

    Strawberry always answers ``application/json`` with 200 and a ``data`` entry, even for a
    document that does not parse; here the client's Accept header picks the media type, and
    the outcome the status code and whether ``data`` is present. It also refuses a JSON body
    that is not an object (or a batch of them): Strawberry would fail on a bare string or
    number with a 500, where a client mistake deserves a 400.

    The media type and the outcome travel from the steps that know them to the one that
    builds the response in context variables: Strawberry calls all three in the request's
    own task, and the view object is shared by every request. Mixed into Strawberry's ASGI
    view (:class:`GraphQLApp`), which serves ``/graphql``.
    """

    def encode_json(self, data: object) -> bytes:
        """orjson: a response's JSON in C, several times faster than the standard library."""
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        decoded = super().decode_json(data)  # type: ignore[misc]
        if not isinstance(decoded, dict | list):
            raise HTTPException(400, "The request body must be a JSON object.")
        return decoded

    async def execute_single(  # noqa: PLR0917 - Strawberry's signature
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Any,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        media_type = over_http.negotiate(request.headers.get("accept"))
        if media_type is None:
            raise HTTPException(
                406,
                f"Accept {over_http.GRAPHQL_RESPONSE_JSON} or {over_http.JSON}.",
            )
        _MEDIA_TYPE.set(media_type)
        _OUTCOME.set(None)
        try:
            return await super().execute_single(  # type: ignore[misc,no-any-return]
                request, request_adapter, sub_response, context, root_value, request_data
            )
        except HTTPException as error:
            if request_adapter.method == "GET" and isinstance(
                error.__cause__, InvalidOperationTypeError
            ):
                # "MUST respond with 405": a safe method never changes anything.
                raise HTTPException(405, "Send mutations with POST.") from error
            raise

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response: GraphQLHTTPResponse = await super().process_result(  # type: ignore[misc]
            request, result
        )
        result_outcome = over_http.outcome(result)
        if result_outcome is not over_http.Outcome.EXECUTED:
            # Refused before execution began: the GraphQL specification has no data entry.
            response.pop("data", None)
        _OUTCOME.set(result_outcome)
        return response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response: Response = super().create_response(  # type: ignore[misc]
            response_data, sub_response
        )
        result_outcome = _OUTCOME.get()
        if result_outcome is not None and not isinstance(response_data, list):
            media_type = _MEDIA_TYPE.get()
            response.status_code = over_http.status_code(result_outcome, media_type)
            response.headers["content-type"] = f"{media_type}; charset=utf-8"
        return response


class GraphQLApp(OverHttp, GraphQL[Any, None]):
    """``GET`` and ``POST /graphql`` as a bare ASGI app, ahead of FastAPI's routing.

    FastAPI's route around Strawberry's view (the routing, the exception and exit-stack
    middlewares, solving the context dependency) cost each request about a fifth of a
    subgraph's CPU on the client contract query, for nothing Strawberry needs. The caller is
    verified before anything else, as the route's dependency did, and a refusal is answered
    by ``refusals`` exactly as FastAPI's exception handlers answer it.
    """

    def __init__(
        self,
        schema: strawberry.Schema,
        *,
        context_getter: ContextGetter,
        refusals: dict[type[Exception], Refusal],
        graphql_ide: bool,
    ) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphql_ide else None)
        self.context_getter = context_getter
        self.refusals = refusals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = StarletteRequest(scope, receive)
        response: Any
        try:
            context = await self.context_getter(request)
        except tuple(self.refusals) as error:
            response = next(
                refuse(request, error)
                for kind, refuse in self.refusals.items()
                if isinstance(error, kind)
            )
        else:
            try:
                response = await self.run(request, context=context)
            except HTTPException as error:
                response = PlainTextResponse(error.reason, status_code=error.status_code)
        await response(scope, receive, send)


ALLOWED_METHODS: Final = ("GET", "POST")
"""What GraphQL over HTTP defines; ``/graphql`` refuses any other method with 405."""


class GraphQLFirst:
    """ASGI middleware: ``path`` is answered here, everything else (health, metrics, other
    routes, the lifespan) goes on to FastAPI. ``GET`` and ``POST`` go to ``graphql``; any other
    method is refused with 405 and ``Allow: GET, POST`` (RFC 9110, 15.5.6), in the body
    FastAPI gives a 405; a websocket upgrade is refused (no subscriptions are served). Added
    innermost of the application's middlewares, so body limits, metrics and tracing still
    wrap every request."""

    def __init__(self, app: ASGIApp, *, graphql: ASGIApp, path: str = "/graphql") -> None:
        self.app = app
        self.graphql = graphql
        self.path = path
        self.refused = JSONResponse(
            {"detail": "Method Not Allowed"},
            status_code=405,
            headers={"Allow": ", ".join(ALLOWED_METHODS)},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or scope["path"] != self.path:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await WebSocketClose()(scope, receive, send)
        elif scope["method"] in ALLOWED_METHODS:
            await self.graphql(scope, receive, send)
        else:
            await self.refused(scope, receive, send)
