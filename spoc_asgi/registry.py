"""The built-in plugin groups and what each becomes in the app (docs/plugins.md#groups).

One table, :data:`GROUPS`: a built-in group's name to its :class:`GroupAdapter`, which
says what an entry becomes (a middleware layer, a lifespan step, routes, a backend),
how one entry is adapted, and how ``spoc-asgi plugins`` describes the group.
``create_app``, ``install``, :class:`~spoc_asgi.backends.Backends` and the command line
all go through :func:`build`, so they cannot disagree.

Every other group is a custom group, as in SPOC: its entries are imported in order
and left to the application (``framework.plugins[group]``); nothing adapts them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple

from spoc_asgi.errors import ConfigurationError
from spoc_asgi.importer import load_from_uri

if TYPE_CHECKING:
    from starlette.middleware import Middleware
    from starlette.routing import BaseRoute

    from spoc_asgi.framework import Framework
    from spoc_asgi.hooks import Step

Adapter = Callable[["Framework", str, Any], Any]
OnError = Callable[[str, str, Exception], None]


class Role(str, Enum):
    """What the entries of a group become."""

    MIDDLEWARE = "middleware"
    BACKEND = "backend"
    LIFESPAN = "lifespan"
    ROUTES = "routes"
    CUSTOM = "custom"


class GroupAdapter(NamedTuple):
    group: str
    role: Role
    adapt: Adapter
    becomes: str  # how the command line describes the group


def _adapter(function: str, *leading: str) -> Adapter:
    """``function(framework, *leading, uri, obj)``, imported when first used: the table
    can then be read (for its group names) without importing every adapter."""

    def adapt(framework: Framework, uri: str, obj: Any) -> Any:
        return load_from_uri(function)(framework, *leading, uri, obj)

    return adapt


# In build order: the order in which create_app adapts (and so reports) the groups.
GROUPS: dict[str, GroupAdapter] = {
    adapter.group: adapter
    for adapter in (
        GroupAdapter(
            "middleware",
            Role.MIDDLEWARE,
            _adapter("spoc_asgi.middleware.adapt"),
            "outermost first: the first sees the request first and the response last",
        ),
        GroupAdapter(
            "database",
            Role.BACKEND,
            _adapter("spoc_asgi.backends.build_backend", "database"),
            "backends: connected at startup before the hooks, closed after them",
        ),
        GroupAdapter(
            "cache",
            Role.BACKEND,
            _adapter("spoc_asgi.backends.build_backend", "cache"),
            "backends: connected at startup before the hooks, closed after them",
        ),
        GroupAdapter(
            "hooks",
            Role.LIFESPAN,
            _adapter("spoc_asgi.hooks.adapt"),
            "lifespan steps: started in order, stopped in reverse",
        ),
        GroupAdapter(
            "routes",
            Role.ROUTES,
            _adapter("spoc_asgi.routes.adapt"),
            "routes, ahead of the app's own",
        ),
    )
}

BUILTIN_GROUPS: tuple[str, ...] = tuple(GROUPS)
CUSTOM_GROUP = "custom group: imported in order and left to the application"


def role_of(group: str) -> Role:
    adapter = GROUPS.get(group)
    return adapter.role if adapter is not None else Role.CUSTOM


def describe_group(group: str) -> str:
    adapter = GROUPS.get(group)
    return adapter.becomes if adapter is not None else CUSTOM_GROUP


class Built:
    """Every adapted entry, by group then URI, in configured order."""

    def __init__(self) -> None:
        self.adapted: dict[str, OrderedDict[str, Any]] = {}

    def of_role(self, role: Role) -> Iterator[tuple[str, str, Any]]:
        for group, entries in self.adapted.items():
            if role_of(group) is role:
                for uri, built in entries.items():
                    yield group, uri, built

    @property
    def middleware(self) -> list[Middleware]:
        return [built for _, _, built in self.of_role(Role.MIDDLEWARE)]

    @property
    def hooks(self) -> list[Step]:
        return [built for _, _, built in self.of_role(Role.LIFESPAN)]

    @property
    def routes(self) -> list[BaseRoute]:
        return [route for _, _, built in self.of_role(Role.ROUTES) for route in built]

    @property
    def backends(self) -> dict[str, OrderedDict[str, Any]]:
        return {
            group: entries
            for group, entries in self.adapted.items()
            if role_of(group) is Role.BACKEND and entries
        }


def build(
    framework: Framework,
    *,
    roles: Collection[Role] | None = None,
    on_error: OnError | None = None,
) -> Built:
    """Adapt every loaded entry of the built-in groups (of ``roles``, if given).

    A bad entry raises its ``ConfigurationError``; with ``on_error``, every exception
    an adapter raises (a plugin's own constructor too) goes to
    ``on_error(group, uri, exc)`` instead and the entry is left out, so that
    ``spoc-asgi check`` can list every problem at once.
    """
    built = Built()
    for group, adapter in GROUPS.items():
        if roles is not None and adapter.role not in roles:
            continue
        entries: OrderedDict[str, Any] = OrderedDict()
        for uri, obj in framework.plugins.get(group, {}).items():
            try:
                entries[uri] = adapter.adapt(framework, uri, obj)
            except Exception as exc:
                error = _as_configuration_error(framework, group, uri, exc)
                if on_error is None:
                    if error is exc:
                        raise
                    raise error from exc
                on_error(group, uri, error)
        built.adapted[group] = entries
    return built


def _as_configuration_error(
    framework: Framework, group: str, uri: str, exc: Exception
) -> ConfigurationError:
    """A plugin's own code raised while being adapted (its constructor, a property, a
    ``__getattr__``): a configuration error naming the URI, not a bare traceback."""
    if isinstance(exc, ConfigurationError):
        return exc
    from spoc_asgi.shapes import options_error

    options, source = framework.options_for(group, uri), framework.source_of(group, uri)
    reason = f"{type(exc).__name__}: {exc}"
    return options_error(group, uri, "failed with", options, source, reason)
