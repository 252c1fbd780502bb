"""A TCP proxy that can freeze traffic: the fault tests' stand-in for a hung server or host.

``freeze()`` stops forwarding in both directions (bytes already read are held back, new
connections are accepted but not forwarded), which is what a client sees when a server
is stopped by the OS, stuck, or behind a dead link: no packets at all, no reset.
``thaw()`` lets everything through again; ``drop()`` closes every open connection.

Usage, inside a running event loop::

    async with FreezableProxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/test"
        proxy.freeze()
"""

from __future__ import annotations

import contextlib
from types import TracebackType

import anyio
import anyio.abc
from anyio.streams.stapled import MultiListener

CHUNK = 65536


class FreezableProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host, self.target_port = target_host, target_port
        self.port = 0
        self._open = anyio.Event()
        self._open.set()
        self._scopes: set[anyio.CancelScope] = set()
        self._group: anyio.abc.TaskGroup | None = None
        self._listener: MultiListener[anyio.abc.SocketStream] | None = None

    @property
    def frozen(self) -> bool:
        return not self._open.is_set()

    def freeze(self) -> None:
        if not self.frozen:
            self._open = anyio.Event()

    def thaw(self) -> None:
        self._open.set()

    def drop(self) -> None:
        """Close every proxied connection (as a server process that dies would)."""
        for scope in list(self._scopes):
            scope.cancel()

    async def __aenter__(self) -> FreezableProxy:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
        self._listener = listener
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(listener.serve, self._serve)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._group is not None and self._listener is not None
        self.thaw()
        self._group.cancel_scope.cancel()
        await self._group.__aexit__(exc_type, exc, tb)
        await self._listener.aclose()

    async def _serve(self, client: anyio.abc.SocketStream) -> None:
        with anyio.CancelScope() as scope:
            self._scopes.add(scope)
            try:
                async with client:
                    await self._open.wait()
                    try:
                        server = await anyio.connect_tcp(self.target_host, self.target_port)
                    except OSError:
                        return
                    async with server, anyio.create_task_group() as group:
                        group.start_soon(self._pump, client, server, group.cancel_scope)
                        group.start_soon(self._pump, server, client, group.cancel_scope)
            finally:
                self._scopes.discard(scope)

    async def _pump(
        self,
        source: anyio.abc.SocketStream,
        sink: anyio.abc.SocketStream,
        scope: anyio.CancelScope,
    ) -> None:
        with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            while True:
                data = await source.receive(CHUNK)
                while self.frozen:  # hold the bytes back until thawed
                    await self._open.wait()
                await sink.send(data)
        scope.cancel()  # one side closed: close the other
