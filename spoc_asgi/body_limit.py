"""``BodySizeLimit``: refuse request bodies over ``[spoc] max_body_size`` with 413.

Pure ASGI, outermost among the configured middleware, so request functions and
routes see only bodies within the limit. A ``Content-Length`` over the limit is
answered at once, before anything reads the body (the server delivers no more than
it announces); a body without one (chunked, HTTP/2, HTTP/3) is counted as it streams, and
the first ``http.request`` message past the limit ends the request with 413 instead
of reaching the app. Nothing over the limit is held in memory. See
docs/reliability.md#request-body-size.
"""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Litestar's default (request_max_body_size); Django's DATA_UPLOAD_MAX_MEMORY_SIZE is 2.5 MB.
DEFAULT_MAX_BODY_SIZE = 10 * 1024 * 1024
_HTTP_1 = ("1.1", "1.0")


class BodyTooLarge(Exception):
    """Raised from ``receive`` once the body grows past the limit; never leaves the middleware."""


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain method returning the next layer's awaitable, not a coroutine: a request
        # that needs no counting adds no frame of this layer to the request's await
        # chain (docs/performance.md, "What a layer costs").
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        declared = chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_body_size:
                    return _refuse(send, self.max_body_size)
                declared = True
            elif name == b"transfer-encoding":
                chunked = True
        # The server delivers no more than a Content-Length announces, unless
        # Transfer-Encoding overrides it (RFC 9112, 6.3). HTTP/1 without either header
        # has no body at all; HTTP/2 and HTTP/3 may announce neither.
        if chunked or (not declared and scope.get("http_version") not in _HTTP_1):
            return self._counted(scope, receive, send)
        return self.app(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_body_size
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:  # the app answered before reading all of it: nothing to add
                return
            await _refuse(send, limit)


async def _refuse(send: Send, limit: int) -> None:
    body = f"Request body larger than {limit} bytes (max_body_size)\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
