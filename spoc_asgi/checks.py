"""Configuration checks: one stable id per problem, in the spirit of Django's system checks.

Every rule that can reject a configuration reports through a :class:`Reporter`.
The app factory uses a strict reporter (the first error raises); ``spoc-asgi check``
uses a collecting one, so it can list every problem at once. The catalogue below is
the single source of ids, titles and hints; docs/checks.md explains each one, and
tests/test_docs.py keeps its titles and hints in step with this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from spoc_asgi.errors import ConfigurationError, PluginImportError
from spoc_asgi.redaction import redact_text

if TYPE_CHECKING:
    from spoc_asgi.config import PluginSource


class Level(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    hint: str

    @property
    def level(self) -> Level:
        return Level.WARNING if self.id.startswith("spoc.W") else Level.ERROR


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
            "spoc.E040",
            "max_body_size is not a whole number of bytes",
            "Set `max_body_size` under `[spoc]` to the bytes a request body may have, "
            "e.g. 10485760 (10 MiB), or 0 for no limit.",
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
    )
}


@dataclass(frozen=True)
class CheckMessage:
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
        return CATALOGUE[self.id]

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
    """Receives problems. Strict reporters raise on the first error; others collect."""

    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self.messages: list[CheckMessage] = []

    def error(self, message: CheckMessage, cause: BaseException | None = None) -> None:
        self.messages.append(message)
        if self.strict:
            error_class = PluginImportError if message.id in _IMPORT_IDS else ConfigurationError
            raise error_class(message) from cause

    def warn(self, message: CheckMessage) -> None:
        self.messages.append(message)

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
        message = CheckMessage(check_id, msg, file, key, uri, line)
        if message.level is Level.ERROR:
            self.error(message, cause)
        else:
            self.warn(message)

    @property
    def errors(self) -> list[CheckMessage]:
        return [m for m in self.messages if m.level is Level.ERROR]


_IMPORT_IDS = frozenset({"spoc.E013", "spoc.E014", "spoc.E015"})
