"""``[spoc.coordination]``: which engine coordinates the processes, and its timings.

Every key is optional; see docs/deployment.md. Mistakes are ``spoc.E050``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spoc_asgi.checks import CheckMessage, Reporter
from spoc_asgi.config import LineIndex, seconds_value

BACKENDS = ("postgres", "redis", "file")
DEPLOYMENT_ENV = "SPOC_DEPLOYMENT_ID"
_NUMBERS = {"lease_seconds": 10.0, "retry_seconds": 60.0}
_STRINGS = ("backend", "url", "path", "namespace", "deployment_id")
KEYS = (*_STRINGS, *_NUMBERS, "wait_seconds")


@dataclass(frozen=True)
class CoordinationSettings:
    backend: str | None = None  # None: chosen from the configured backends
    url: str | None = None
    path: Path | None = None
    lease_seconds: float = 10.0
    wait_seconds: float | None = None  # None: the app's hook_timeout
    retry_seconds: float = 60.0
    namespace: str = ""
    deployment_id: str = ""
    source: Path | None = None  # the file the table is in, for messages

    @property
    def directory(self) -> Path:
        if self.path is not None:
            return self.path
        return Path(tempfile.gettempdir()) / f"spoc_asgi-coordination-{_user()}"


def _user() -> str:
    try:
        return str(os.getuid())
    except AttributeError:  # pragma: no cover - Windows
        return "shared"


def key_line(path: Path | None, table: str, key: str) -> int | None:
    """The line that defines ``key`` of the ``[spoc...]`` table ``table``, if found."""
    if path is None:
        return None
    return LineIndex(path).line_of_key((*table.split("."), key))


def read_settings(
    project: Mapping[str, Any],
    toml_path: Path | None,
    base_dir: Path,
    reporter: Reporter,
    environ: Mapping[str, str] | None = None,
) -> CoordinationSettings:
    """``project`` is the ``[spoc]`` table; problems go to ``reporter`` as ``spoc.E050``."""
    environ = os.environ if environ is None else environ
    table: Any = project.get("coordination", {})

    def error(message: str, key: str | None = None) -> None:
        where = f"spoc.coordination.{key}" if key else "spoc.coordination"
        line = key_line(toml_path, "spoc.coordination", key) if key else None
        reporter.error(CheckMessage("spoc.E050", message, file=toml_path, key=where, line=line))

    if not isinstance(table, dict):
        error(f"[spoc.coordination] must be a table, not {type(table).__name__}")
        table = {}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in KEYS:
            continue  # reported with every [spoc] key (spoc.W004/E023, SPOC_KEYS)
        if key in _STRINGS:
            if not isinstance(value, str) or not value:
                error(f"{key} must be a non-empty string, not {type(value).__name__}", key)
            elif key == "backend" and value not in BACKENDS:
                error(f"backend must be one of {', '.join(BACKENDS)}, not {value!r}", key)
            else:
                values[key] = value
        else:
            seconds = seconds_value(value)
            if seconds is None:
                error(f"{key} must be a positive number of seconds, not {value!r}", key)
            else:
                values[key] = seconds
    if "path" in values:
        path = Path(values["path"])
        values["path"] = path if path.is_absolute() else base_dir / path
    deployment = environ.get(DEPLOYMENT_ENV) or values.get("deployment_id", "")
    values["deployment_id"] = deployment
    return CoordinationSettings(source=toml_path, **values)
