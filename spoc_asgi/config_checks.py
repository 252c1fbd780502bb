"""Checks that a configuration says what was meant (docs/checks.md).

The loader (:mod:`spoc_asgi.config`) rejects what cannot be read. These checks find
what reads fine but would silently change what runs: a misspelt key or group name, a
settings name or option table that nothing reads, settings in a file that is not
read, a production database left on its defaults. A near miss of a name spoc_asgi
reads is an error (what was meant does not happen); something merely unread is a
warning. Each message suggests the closest name when there is one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spoc_asgi.checks import CATALOGUE, CheckMessage, Reporter, registered_checks
from spoc_asgi.config import (
    SETTINGS_LOCATIONS,
    SPOC_KEYS,
    Config,
    LineIndex,
    PluginSource,
)
from spoc_asgi.registry import BUILTIN_GROUPS

if TYPE_CHECKING:
    from spoc_asgi.framework import Framework

# How close a name must be to count as a misspelling of another (difflib's ratio).
KEY_CUTOFF = 0.75
SETTINGS_CUTOFF = 0.85
SETTINGS_NAMES = ("PLUGINS", "INSTALLED_APPS", "SILENCED_CHECKS")
# Keys of SPOC's own [spoc] table that spoc_asgi does not read (docs/migrating.md).
SPOC_ONLY_KEYS = {"apps": "SPOC's apps by mode; spoc_asgi does not load apps"}
# Where SPOC looks for a settings module, in order: directories, then names; in each
# directory a package before a file (docs/migrating.md#settings-locations).
SPOC_SETTINGS_DIRS = ("config", "conf", ".")
SPOC_SETTINGS_NAMES = ("settings", "config", "configuration")


def close_match(name: str, candidates: Iterable[str], cutoff: float = KEY_CUTOFF) -> str | None:
    """The candidate ``name`` is most likely a misspelling of (case aside), if any."""
    import difflib  # only a name that is not found pays for it

    by_lower = {candidate.lower(): candidate for candidate in candidates}
    found = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[found[0]] if found else None


class _Lines:
    """One :class:`LineIndex` per file, made when a message first needs a line."""

    def __init__(self) -> None:
        self._indexes: dict[Path, LineIndex] = {}

    def of_key(self, path: Path | None, key: tuple[str, ...]) -> int | None:
        if path is None:
            return None
        if path not in self._indexes:
            self._indexes[path] = LineIndex(path)
        return self._indexes[path].line_of_key(key)


# -- on the configuration, before any plugin is imported --------------------------------


def check_config(config: Config, reporter: Reporter) -> None:
    lines = _Lines()
    _unknown_keys(config, config.project, (), reporter, lines)
    _groups_near_builtin(config, reporter, lines)
    _settings_near_known(config, reporter, lines)
    _settings_elsewhere(config, reporter)


def _unknown_keys(
    config: Config,
    table: Mapping[str, Any],
    prefix: tuple[str, ...],
    reporter: Reporter,
    lines: _Lines,
) -> None:
    """Every key of ``[spoc]`` (and of its declared sub-tables) must be in SPOC_KEYS."""
    here = [name.split(".")[-1] for name in SPOC_KEYS if name.split(".")[:-1] == list(prefix)]
    table_name = ".".join(("spoc", *prefix))
    for key, value in table.items():
        dotted = ".".join((*prefix, key))
        spec = SPOC_KEYS.get(dotted)
        has_children = any(name.startswith(f"{dotted}.") for name in SPOC_KEYS)
        if spec is not None or has_children:
            if isinstance(value, dict) and has_children and not (spec and spec.free):
                _unknown_keys(config, value, (*prefix, key), reporter, lines)
            continue
        is_table = isinstance(value, dict)
        shown = f"[{table_name}.{key}]" if is_table else f"{key!r} in [{table_name}]"
        suggestion = close_match(key, here)
        if suggestion is not None:
            check_id = "spoc.E023"
            meant = f"[{table_name}.{suggestion}]" if is_table else repr(suggestion)
            message = f"{shown} is not a key spoc_asgi reads: did you mean {meant}?"
        elif not prefix and key in SPOC_ONLY_KEYS:
            check_id, message = "spoc.W004", f"{shown} is not read: {SPOC_ONLY_KEYS[key]}"
        else:
            check_id = "spoc.W004"
            message = f"{shown} is not a key spoc_asgi reads (it reads {', '.join(sorted(here))})"
        reporter.report(
            check_id,
            message,
            file=config.toml_path,
            key=f"spoc.{dotted}",
            line=lines.of_key(config.toml_path, ("spoc", *prefix, key)),
        )


def _groups_near_builtin(config: Config, reporter: Reporter, lines: _Lines) -> None:
    toml_groups = config.project.get("plugins")
    settings_groups = getattr(config.settings, "PLUGINS", None)
    for group, entries in config.plugins.items():
        if group in BUILTIN_GROUPS:
            continue
        suggestion = close_match(group, BUILTIN_GROUPS)
        if suggestion is None:
            continue
        message = (
            f"group {group!r} is not a built-in group, so its plugins are imported and "
            f"nothing more: did you mean {suggestion!r}?"
        )
        if isinstance(toml_groups, dict) and group in toml_groups:
            line = lines.of_key(config.toml_path, ("spoc", "plugins", group))
            reporter.report(
                "spoc.E024", message, file=config.toml_path, key=f"spoc.plugins.{group}", line=line
            )
        elif isinstance(settings_groups, dict) and group in settings_groups:
            line = lines.of_key(config.settings_path, ("PLUGINS", group))
            reporter.report(
                "spoc.E024", message, file=config.settings_path, key="PLUGINS", line=line
            )
        else:  # only from entry points
            source = entries[0].source if entries else None
            reporter.add(CheckMessage.at("spoc.E024", message, source, key=group))


def _settings_near_known(config: Config, reporter: Reporter, lines: _Lines) -> None:
    if config.settings_path is None:
        return
    groups = dict.fromkeys([*BUILTIN_GROUPS, *config.plugins])
    config_names = [f"{group.upper()}_CONFIG" for group in groups]
    known = {*SETTINGS_NAMES, *config_names}
    for name in vars(config.settings):
        if not name.isupper() or name.startswith("_") or name in known:
            continue
        candidates = config_names if name.endswith("_CONFIG") else SETTINGS_NAMES
        suggestion = close_match(name, candidates, SETTINGS_CUTOFF)
        if suggestion is None:
            continue
        reporter.report(
            "spoc.E025",
            f"{name} is not read by spoc_asgi: did you mean {suggestion}?",
            file=config.settings_path,
            key=name,
            line=lines.of_key(config.settings_path, (name,)),
        )


def spoc_settings_candidates(base_dir: Path) -> list[Path]:
    """Every settings module SPOC would consider, in its order, that exists."""
    found = []
    for directory in SPOC_SETTINGS_DIRS:
        folder = base_dir / directory
        try:  # one listing per directory: this runs every time an app is built
            names = set(os.listdir(folder))
        except OSError:
            continue
        for name in SPOC_SETTINGS_NAMES:
            if name in names and (folder / name / "__init__.py").is_file():
                found.append(folder / name / "__init__.py")
        for name in SPOC_SETTINGS_NAMES:
            if f"{name}.py" in names and (folder / f"{name}.py").is_file():
                found.append(folder / f"{name}.py")
    return found


# A module that assigns a name spoc_asgi would read from settings: a `config.py` of the
# project's own (a common module name) is not taken for settings.
_SETTINGS_ASSIGNMENT = re.compile(
    r"^(?:PLUGINS|INSTALLED_APPS|SILENCED_CHECKS|[A-Z][A-Z0-9_]*_CONFIG)\s*(?::[^=\n]*)?=",
    re.MULTILINE,
)


def _looks_like_settings(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return _SETTINGS_ASSIGNMENT.search(text) is not None


def _settings_elsewhere(config: Config, reporter: Reporter) -> None:
    """SPOC reads settings from more places than spoc_asgi (docs/migrating.md)."""
    read = {config.base_dir / location for location in SETTINGS_LOCATIONS}
    unread = [
        path
        for path in spoc_settings_candidates(config.base_dir)
        if path not in read and _looks_like_settings(path)
    ]
    if not unread:
        return
    first = unread[0]
    shown = first.relative_to(config.base_dir)
    if config.settings_path is None:
        reporter.report(
            "spoc.E028",
            f"{shown} looks like a settings module (SPOC reads it), but spoc_asgi reads only "
            f"config/settings.py or settings.py: its PLUGINS and options are not loaded",
            file=first,
        )
        return
    if spoc_settings_candidates(config.base_dir)[0] != config.settings_path:
        reporter.report(
            "spoc.W005",
            f"SPOC would read {shown}; spoc_asgi reads "
            f"{config.settings_path.relative_to(config.base_dir)} and not {shown}",
            file=first,
        )


# -- on the loaded plugins ----------------------------------------------------------------


def check_framework(framework: Framework) -> None:
    lines = _Lines()
    _option_groups(framework, lines)
    _option_names(framework, lines)
    _production_database(framework)
    registered_checks.run(framework, framework.reporter)
    _silenced_ids(framework)


def _option_groups(framework: Framework, lines: _Lines) -> None:
    config = framework.config
    for group in config.option_groups:
        if group in config.plugins:
            continue
        message = f"options are configured for group {group!r}, which lists no plugins"
        suggestion = close_match(group, config.plugins)
        check_id = "spoc.W001" if suggestion is None else "spoc.E026"
        if suggestion is not None and group in BUILTIN_GROUPS:
            # The plugins are the misspelt side (spoc.E024 says so): point there.
            message += f"; its plugins seem to be listed under the misspelt {suggestion!r}"
        elif suggestion is not None:
            message += f": did you mean [spoc.config.{suggestion}]?"
        framework.reporter.report(
            check_id,
            message,
            file=config.toml_path,
            key=f"spoc.config.{group}",
            line=lines.of_key(config.toml_path, ("spoc", "config", group)),
        )


def _option_names(framework: Framework, lines: _Lines) -> None:
    config = framework.config
    for group, table in config.options.items():
        loaded: Mapping[str, Any] = framework.plugins.get(group, {})
        by_short_name: dict[str, list[str]] = {}
        uris = []
        # A plugin that failed to load (already reported) still owns its options.
        for entry in config.plugins.get(group, []):
            uris.append(entry.uri)
            name = framework.short_name(entry.uri, loaded.get(entry.uri))
            by_short_name.setdefault(name, []).append(entry.uri)
        for name in table:
            path = config.option_sources.get(f"{group}:{name}")
            key_path = (
                ("spoc", "config", group, name)
                if path == config.toml_path
                else (f"{group.upper()}_CONFIG", name)
            )
            if name in uris:
                continue
            owners = by_short_name.get(name, [])
            if len(owners) == 1:
                continue
            if owners:
                check_id = "spoc.E027"
                message = (
                    f"options for {name!r} match {len(owners)} plugins of group {group!r} "
                    f"({', '.join(owners)}): each would get them"
                )
            else:
                message = f"options for {name!r} match no plugin of group {group!r}"
                suggestion = close_match(name, [*by_short_name, *uris])
                check_id = "spoc.W001" if suggestion is None else "spoc.E026"
                if suggestion is not None:
                    message += f": did you mean {suggestion!r}?"
            line = lines.of_key(path, key_path)
            framework.reporter.report(check_id, message, file=path, key=group, uri=name, line=line)


def _production_database(framework: Framework) -> None:
    if framework.config.mode != "production":
        return
    for uri, obj in framework.plugins.get("database", {}).items():
        options = framework.options_for("database", uri)
        builtin_sql = getattr(obj, "name", None) == "sql" and str(
            getattr(obj, "__module__", "")
        ).startswith("spoc_asgi.backends")
        if options and not (builtin_sql and "url" not in options):
            continue
        if builtin_sql:
            detail = "no url, so it uses the SQLite file <base_dir>/spoc.sqlite3"
        else:
            detail = "no options, so it runs on its defaults"
        framework.reporter.add(
            CheckMessage.at(
                "spoc.W006",
                f"production mode, and database {uri!r} has {detail}",
                framework.source_of("database", uri),
                key="database",
                uri=uri,
            )
        )


def _silenced_ids(framework: Framework) -> None:
    for check_id, path, key in framework.config.silenced_checks:
        spec = CATALOGUE.get(check_id) or registered_checks.specs.get(check_id)
        if spec is not None and spec.may_be_silenced:
            continue
        if spec is None:
            known = [*CATALOGUE, *registered_checks.specs]
            suggestion = close_match(check_id, known)
            detail = "is not a known check id" + (
                f": did you mean {suggestion!r}?" if suggestion else ""
            )
        else:
            detail = "is an error that cannot be silenced: fix what it reports"
        line = None
        if path is not None:
            index = LineIndex(path)
            line = index.line_of(check_id, tuple(key.split(".")))
        framework.reporter.add(
            CheckMessage.at(
                "spoc.E029",
                f"{key} lists {check_id!r}, which {detail}",
                PluginSource(path, line) if path is not None else None,
                key=key,
            )
        )
