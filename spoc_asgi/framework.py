"""The plugin registry: ``Framework`` and ``Schema``, the SPOC API (docs/configuration.md).

A ``Framework`` reads one base dir's configuration and imports every plugin URI,
group by group, in the merged order. It holds no process-wide state, so any
number of frameworks can live side by side.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spoc_asgi.checks import Reporter
from spoc_asgi.config import Config, PluginEntry, PluginOptions, PluginSource, load_config
from spoc_asgi.config_checks import check_config, check_framework
from spoc_asgi.errors import PluginImportError
from spoc_asgi.importer import Importer, load_configured_uri


@dataclass(frozen=True)
class Schema:
    """The application's shape, as in SPOC: the component modules each app may have."""

    modules: list[str] = field(default_factory=list)
    dependencies: dict[str, list[str]] = field(default_factory=dict)


class Framework:
    """One base dir's configuration and its loaded plugins.

    ``plugins[group][uri]`` is the imported object; ``sources[group][uri]`` is where it
    was configured. Configuration errors raise on the first problem unless a
    collecting :class:`~spoc_asgi.checks.Reporter` is given (as ``spoc-asgi check`` does).
    """

    def __init__(
        self,
        base_dir: str | os.PathLike[str] = ".",
        schema: Schema | None = None,
        *,
        reporter: Reporter | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.reporter = reporter if reporter is not None else Reporter(strict=True)
        self.schema = schema if schema is not None else Schema()
        self.importer = Importer()
        self.config: Config = load_config(base_dir, self.reporter, environ)
        check_config(self.config, self.reporter)
        self.base_dir = self.config.base_dir
        self.plugins: dict[str, OrderedDict[str, Any]] = {}
        self.sources: dict[str, OrderedDict[str, PluginSource]] = {}
        for group, entries in self.config.plugins.items():
            self._load_group(group, entries)
        check_framework(self)

    @property
    def installed_apps(self) -> list[str]:
        return self.config.installed_apps

    def _load_group(self, group: str, entries: list[PluginEntry]) -> None:
        loaded: OrderedDict[str, Any] = OrderedDict()
        sources: OrderedDict[str, PluginSource] = OrderedDict()
        for entry in entries:
            try:
                loaded[entry.uri] = load_configured_uri(entry.uri, group=group, source=entry.source)
            except PluginImportError as exc:
                self.reporter.error(exc.check, exc.__cause__)
                continue
            sources[entry.uri] = entry.source
        self.plugins[group] = loaded
        self.sources[group] = sources

    def source_of(self, group: str, uri: str) -> PluginSource | None:
        """Where ``uri`` of ``group`` was configured (loaded or not)."""
        for entry in self.config.plugins.get(group, ()):
            if entry.uri == uri:
                return entry.source
        return None

    def short_name(self, uri: str, obj: Any) -> str:
        """A plugin's short name: its class attribute ``name``, else its last URI segment."""
        try:
            name = getattr(obj, "name", None)
        except Exception:  # an object whose __getattr__ raises is simply unnamed
            name = None
        if isinstance(name, str) and name:
            return name
        return uri.replace(":", ".").rsplit(".", 1)[-1]

    def options_for(self, group: str, uri: str) -> PluginOptions:
        """Options for one plugin: short-name entry, then full-URI entry on top."""
        table = self.config.options.get(group)
        if not table:
            return {}
        obj = self.plugins[group].get(uri) if group in self.plugins else None
        return {**table.get(self.short_name(uri, obj), {}), **table.get(uri, {})}

    def __repr__(self) -> str:
        groups = ", ".join(f"{group}={len(items)}" for group, items in self.plugins.items())
        return f"<Framework {self.base_dir} mode={self.config.mode} plugins: {groups or 'none'}>"
