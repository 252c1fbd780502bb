"""Configuration checks: one stable id per problem, in the spirit of Django's system checks.

Every rule that can reject a configuration reports through a :class:`Reporter`.
The app factory uses a strict reporter (the first error raises); ``spoc-asgi check``
uses a collecting one, so it can list every problem at once. The catalogue below is
the single source of ids, titles and hints; docs/checks.md explains each one, and
tests/test_docs.py keeps its titles and hints in step with this file. Plugins add
checks of their own with :func:`register` (docs/checks.md#checks-of-your-own); a
project silences ids on purpose with ``silenced_checks`` (:meth:`Reporter.silence`).
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Callable, Iterable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from spoc_asgi.errors import ConfigurationError, PluginImportError, SpocError
from spoc_asgi.redaction import redact_text

if TYPE_CHECKING:
    from spoc_asgi.config import PluginSource
    from spoc_asgi.framework import Framework


class Level(str, Enum):
    ERROR = "error"
    WARNING = "warning"


class CheckSpec(NamedTuple):
    """A check: its id (``<prefix>.E<nnn>`` for an error, ``<prefix>.W<nnn>`` for a
    warning), a title and a hint. ``silenceable`` errors may be silenced on purpose
    (warnings always may): see docs/checks.md#silencing-a-check."""

    id: str
    title: str
    hint: str
    silenceable: bool = False

    @property
    def level(self) -> Level:
        return Level.WARNING if self.id.rpartition(".")[2].startswith("W") else Level.ERROR

    @property
    def may_be_silenced(self) -> bool:
        return self.silenceable or self.level is Level.WARNING


CATALOGUE: dict[str, CheckSpec] = {
    spec.id: spec
    for spec in (
        CheckSpec(
            "spoc.E001",
            "spoc.toml is not valid TOML",
            "Fix the syntax at the line and column given.",
        ),
        CheckSpec(
            "spoc.E002",
            "[spoc] is not a table",
            "Write the settings under a `[spoc]` table header.",
        ),
        CheckSpec(
            "spoc.E003",
            "[spoc.plugins] is not a table",
            'Use `[spoc.plugins]` with one `group = ["pkg.mod.attr", ...]` line per group.',
        ),
        CheckSpec(
            "spoc.E004",
            "a plugin group is not a list",
            'List the URIs in brackets: `middleware = ["pkg.mod.attr"]`.',
        ),
        CheckSpec(
            "spoc.E005",
            "a plugin entry is not a valid URI string",
            "Each entry is a dotted path such as `pkg.mod.attr` or `pkg.mod:Class.attr`.",
        ),
        CheckSpec(
            "spoc.E006",
            "invalid mode",
            'Set `mode` (or SPOC_MODE) to "development", "staging" or "production".',
        ),
        CheckSpec(
            "spoc.E007",
            "debug is not a boolean",
            "Use `debug = true` / `false` in TOML; "
            "SPOC_DEBUG accepts 1/0, true/false, yes/no, on/off.",
        ),
        CheckSpec(
            "spoc.E008",
            "settings.py raised an exception on import",
            "Run `python config/settings.py` to see the error, and fix it.",
        ),
        CheckSpec(
            "spoc.E009",
            "PLUGINS is not a dict",
            'Write `PLUGINS = {"group": ["pkg.mod.attr", ...]}`.',
        ),
        CheckSpec(
            "spoc.E010",
            "a PLUGINS group is not a list of URIs (or its name is not a string)",
            'Write `PLUGINS = {"middleware": ["pkg.mod.attr"]}`: string keys, list values.',
        ),
        CheckSpec(
            "spoc.E011",
            "hook_timeout is not a positive number",
            "Set `hook_timeout` under `[spoc]` to the seconds a hook may take, e.g. 30.",
        ),
        CheckSpec(
            "spoc.E012",
            "plugin options are not a table of tables",
            "Map each plugin's short name or URI to a table: `[spoc.config.cache.redis]` "
            'or `CACHE_CONFIG = {"redis": {"url": ...}}`.',
        ),
        CheckSpec(
            "spoc.E013",
            "plugin module not found",
            "Check the spelling of the URI and that its package is installed or on sys.path.",
        ),
        CheckSpec(
            "spoc.E014",
            "plugin module failed to import",
            "The module exists but raised while importing: the chained exception shows where.",
        ),
        CheckSpec(
            "spoc.E015",
            "plugin module has no such attribute",
            "Check the attribute name after the module path, or define it in that module.",
        ),
        CheckSpec(
            "spoc.E016",
            "middleware entry of no known shape",
            "Use an ASGI middleware class, a starlette Middleware, a request function "
            "`fn(request)`, or a class with `process(request)` / `__call__(request)`.",
        ),
        CheckSpec(
            "spoc.E017",
            "hooks entry of no known shape",
            "Use a function (no argument or the app), an async generator / async context "
            "manager factory taking the app, or an object with startup/shutdown methods.",
        ),
        CheckSpec(
            "spoc.E018",
            "backend entry of no known shape",
            "Use a class (or instance) with `connect()` and `disconnect()` methods.",
        ),
        CheckSpec(
            "spoc.E019",
            "routes entry of no known shape",
            "Use a starlette BaseRoute, a list of them, or a Router.",
        ),
        CheckSpec(
            "spoc.E020",
            "INSTALLED_APPS is not a list of strings",
            'Write `INSTALLED_APPS = ["app_one", "app_two"]`.',
        ),
        CheckSpec(
            "spoc.E021",
            "a plugin rejected its options",
            "Compare the options configured for it with the arguments it accepts.",
        ),
        CheckSpec(
            "spoc.E022",
            "entry_points is not a boolean",
            "Set `entry_points = true` under `[spoc]` to load plugins of installed "
            "distributions, or leave it out.",
        ),
        CheckSpec(
            "spoc.E023",
            "unknown key in [spoc], close to a known one",
            "Use the key the message suggests; docs/configuration.md lists every key.",
            silenceable=True,
        ),
        CheckSpec(
            "spoc.E024",
            "a plugin group is named almost like a built-in group",
            "Use the built-in group's name (middleware, hooks, database, cache, routes); "
            "silence the check if the custom group is meant.",
            silenceable=True,
        ),
        CheckSpec(
            "spoc.E025",
            "a settings name is close to one spoc_asgi reads",
            "Use the name the message suggests (PLUGINS, INSTALLED_APPS, SILENCED_CHECKS, "
            "<GROUP>_CONFIG).",
            silenceable=True,
        ),
        CheckSpec(
            "spoc.E026",
            "options for a name close to a configured plugin or group",
            "Key the options by the plugin's short name or full URI, or by the group's name, "
            "as the message suggests.",
            silenceable=True,
        ),
        CheckSpec(
            "spoc.E027",
            "short-name options match several plugins",
            'Key the options by each plugin\'s full URI: `[spoc.config.<group>."pkg.mod.attr"]`.',
            silenceable=True,
        ),
        CheckSpec(
            "spoc.E028",
            "settings at a location spoc_asgi does not read, and none where it looks",
            "Move the settings to config/settings.py (or settings.py) in the base dir.",
            silenceable=True,
        ),
        CheckSpec(
            "spoc.E029",
            "silenced checks are not a list of known ids that may be silenced",
            'Write `silenced_checks = ["spoc.W004"]` (or SILENCED_CHECKS in settings) with '
            "ids of warnings or of errors docs/checks.md marks as silenceable.",
        ),
        CheckSpec(
            "spoc.E030",
            "a registered check failed",
            "The check raised or returned something other than CheckMessage objects of its "
            "own ids: fix the check (the chained exception shows where).",
        ),
        CheckSpec(
            "spoc.E040",
            "max_body_size is not a whole number of bytes",
            "Set `max_body_size` under `[spoc]` to the bytes a request body may have, "
            "e.g. 10485760 (10 MiB), or 0 for no limit.",
        ),
        CheckSpec(
            "spoc.E050",
            "[spoc.coordination] is invalid",
            "See docs/deployment.md for its keys: backend, url, path, lease_seconds, "
            "wait_seconds, retry_seconds, namespace, deployment_id.",
        ),
        CheckSpec(
            "spoc.E051",
            "the coordination backend cannot be used",
            "Configure a PostgreSQL database or a Redis cache, set "
            "`[spoc.coordination] url`, or install the driver the message names.",
        ),
        CheckSpec(
            "spoc.E052",
            "a @once or @leader hook of the wrong shape",
            "@leader takes an `async def fn(app)` that runs until cancelled; @once a hook "
            "with a startup part (not a shutdown hook), and `timeout=` a number of seconds > 0.",
        ),
        CheckSpec(
            "spoc.E053",
            "[spoc.health] is invalid",
            "Its keys are `drain_seconds` (>= 0; 0 turns draining off) and `ping_timeout` "
            "(> 0), both in seconds.",
        ),
        CheckSpec(
            "spoc.W001",
            "options configured for a plugin that is not in the group",
            "Remove the options, or add the plugin to the group; "
            "keys are a short name or a full URI.",
        ),
        CheckSpec(
            "spoc.W002",
            "a URI is listed twice in one group",
            "The first position is kept; remove the later entry.",
        ),
        CheckSpec(
            "spoc.W003",
            "debug is on in production mode",
            "Set `debug = false` for production: debug pages show tracebacks to clients.",
        ),
        CheckSpec(
            "spoc.W004",
            "unknown key in [spoc]",
            "spoc_asgi does not read it: remove it, keep your own values in settings.py, "
            "or silence spoc.W004.",
        ),
        CheckSpec(
            "spoc.W005",
            "settings at a location spoc_asgi does not read",
            "spoc_asgi reads config/settings.py, else settings.py: merge the other file into "
            "the one it reads, or remove it.",
        ),
        CheckSpec(
            "spoc.W006",
            "production mode with the database on its defaults",
            "Give the database its options (`[spoc.config.database.sql] url = ...` or "
            "DATABASE_CONFIG), or silence spoc.W006 if the default is meant.",
        ),
        CheckSpec(
            "spoc.W030",
            "@once/@leader hooks coordinate through file locks outside development",
            "File locks reach one host only: with replicas on several hosts, configure a "
            "PostgreSQL database or a Redis cache, or set `[spoc.coordination] backend`.",
        ),
    )
}


class CheckMessage(NamedTuple):
    """One problem found in a configuration.

    ``file`` and ``line`` say where it was written; ``origin`` names a place that is
    not a file (the entry point of an installed distribution).
    """

    id: str
    msg: str
    file: Path | None = None
    key: str | None = None
    uri: str | None = None
    line: int | None = None
    origin: str | None = None

    @classmethod
    def at(
        cls,
        check_id: str,
        msg: str,
        source: PluginSource | None,
        *,
        key: str | None = None,
        uri: str | None = None,
    ) -> CheckMessage:
        """A message about the plugin configured at ``source`` (a file and line, or an
        entry point of a distribution)."""
        if source is None:
            return cls(check_id, msg, key=key, uri=uri)
        origin = str(source) if source.distribution is not None else None
        return cls(check_id, msg, source.file, key, uri, source.line, origin)

    @property
    def spec(self) -> CheckSpec:
        spec = CATALOGUE.get(self.id) or registered_checks.specs.get(self.id)
        if spec is None:
            raise KeyError(f"unknown check id {self.id!r}")
        return spec

    @property
    def level(self) -> Level:
        return self.spec.level

    @property
    def hint(self) -> str:
        return self.spec.hint

    @property
    def location(self) -> str:
        return self.where()

    def where(self, base_dir: Path | None = None) -> str:
        """``file:line [key]``, the file relative to ``base_dir`` when it is inside it."""
        if self.file is not None:
            where = _relative(self.file, base_dir)
        else:
            where = self.origin or "<no file>"
        if self.line is not None:
            where += f":{self.line}"
        if self.key:
            where += f" [{self.key}]"
        return redact_text(where)

    def __str__(self) -> str:
        return redact_text(f"{self.location}: {self.msg} ({self.id}) HINT: {self.hint}")


def _relative(path: Path, base_dir: Path | None) -> str:
    if base_dir is not None and path.is_relative_to(base_dir):
        return str(path.relative_to(base_dir))
    return str(path)


class Reporter:
    """Receives problems. Strict reporters raise on the first error; others collect.

    A silenced id (docs/checks.md#silencing-a-check) is kept in ``silenced`` instead
    of ``messages``, and never raises.
    """

    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self.messages: list[CheckMessage] = []
        self.silenced: list[CheckMessage] = []
        self._silenced_ids: set[str] = set()

    def silence(self, ids: Iterable[str]) -> None:
        """Stop reporting these ids (each one that :attr:`CheckSpec.may_be_silenced`)."""
        self._silenced_ids.update(ids)

    def _is_silenced(self, message: CheckMessage) -> bool:
        if message.id in self._silenced_ids and message.spec.may_be_silenced:
            self.silenced.append(message)
            return True
        return False

    def error(self, message: CheckMessage, cause: BaseException | None = None) -> None:
        if self._is_silenced(message):
            return
        self.messages.append(message)
        if self.strict:
            error_class = PluginImportError if message.id in _IMPORT_IDS else ConfigurationError
            raise error_class(message) from cause

    def warn(self, message: CheckMessage) -> None:
        if not self._is_silenced(message):
            self.messages.append(message)

    def add(self, message: CheckMessage, cause: BaseException | None = None) -> None:
        """Report ``message`` as the error or warning its id says it is."""
        if message.level is Level.ERROR:
            self.error(message, cause)
        else:
            self.warn(message)

    def report(
        self,
        check_id: str,
        msg: str,
        *,
        file: Path | None = None,
        key: str | None = None,
        uri: str | None = None,
        line: int | None = None,
        cause: BaseException | None = None,
    ) -> None:
        """Report one problem; the id's level says whether it is an error or a warning."""
        self.add(CheckMessage(check_id, msg, file, key, uri, line), cause)

    @property
    def errors(self) -> list[CheckMessage]:
        return [m for m in self.messages if m.level is Level.ERROR]


# -- checks contributed by plugins -----------------------------------------------------

CheckFunction = Callable[["Framework"], Iterable[CheckMessage]]
_OWN_ID = r"^(?P<prefix>[a-z][a-z0-9_]*)\.[EW]\d{3}$"  # compiled by re when first used


class CheckRegistry:
    """Checks contributed by plugins, as Django's ``checks.register`` (docs/checks.md#
    checks-of-your-own). A check runs for a project only when the project uses it: its
    module belongs to the same top-level package as one of the project's plugins, or it
    is defined in the project's settings module."""

    def __init__(self) -> None:
        self.specs: dict[str, CheckSpec] = {}
        self._checks: dict[tuple[str, str], tuple[CheckFunction, frozenset[str]]] = {}

    def register(self, *specs: CheckSpec) -> Callable[[CheckFunction], CheckFunction]:
        """Decorator: ``function(framework)`` returns (or yields) the :class:`CheckMessage`
        objects it finds, each with one of the ids of ``specs``."""
        for spec in specs:
            match = re.match(_OWN_ID, spec.id)
            if match is None or match.group("prefix") == "spoc":
                raise SpocError(
                    f"check id {spec.id!r}: use your own prefix and E/W and three digits, "
                    "such as 'acme.W001' ('spoc.' ids belong to spoc_asgi)"
                )
            known = self.specs.get(spec.id)
            if known is not None and known != spec:
                raise SpocError(f"check id {spec.id!r} is registered already as {known}")

        def decorator(function: CheckFunction) -> CheckFunction:
            for spec in specs:
                self.specs[spec.id] = spec
            key = (function.__module__, function.__qualname__)  # a re-import replaces it
            self._checks[key] = (function, frozenset(spec.id for spec in specs))
            return function

        return decorator

    def unregister(self, function: CheckFunction) -> None:
        entry = self._checks.pop((function.__module__, function.__qualname__), None)
        if entry is not None:
            still_used = {i for _, ids in self._checks.values() for i in ids}
            for check_id in entry[1] - still_used:
                self.specs.pop(check_id, None)

    def run(self, framework: Framework, reporter: Reporter) -> None:
        """Run every check this project uses; report what each finds."""
        packages = _plugin_packages(framework)
        for (module, qualname), (function, ids) in list(self._checks.items()):
            if module.partition(".")[0] not in packages:
                continue
            name = f"{module}.{qualname}"
            try:
                result = function(framework)
                if isinstance(result, CheckMessage):  # a tuple, but one message, not many
                    raise TypeError("it returned one CheckMessage, not an iterable of them")
                found = list(result)
            except Exception as exc:
                reporter.report(
                    "spoc.E030", f"check {name} raised {type(exc).__name__}: {exc}", cause=exc
                )
                continue
            for message in found:
                if not isinstance(message, CheckMessage) or message.id not in ids:
                    reporter.report(
                        "spoc.E030",
                        f"check {name} returned {reprlib.repr(message)}, not a CheckMessage "
                        f"with one of its ids {sorted(ids)}",
                    )
                    continue
                reporter.add(message)


def _plugin_packages(framework: Framework) -> set[str]:
    packages = {framework.config.settings.__name__}
    for group in framework.config.plugins.values():
        for entry in group:
            packages.add(entry.uri.partition(":")[0].partition(".")[0])
    return packages


registered_checks = CheckRegistry()
register = registered_checks.register
unregister = registered_checks.unregister


_IMPORT_IDS = frozenset({"spoc.E013", "spoc.E014", "spoc.E015"})
