"""Find, read, validate and merge the SPOC configuration (docs/configuration.md).

Lookup order is fixed and documented: ``config/spoc.toml`` then ``spoc.toml``;
``config/settings.py`` then ``settings.py``, all under the base dir. Plugin groups
merge TOML first, then settings; a URI keeps its first position. Nothing here is
global: a settings module is executed under a private module name and never
touches ``sys.modules["settings"]``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import re
import reprlib
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

from spoc_asgi.body_limit import DEFAULT_MAX_BODY_SIZE
from spoc_asgi.checks import Reporter
from spoc_asgi.importer import is_valid_uri
from spoc_asgi.redaction import is_secret_key, redact

if TYPE_CHECKING:
    import importlib.metadata

TOML_LOCATIONS = ("config/spoc.toml", "spoc.toml")
SETTINGS_LOCATIONS = ("config/settings.py", "settings.py")
MODES = ("development", "staging", "production")
DEFAULT_MODE = "development"
DEFAULT_HOOK_TIMEOUT = 30.0
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

PluginOptions = dict[str, Any]


class SpocKey(NamedTuple):
    """One key spoc_asgi reads under ``[spoc]`` (docs/configuration.md#spoctoml)."""

    name: str  # dotted below [spoc]: "hook_timeout"; a sub-table's key: "table.key"
    meaning: str
    free: bool = False  # a table whose own keys are the user's (group and plugin names)


# Every key read under [spoc], one line each: a key not declared here is reported
# (spoc.E023 when it is close to a declared one, else spoc.W004). A sub-table whose
# keys are declared ("table.key") is checked the same way; a free table is not.
SPOC_KEYS: dict[str, SpocKey] = {
    key.name: key
    for key in (
        SpocKey("mode", '"development", "staging" or "production"'),
        SpocKey("debug", "Starlette's debug mode"),
        SpocKey("hook_timeout", "seconds each lifespan step may take to start, and to stop"),
        SpocKey("max_body_size", "bytes a request body may have (413 beyond); 0 disables"),
        SpocKey("entry_points", "load the plugins of installed distributions"),
        SpocKey("silenced_checks", "check ids not to report"),
        SpocKey("plugins", "plugin group -> list of URIs", free=True),
        SpocKey("config", "plugin group -> plugin name or URI -> options", free=True),
        SpocKey("coordination.backend", '@once/@leader engine: "postgres", "redis" or "file"'),
        SpocKey("coordination.url", "the coordination server, if not the configured backend's"),
        SpocKey("coordination.path", "the lock directory of the file coordinator"),
        SpocKey("coordination.lease_seconds", "how long a dead holder keeps a lock at most"),
        SpocKey("coordination.wait_seconds", "how long a process waits for a @once hook"),
        SpocKey("coordination.retry_seconds", "how long a failed @once run is remembered"),
        SpocKey("coordination.namespace", "separates deployments sharing one server"),
        SpocKey("coordination.deployment_id", "the release id (SPOC_DEPLOYMENT_ID wins)"),
        SpocKey("health.drain_seconds", "/readyz is 503 this long after SIGTERM before stopping"),
        SpocKey("health.ping_timeout", "seconds each backend's ping may take for /readyz"),
    )
}


class PluginSource:
    """Where a URI was configured: the file and, when it can be found, the line;
    or, for a discovered plugin, the entry point and its distribution.

    Read-only. The line of a URI read from a file is looked up when first asked for
    (by a message, or ``spoc-asgi plugins``): finding it means scanning the file, and
    building an app needs no line numbers.
    """

    __slots__ = ("_distribution", "_entry_point", "_file", "_line", "_lines", "_where")

    _where: tuple[str, tuple[str, ...] | None, int]

    def __init__(
        self,
        file: Path | None,
        line: int | None = None,
        distribution: str | None = None,
        entry_point: str | None = None,
    ) -> None:
        self._file = file
        self._line = line
        self._distribution = distribution
        self._entry_point = entry_point
        self._lines: LineIndex | None = None
        self._where = ("", None, 0)

    @classmethod
    def quoted_in(
        cls,
        file: Path,
        text: str,
        lines: LineIndex,
        within: tuple[str, ...] | None = None,
        ordinal: int = 0,
    ) -> PluginSource:
        """The source of ``text``, quoted in ``file`` under the key ``within`` (its
        ``ordinal``-th occurrence there); ``lines`` finds the line on demand."""
        source = cls(file)
        source._lines, source._where = lines, (text, within, ordinal)
        return source

    @property
    def file(self) -> Path | None:
        return self._file

    @property
    def line(self) -> int | None:
        if self._line is None and self._lines is not None:
            self._line = self._lines.line_of(*self._where)
            self._lines = None  # looked up once
        return self._line

    @property
    def distribution(self) -> str | None:
        return self._distribution

    @property
    def entry_point(self) -> str | None:
        return self._entry_point

    def _key(self) -> tuple[Path | None, int | None, str | None, str | None]:
        return (self.file, self.line, self.distribution, self.entry_point)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PluginSource):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"PluginSource(file={self.file!r}, line={self.line!r}, "
            f"distribution={self.distribution!r}, entry_point={self.entry_point!r})"
        )

    def __str__(self) -> str:
        if self.distribution is not None:
            return f"entry point {self.entry_point!r} of distribution {self.distribution!r}"
        return f"{self.file}:{self.line}" if self.line else str(self.file)


class LineIndex:
    """Line numbers in one configuration file, for messages. The file is read and
    scanned once, the first time a line is asked for.

    A URI is found as a quoted string; when it is listed in several groups (or twice in
    one), each occurrence is looked for after the line that names its group, so each
    message points at its own line.
    """

    __slots__ = ("_keys", "_lines", "_quoted", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines: list[str] | None = None
        self._quoted: dict[str, list[int]] = {}
        self._keys: dict[tuple[str, ...], int | None] = {}

    def _scan(self) -> list[str]:
        if self._lines is None:
            try:
                text = self.path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            self._lines = text.splitlines()
            for number, line in enumerate(self._lines, start=1):
                for match in _QUOTED.finditer(line):
                    self._quoted.setdefault(match.group(2), []).append(number)
        return self._lines

    def line_of(
        self, text: str, within: tuple[str, ...] | None = None, ordinal: int = 0
    ) -> int | None:
        """The line of the ``ordinal``-th quoted ``text`` after the key ``within``."""
        self._scan()
        found = self._quoted.get(text)
        if not found:
            return None
        start = self.line_of_key(within) if within else None
        after = [number for number in found if start is None or number >= start] or found
        return after[min(ordinal, len(after) - 1)]

    def line_of_key(self, path: tuple[str, ...]) -> int | None:
        """The line that defines the key ``path`` (``("spoc", "plugins", "middleware")``):
        a ``[table]`` header, an assignment ``key = ...``, or a settings ``"key": ...``."""
        if path not in self._keys:
            self._keys[path] = self._find_key(path)
        return self._keys[path]

    def _find_key(self, path: tuple[str, ...]) -> int | None:
        lines = self._scan()
        if not path:
            return None
        parents, name = path[:-1], path[-1]
        header = re.compile(
            r"^\s*\[{1,2}\s*" + r"\s*\.\s*".join(map(_key_pattern, path)) + r"\s*[\].]"
        )
        for number, line in enumerate(lines, start=1):
            if header.match(line):
                return number
        start = self.line_of_key(parents) if parents else None
        assignment = re.compile(rf"(?:^|[\s{{,]){_key_pattern(name)}\s*(?:[=:.]|$)")
        for number, line in enumerate(lines, start=1):
            if (start is None or number >= start) and assignment.search(line):
                return number
        return None


def _key_pattern(name: str) -> str:
    quoted = re.escape(name)
    bare = quoted if re.fullmatch(r"[A-Za-z0-9_-]+", name) else None
    return f"(?:\"{quoted}\"|'{quoted}'" + (f"|{bare}\\b" if bare else "") + ")"


_QUOTED = re.compile(r"""(["'])([^"'\n]*)\1""")  # any quoted text: bad URIs too


class PluginEntry(NamedTuple):
    """One URI of one group, with the file (and line) that configured it.

    A named tuple, not a frozen dataclass: as immutable, and several times cheaper to
    make, which counts with thousands of plugins.
    """

    group: str
    uri: str
    source: PluginSource


class Config:
    """The merged configuration of one base dir. Built by :func:`load_config`.

    A plain class: a dataclass would cost more at import than its one construction
    per app ever does (docs/performance.md, "Import time").
    """

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.toml_path: Path | None = None
        self.settings_path: Path | None = None
        self.project: dict[str, Any] = {}
        self.settings = ModuleType("settings")
        self.mode = DEFAULT_MODE
        self.debug = False
        self.hook_timeout = DEFAULT_HOOK_TIMEOUT
        self.max_body_size: int | None = DEFAULT_MAX_BODY_SIZE  # None: no limit
        self.plugins: dict[str, list[PluginEntry]] = {}
        # group -> (short name or URI) -> options, TOML and settings already merged
        self.options: dict[str, dict[str, PluginOptions]] = {}
        self.option_sources: dict[str, Path] = {}
        self.installed_apps: list[str] = []
        # [spoc.config] groups as written (options for a group without plugins are reported)
        self.option_groups: list[str] = []
        # check ids not to report, and where each list was written
        self.silenced_checks: list[tuple[str, Path | None, str]] = []

    def __repr__(self) -> str:
        return f"Config(base_dir={self.base_dir!r}, mode={self.mode!r})"


def find_file(base_dir: Path, candidates: tuple[str, ...]) -> Path | None:
    for relative in candidates:
        path = base_dir / relative
        if path.is_file():
            return path
    return None


def load_config(
    base_dir: str | os.PathLike[str],
    reporter: Reporter | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read both files under ``base_dir``; problems go to ``reporter`` (strict by default)."""
    reporter = reporter if reporter is not None else Reporter(strict=True)
    environ = os.environ if environ is None else environ
    config = Config(base_dir=Path(base_dir).resolve())
    config.toml_path = find_file(config.base_dir, TOML_LOCATIONS)
    config.settings_path = find_file(config.base_dir, SETTINGS_LOCATIONS)

    spoc_table = _read_toml(config.toml_path, reporter) if config.toml_path else {}
    if config.settings_path:
        config.settings = _exec_settings(config.settings_path, reporter)

    config.project = dict(spoc_table)
    _read_silenced_checks(config, spoc_table, reporter)  # first: they apply to what follows
    _read_mode_and_debug(config, spoc_table, environ, reporter)
    _read_hook_timeout(config, spoc_table, reporter)
    _read_max_body_size(config, spoc_table, reporter)
    _merge_plugins(config, spoc_table, reporter)
    _discover_entry_points(config, spoc_table, reporter)
    _merge_options(config, spoc_table, reporter)
    _read_installed_apps(config, reporter)
    return config


# -- the two files ---------------------------------------------------------------

_TOML_POSITION = r"line (\d+), column (\d+)"  # compiled by re on first use: errors only


def _read_toml(path: Path, reporter: Reporter) -> dict[str, Any]:
    # Imported here, not at the top: only a project with a TOML file pays for the parser.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except OSError as exc:
        reporter.report("spoc.E001", f"cannot read the file: {exc}", file=path, cause=exc)
        return {}
    except RecursionError as exc:  # tomllib recurses once per nesting level
        message = "invalid TOML: arrays or inline tables nested too deeply to read"
        reporter.report("spoc.E001", message, file=path, cause=exc)
        return {}
    except ValueError as exc:  # TOMLDecodeError, bad UTF-8, an integer too long to parse
        position = re.search(_TOML_POSITION, str(exc))
        line = int(position.group(1)) if position else None
        where = f" at line {position.group(1)}, column {position.group(2)}" if position else ""
        reporter.report("spoc.E001", f"invalid TOML{where}: {exc}", file=path, line=line, cause=exc)
        return {}
    spoc = document.get("spoc", {})
    if not isinstance(spoc, dict):
        reporter.report(
            "spoc.E002", f"[spoc] must be a table, not {_kind(spoc)}", file=path, key="spoc"
        )
        return {}
    return spoc


def _exec_settings(path: Path, reporter: Reporter) -> ModuleType:
    # A private, per-file module name: an unrelated sys.modules["settings"] stays put,
    # and two base dirs never share a settings module.
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    name = f"_spoc_settings_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and friends look their module up while it runs
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        reporter.report(
            "spoc.E008",
            f"settings module raised {type(exc).__name__}: {exc}",
            file=path,
            line=_traceback_line(exc, path),
            cause=exc,
        )
        return ModuleType("settings")
    finally:
        sys.modules.pop(name, None)
    return module


def _traceback_line(exc: BaseException, path: Path) -> int | None:
    if isinstance(exc, SyntaxError) and exc.filename == str(path):
        return exc.lineno
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


# -- [spoc] values ------------------------------------------------------------------


def _read_silenced_checks(config: Config, spoc: dict[str, Any], reporter: Reporter) -> None:
    """``[spoc] silenced_checks`` and ``SILENCED_CHECKS``: ids not to report
    (docs/checks.md#silencing-a-check). Whether each id exists and may be silenced is
    checked once the plugins, and the checks they register, are loaded."""
    for value, path, key in (
        (spoc.get("silenced_checks"), config.toml_path, "spoc.silenced_checks"),
        (
            getattr(config.settings, "SILENCED_CHECKS", None),
            config.settings_path,
            "SILENCED_CHECKS",
        ),
    ):
        if value is None:
            continue
        if not isinstance(value, (list, tuple)) or not all(isinstance(i, str) for i in value):
            reporter.report(
                "spoc.E029",
                f"{key} must be a list of check ids, not {_kind(value)}",
                file=path,
                key=key,
            )
            continue
        config.silenced_checks += [(check_id, path, key) for check_id in value]
        reporter.silence(value)


def _read_mode_and_debug(
    config: Config, spoc: dict[str, Any], environ: Mapping[str, str], reporter: Reporter
) -> None:
    mode: Any = spoc.get("mode", DEFAULT_MODE)
    mode_origin: tuple[Path | None, str] = (config.toml_path, "spoc.mode")
    if "SPOC_MODE" in environ:
        mode, mode_origin = environ["SPOC_MODE"], (None, "environment variable SPOC_MODE")
    if mode not in MODES or not isinstance(mode, str):
        reporter.report(
            "spoc.E006",
            f"mode must be one of {', '.join(MODES)}, not {_show(mode)}",
            file=mode_origin[0],
            key=mode_origin[1],
        )
        mode = DEFAULT_MODE

    debug: Any = spoc.get("debug", False)
    debug_origin: tuple[Path | None, str] = (config.toml_path, "spoc.debug")
    if "SPOC_DEBUG" in environ:
        debug_origin = (None, "environment variable SPOC_DEBUG")
        raw = environ["SPOC_DEBUG"].strip().lower()
        debug = True if raw in _TRUE else False if raw in _FALSE else environ["SPOC_DEBUG"]
    if not isinstance(debug, bool):
        reporter.report(
            "spoc.E007",
            f"debug must be a boolean, not {_show(debug)}",
            file=debug_origin[0],
            key=debug_origin[1],
        )
        debug = False

    config.mode, config.debug = mode, debug
    config.project["mode"], config.project["debug"] = mode, debug
    if debug and mode == "production":
        reporter.report(
            "spoc.W003", "debug is on in production mode", file=config.toml_path, key="spoc.debug"
        )


def _read_hook_timeout(config: Config, spoc: dict[str, Any], reporter: Reporter) -> None:
    value = spoc.get("hook_timeout", DEFAULT_HOOK_TIMEOUT)
    seconds = seconds_value(value)
    if seconds is None:
        reporter.report(
            "spoc.E011",
            f"hook_timeout must be a positive number of seconds, not {_show(value)}",
            file=config.toml_path,
            key="spoc.hook_timeout",
        )
        return
    config.hook_timeout = seconds


def _read_max_body_size(config: Config, spoc: dict[str, Any], reporter: Reporter) -> None:
    value = spoc.get("max_body_size", DEFAULT_MAX_BODY_SIZE)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        reporter.report(
            "spoc.E040",
            f"max_body_size must be a whole number of bytes >= 0, not {_show(value)}",
            file=config.toml_path,
            key="spoc.max_body_size",
        )
        return
    config.max_body_size = value or None


def seconds_value(value: object, *, allow_zero: bool = False) -> float | None:
    """``value`` as a finite number of seconds > 0 (or >= 0), else None (a bool is not one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # TOML integers are unbounded; no float holds this one
        return None
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        return None
    return seconds


# -- plugin groups --------------------------------------------------------------------


def _merge_plugins(config: Config, spoc: dict[str, Any], reporter: Reporter) -> None:
    toml_groups = spoc.get("plugins", {})
    if not isinstance(toml_groups, dict):
        reporter.report(
            "spoc.E003",
            f"[spoc.plugins] must be a table, not {_kind(toml_groups)}",
            file=config.toml_path,
            key="spoc.plugins",
        )
        toml_groups = {}
    settings_groups = getattr(config.settings, "PLUGINS", None)
    if settings_groups is None:
        settings_groups = {}
    elif not isinstance(settings_groups, dict):
        reporter.report(
            "spoc.E009",
            f"PLUGINS must be a dict of group -> list of URIs, not {_kind(settings_groups)}",
            file=config.settings_path,
            key="PLUGINS",
        )
        settings_groups = {}

    if config.toml_path is not None:
        _add_groups(config, toml_groups, config.toml_path, "spoc.plugins", "spoc.E004", reporter)
    if config.settings_path is not None:
        _add_groups(config, settings_groups, config.settings_path, "PLUGINS", "spoc.E010", reporter)


def _add_groups(
    config: Config,
    groups: dict[Any, Any],
    path: Path,
    table: str,
    not_a_list_id: str,
    reporter: Reporter,
) -> None:
    lines = LineIndex(path)  # read only if a line is asked for
    for group, uris in groups.items():
        if not isinstance(group, str) or not group:
            reporter.report(
                "spoc.E010",
                f"plugin group names must be non-empty strings, not {_show(group)}",
                file=path,
                key=table,
            )
            continue
        key = f"{table}.{group}" if table == "spoc.plugins" else f"{table}[{group!r}]"
        if not isinstance(uris, (list, tuple)):
            reporter.report(
                not_a_list_id,
                f"group {group!r} must be a list of URIs, not "
                # a group named like a secret ("token") holds one, perhaps: type only
                f"{type(uris).__name__ if is_secret_key(group) else _kind(uris)}",
                file=path,
                key=key,
            )
            continue
        entries = config.plugins.setdefault(group, [])
        seen = {entry.uri: entry for entry in entries}
        within = ("spoc", "plugins", group) if table == "spoc.plugins" else (table, group)
        ordinals: dict[str, int] = {}  # a URI's earlier occurrences in this list
        for uri in uris:
            ordinal = 0
            if isinstance(uri, str):
                ordinal = ordinals[uri] = ordinals.get(uri, -1) + 1
            if not is_valid_uri(uri):
                reporter.report(
                    "spoc.E005",
                    f"group {group!r} has an entry that is not a dotted URI: {_show(uri)}",
                    file=path,
                    key=key,
                    uri=uri if isinstance(uri, str) else None,
                    line=lines.line_of(uri, within, ordinal) if isinstance(uri, str) else None,
                )
                continue
            source = PluginSource.quoted_in(path, uri, lines, within, ordinal)
            if uri in seen:
                reporter.report(
                    "spoc.W002",
                    f"{uri!r} is listed again in group {group!r}; "
                    f"its first position ({seen[uri].source}) is kept",
                    file=path,
                    key=key,
                    uri=uri,
                    line=source.line,
                )
                continue
            entry = PluginEntry(group, uri, source)
            seen[uri] = entry
            entries.append(entry)


# -- plugins of installed distributions -------------------------------------------------

ENTRY_POINT_GROUP = "spoc_asgi.plugins"


def _discover_entry_points(config: Config, spoc: dict[str, Any], reporter: Reporter) -> None:
    """Opt-in (``entry_points = true`` under ``[spoc]``): add every installed
    distribution's ``spoc_asgi.plugins`` entry points, after TOML and settings.

    An entry point's name is its plugin group, optionally followed by a dot and a
    label (``middleware.timing``); its value is the URI (``pkg.mod:attr``).
    """
    enabled = spoc.get("entry_points", False)
    if not isinstance(enabled, bool):
        reporter.report(
            "spoc.E022",
            f"entry_points must be a boolean, not {_show(enabled)}",
            file=config.toml_path,
            key="spoc.entry_points",
        )
        return
    if not enabled:
        return
    import importlib.metadata  # only when asked: it costs more than the rest of the import

    for entry_point in sorted(
        importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
        key=lambda ep: (_distribution_name(ep), ep.name),
    ):
        distribution = _distribution_name(entry_point)
        group = entry_point.name.split(".", 1)[0]
        source = PluginSource(None, distribution=distribution, entry_point=entry_point.name)
        if not group or not is_valid_uri(entry_point.value):
            reporter.report(
                "spoc.E005",
                f"{source} does not name a group and a URI: "
                f"{entry_point.name!r} = {entry_point.value!r}",
                key=f"{ENTRY_POINT_GROUP}:{entry_point.name}",
                uri=entry_point.value,
            )
            continue
        entries = config.plugins.setdefault(group, [])
        if all(entry.uri != entry_point.value for entry in entries):
            entries.append(PluginEntry(group, entry_point.value, source))


def _distribution_name(entry_point: importlib.metadata.EntryPoint) -> str:
    dist = entry_point.dist
    return dist.metadata["Name"] if dist is not None else "<unknown>"


# -- per-plugin options ---------------------------------------------------------------


def _merge_options(config: Config, spoc: dict[str, Any], reporter: Reporter) -> None:
    toml_config = spoc.get("config", {})
    if not isinstance(toml_config, dict):
        reporter.report(
            "spoc.E012",
            f"[spoc.config] must be a table, not {_kind(toml_config)}",
            file=config.toml_path,
            key="spoc.config",
        )
        toml_config = {}
    for group in config.plugins:
        merged: dict[str, PluginOptions] = {}
        sources = (
            (toml_config.get(group), config.toml_path, f"spoc.config.{group}"),
            (
                getattr(config.settings, f"{group.upper()}_CONFIG", None),
                config.settings_path,
                f"{group.upper()}_CONFIG",
            ),
        )
        for table, path, key in sources:
            if table is None:
                continue
            if not _is_table_of_tables(table):
                reporter.report(
                    "spoc.E012",
                    f"{key} must map plugin names or URIs to tables of options, not {_kind(table)}",
                    file=path,
                    key=key,
                )
                continue
            for name, options in table.items():
                merged[name] = {**merged.get(name, {}), **options}  # settings win key by key
                if path is not None:
                    config.option_sources[f"{group}:{name}"] = path
        if merged:
            config.options[group] = merged
    # Options for groups that list no plugins: see config_checks (spoc.W001, spoc.E026).
    config.option_groups = [group for group in toml_config if isinstance(group, str)]


def _is_table_of_tables(table: object) -> bool:
    return isinstance(table, dict) and all(
        isinstance(name, str) and isinstance(options, dict) for name, options in table.items()
    )


def _read_installed_apps(config: Config, reporter: Reporter) -> None:
    apps = getattr(config.settings, "INSTALLED_APPS", [])
    if not isinstance(apps, (list, tuple)) or not all(isinstance(app, str) for app in apps):
        reporter.report(
            "spoc.E020",
            f"INSTALLED_APPS must be a list of strings, not {_show(apps)}",
            file=config.settings_path,
            key="INSTALLED_APPS",
        )
        return
    config.installed_apps = list(apps)


def _kind(value: object) -> str:
    return f"{type(value).__name__} {_show(value)}"


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80


def _show(value: object) -> str:
    """repr() for messages: short, secrets masked, and safe for any value (an int too
    long to print, an object whose ``__repr__`` raises)."""
    try:
        return _REPR.repr(redact(value))
    except Exception:
        return f"<{type(value).__name__} object>"
