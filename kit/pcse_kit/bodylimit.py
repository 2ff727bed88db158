"""A bound on the size of a request body, checked before anything reads it.

The gateway refuses bodies over its own limit (64 KiB by default), but a subgraph can be
reached without it (on its network, or by a misrouted request), and a body that size holds any
number of list items, representations or characters. Over the limit, a subgraph answers 413 in
GraphQL's shape without parsing anything. A body of unknown length (chunked) is read up to the
limit and no further.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY_BYTES: Final = 4 * 1024 * 1024
_BODY: Final = json.dumps(
    {
        "errors": [
            {
                "message": "The request body is too large.",
                "extensions": {"code": "REQUEST_ENTITY_TOO_LARGE"},
            }
        ]
    }
).encode()


class BodyLimit:
    """ASGI middleware: HTTP request bodies over ``max_bytes`` get 413 and go no further."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _too_large(send)
            return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        # No length given: read the body here, up to the limit, and hand it on.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await _too_large(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_BODY)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _BODY})
