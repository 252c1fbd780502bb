"""The app factory: ``create_app`` builds a Starlette app, ``install`` extends an existing one.

Both assemble the same parts from a :class:`~spoc_asgi.framework.Framework`: the
middleware group (outermost first), the routes group, the backends and hooks on
one lifespan :class:`~spoc_asgi.lifespan.Runtime`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, NamedTuple

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from spoc_asgi.backends import Backends
from spoc_asgi.body_limit import BodySizeLimit
from spoc_asgi.compat import refuse_removed_keywords
from spoc_asgi.errors import SpocError
from spoc_asgi.framework import Framework, Schema
from spoc_asgi.hooks import Step
from spoc_asgi.lifespan import Lifespan, Runtime, run_inside
from spoc_asgi.logs import logger, make_visible
from spoc_asgi.markers import is_coordinated
from spoc_asgi.redaction import redact_lifespan_failures
from spoc_asgi.registry import build

PathLike = str | os.PathLike[str]


class Parts(NamedTuple):
    framework: Framework
    middleware: list[Middleware]
    routes: list[BaseRoute]
    runtime: Runtime


def assemble(
    framework: Framework, inner_lifespan: Lifespan | None = None, inner_name: str = "lifespan="
) -> Parts:
    """Adapt every group; any entry of the wrong shape raises ``ConfigurationError`` here."""
    make_visible()
    for warning in framework.reporter.messages:  # errors have raised already
        logger.warning("%s", warning)
    if inner_lifespan is not None:
        # Every form Starlette accepts (bare sync/async generators are deprecated there),
        # normalised exactly as Starlette does it.
        inner_lifespan = Router(lifespan=inner_lifespan).lifespan_context  # type: ignore[arg-type]
    built = build(framework)  # every built-in group, through the registry
    backends = Backends(built.backends)
    runtime = Runtime(
        framework,
        backends,
        [*_coordinated(framework, backends, built.hooks), *_health(framework)],
        inner=inner_lifespan,
        inner_name=inner_name,
    )
    middleware = built.middleware
    limit = framework.config.max_body_size
    if limit is not None:  # outermost: no configured middleware reads a body over it
        middleware = [Middleware(BodySizeLimit, max_body_size=limit), *middleware]
    return Parts(framework, middleware, built.routes, runtime)


# Coordination and the health probes are imported only by the apps that use them
# (docs/performance.md, "Import time").


def _coordinated(framework: Framework, backends: Backends, hooks: list[Step]) -> list[Step]:
    loaded: Iterable[object] = framework.plugins.get("hooks", {}).values()
    if "coordination" not in framework.config.project and not any(map(is_coordinated, loaded)):
        return hooks
    from spoc_asgi.coordination import coordinate

    return coordinate(framework, backends, hooks)


def _health(framework: Framework) -> list[Step]:
    # The probes' routes can only be configured once their module is imported; a bad
    # SPOC_DRAIN_SECONDS is reported (spoc.E053) even without them.
    configured = "health" in framework.config.project or "SPOC_DRAIN_SECONDS" in os.environ
    if not configured and "spoc_asgi.health" not in sys.modules:
        return []
    from spoc_asgi.health import health_steps

    return health_steps(framework)


def _publish_framework(app: Starlette, parts: Parts) -> None:
    parts.runtime.target = app
    app.state.framework = parts.framework
    app.state.spoc_runtime = parts.runtime
    parts.runtime.publish(parts.runtime.backends.placeholders("the lifespan has not started"))
    _mask_lifespan_failures(app.router)


def _mask_lifespan_failures(router: Router) -> None:
    """Starlette sends a failed lifespan's traceback (every chained exception's text) to
    the server, which logs it: mask the secrets in it on the way."""
    lifespan = router.lifespan

    async def masked(scope: Scope, receive: Receive, send: Send) -> None:
        await lifespan(scope, receive, redact_lifespan_failures(send))

    router.lifespan = masked  # type: ignore[method-assign]


def create_app(
    base_dir: PathLike = ".",
    *,
    routes: Sequence[BaseRoute] | None = None,
    middleware: Sequence[Middleware] | None = None,
    lifespan: Lifespan | None = None,
    debug: bool | None = None,
    schema: Schema | None = None,
    **starlette_kwargs: Any,
) -> Starlette:
    """Build the Starlette app described by the configuration under ``base_dir``.

    Configured middleware wraps the caller's ``middleware=``; configured routes come
    before the caller's ``routes=``; the caller's ``lifespan=`` runs inside the hooks.
    ``debug`` defaults to the configuration's ``debug``.
    """
    refuse_removed_keywords(starlette_kwargs)
    parts = assemble(Framework(base_dir, schema), lifespan)
    app = Starlette(
        debug=parts.framework.config.debug if debug is None else debug,
        routes=[*parts.routes, *(routes or [])],
        middleware=[
            Middleware(_LifespanGuard, runtime=parts.runtime),
            *parts.middleware,
            *(middleware or []),
        ],
        lifespan=parts.runtime.lifespan,
        **starlette_kwargs,
    )
    _publish_framework(app, parts)
    return app


def install(
    host: Starlette, base_dir: PathLike = ".", *, schema: Schema | None = None
) -> Starlette:
    """Apply a configuration to an existing Starlette or FastAPI app, in place.

    Configured middleware goes outside the host's own, configured routes after the
    host's, and the host's lifespan runs inside the configured hooks and backends.
    """
    _ensure_not_started(host, "install()")
    host_lifespan = host.router.lifespan_context
    parts = assemble(Framework(base_dir, schema), host_lifespan, f"{type(host).__name__} host")
    host.user_middleware[0:0] = parts.middleware
    host.router.routes.extend(parts.routes)
    host.router.lifespan_context = parts.runtime.lifespan
    _publish_framework(host, parts)
    return host


def mount(host: Starlette, path: str, app: Starlette, *, name: str | None = None) -> Mount:
    """Mount a spoc app under ``path`` and run its lifespan inside the host's.

    Starlette does not run a mounted app's lifespan (encode/starlette#649), so
    ``host.mount()`` alone would skip its hooks and leave its backends unconnected.
    Requests under ``path`` see the mounted app's lifespan state over the host's
    (``request.state.database`` is the mounted app's).
    """
    runtime = getattr(app.state, "spoc_runtime", None)
    if not isinstance(runtime, Runtime):
        raise SpocError(
            f"{app!r} was not built by spoc_asgi.create_app(); mount it with host.mount()"
        )
    _ensure_not_started(host, "mount()")
    if runtime.mounted:
        # A second chain would run its hooks and connect its backends twice.
        raise SpocError(f"{app!r} is mounted already; an app's lifespan can run only once")
    route = _SpocMount(path, app=app, name=name, runtime=runtime)
    host.router.routes.append(route)
    host.router.lifespan_context = run_inside(host.router.lifespan_context, runtime)  # type: ignore[assignment]
    runtime.mounted = True
    return route


class _SpocMount(Mount):
    """A ``Mount`` that gives requests the mounted app's lifespan state."""

    def __init__(self, path: str, app: ASGIApp, name: str | None, runtime: Runtime) -> None:
        super().__init__(path, app=app, name=name)
        self.runtime = runtime
        # Outside the lifespan the backends are placeholders that explain themselves.
        self.not_running = runtime.backends.placeholders("the host's lifespan has not started")

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        own = self.runtime.state if self.runtime.state is not None else self.not_running
        # A copy: the host's per-request state must not change under its own middleware.
        scope["state"] = {**scope.get("state", {}), **own}
        await super().handle(scope, receive, send)


NOT_RUNNING = (
    "the app's lifespan is not running; a spoc app mounted with host.mount() never gets "
    "one: mount it with spoc_asgi.mount(host, path, app), or apply its configuration to "
    "the host with spoc_asgi.install(host, base_dir)"
)


class _LifespanGuard:
    """The outermost layer of a ``create_app`` app: while its lifespan is not running
    (a plain ``host.mount()``, a server with the lifespan off), requests see backend
    placeholders that name the fix, not a bare ``AttributeError`` (docs/mounting.md)."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        placeholders = runtime.backends.placeholders(NOT_RUNNING)
        self.not_running = {"framework": runtime.framework, **placeholders}

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Returns the next layer's awaitable, as BodySizeLimit does (docs/performance.md).
        if self.runtime.state is not None:
            # The lifespan runs: step out of the request path, so it costs nothing from
            # now on (Starlette sets scope["app"]; its outermost layer calls this one).
            outer = getattr(scope.get("app"), "middleware_stack", None)
            if getattr(outer, "app", None) is self:
                outer.app = self.app  # type: ignore[union-attr]
        elif scope["type"] != "lifespan":
            scope["state"] = {**scope.get("state", {}), **self.not_running}
        return self.app(scope, receive, send)


def _ensure_not_started(host: Starlette, what: str) -> None:
    if getattr(host, "middleware_stack", None) is not None:
        raise SpocError(f"{what} must run before the host app has served anything")
