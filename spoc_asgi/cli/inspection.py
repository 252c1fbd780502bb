"""Inspecting a project: load it with a collecting reporter, adapt every built-in group."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from starlette.middleware import Middleware

from spoc_asgi import registry
from spoc_asgi.checks import CheckMessage, Level, Reporter
from spoc_asgi.errors import ConfigurationError
from spoc_asgi.framework import Framework
from spoc_asgi.shapes import options_error

FAIL_LEVELS = ("error", "warning")


@dataclass
class Inspection:
    """A project's framework, every problem found, and the middleware onion."""

    base_dir: Path
    framework: Framework | None
    problems: list[CheckMessage] = field(default_factory=list)
    onion: list[tuple[str, Middleware | None]] = field(default_factory=list)

    @property
    def errors(self) -> list[CheckMessage]:
        return [p for p in self.problems if p.level is Level.ERROR]

    @property
    def warnings(self) -> list[CheckMessage]:
        return [p for p in self.problems if p.level is Level.WARNING]

    def fails(self, level: str = "error") -> bool:
        """Whether a command should exit 1: on errors, or with ``--fail-level warning``
        on any problem."""
        return bool(self.errors if level == "error" else self.problems)


def inspect_project(base_dir: Path) -> Inspection:
    """Load ``base_dir`` collecting every problem, and adapt each built-in group's
    entries as ``create_app`` would (through the same registry)."""
    reporter = Reporter(strict=False)
    try:
        framework = Framework(base_dir, reporter=reporter)
    except ConfigurationError as exc:  # raised outside the reporter: still one problem
        return Inspection(base_dir, None, [*reporter.messages, exc.check])
    inspection = Inspection(framework.base_dir, framework, reporter.messages)

    def rejected(group: str, uri: str, exc: Exception) -> None:
        if not isinstance(exc, ConfigurationError):  # a plugin's own constructor raised
            options = framework.options_for(group, uri)
            reason = f"{type(exc).__name__}: {exc}"
            source = framework.source_of(group, uri)
            exc = options_error(group, uri, "failed with", options, source, reason)
        inspection.problems.append(exc.check)

    built = registry.build(framework, on_error=rejected)
    adapted: Mapping[str, Middleware] = built.adapted.get("middleware", {})
    inspection.onion = [(uri, adapted.get(uri)) for uri in framework.plugins.get("middleware", {})]
    return inspection
