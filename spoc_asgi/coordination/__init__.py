"""Coordinate the processes of one deployment: ``@once`` and ``@leader`` hooks.

:func:`coordinate` replaces each marked hook's lifespan step with one that runs
through the chosen :class:`~spoc_asgi.coordination.base.Coordinator` (PostgreSQL
advisory locks, Redis locks or file locks). See docs/deployment.md.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from pathlib import Path
from typing import Any

from spoc_asgi.backends import Backends
from spoc_asgi.checks import CheckMessage
from spoc_asgi.config import seconds_value
from spoc_asgi.coordination.base import Coordinator, Record, Session
from spoc_asgi.coordination.choose import choose
from spoc_asgi.coordination.leader import leader_step
from spoc_asgi.coordination.once import OnceFailed, once_step
from spoc_asgi.coordination.settings import CoordinationSettings, read_settings
from spoc_asgi.framework import Framework
from spoc_asgi.hooks import Step, bind_app
from spoc_asgi.markers import is_coordinated, is_leader, is_shutdown_hook, once_options

__all__ = [
    "Coordinator",
    "OnceFailed",
    "Record",
    "Session",
    "coordinate",
    "deployment_name",
]

logger = logging.getLogger("spoc_asgi")


def coordinate(framework: Framework, backends: Backends, hooks: list[Step]) -> list[Step]:
    """``hooks`` with every ``@once`` / ``@leader`` hook run through the coordinator."""
    loaded: dict[str, Any] = framework.plugins.get("hooks", {})
    marked = [uri for uri, obj in loaded.items() if is_coordinated(obj)]
    settings = read_settings(
        framework.config.project, framework.config.toml_path, framework.base_dir, framework.reporter
    )
    if not marked and settings.backend is None:
        return hooks
    # A backend set explicitly is checked even before any hook uses it.
    coordinator = choose(settings, backends, framework.reporter)
    _warn_single_host(framework, coordinator, marked)
    return [
        _coordinated(framework, settings, coordinator, step) if step.uri in marked else step
        for step in hooks
    ]


def _coordinated(
    framework: Framework, settings: CoordinationSettings, coordinator: Coordinator, step: Step
) -> Step:
    obj = framework.plugins["hooks"][step.uri]
    options = once_options(obj)
    if is_leader(obj):
        if options is not None or not _is_async_function(obj):
            _shape_error(framework, step.uri, "a @leader hook must be an `async def fn(app)`")
        name = f"leader:{step.uri}:{_digest(settings.namespace)}"
        call = bind_app(obj, step.label, framework.config.hook_timeout)
        return leader_step(step.uri, call, coordinator, name, settings.lease_seconds)
    assert options is not None
    if is_shutdown_hook(obj):
        _shape_error(
            framework, step.uri, "a @once hook needs a startup part; this one runs at shutdown"
        )
    wait = settings.wait_seconds
    if options.timeout is not None:
        timeout = seconds_value(options.timeout)
        if timeout is None:
            _shape_error(
                framework,
                step.uri,
                f"@once(timeout=...) must be a positive number of seconds, not {options.timeout!r}",
            )
        wait = timeout if timeout is not None else wait
    if wait is None:
        wait = framework.config.hook_timeout
    name = deployment_name(framework, settings, step.uri, obj)
    return once_step(step, coordinator, name, wait, settings.retry_seconds)


def deployment_name(
    framework: Framework, settings: CoordinationSettings, uri: str, obj: Any
) -> str:
    """The once-hook's key: one per hook URI and deployment.

    The deployment is ``SPOC_DEPLOYMENT_ID`` (or ``deployment_id``) and ``namespace``,
    together with the content of spoc.toml, settings.py and the hook's source file:
    a new release id, a changed configuration or a changed hook module is a new
    deployment, and the hook runs once more.
    """
    parts = [settings.namespace, settings.deployment_id, uri]
    files = [framework.config.toml_path, framework.config.settings_path, _source_file(obj)]
    for path in files:
        parts.append(_file_digest(path))
    return f"once:{uri}:{_digest(*parts)}"


def _source_file(obj: Any) -> Path | None:
    try:
        name = inspect.getsourcefile(inspect.unwrap(obj) if callable(obj) else type(obj))
    except (TypeError, ValueError):
        return None
    return Path(name) if name else None


def _file_digest(path: Path | None) -> str:
    if path is None:
        return "-"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "-"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _is_async_function(obj: Any) -> bool:
    return inspect.iscoroutinefunction(inspect.unwrap(obj)) if callable(obj) else False


def _shape_error(framework: Framework, uri: str, message: str) -> None:
    source = framework.sources["hooks"].get(uri)
    framework.reporter.error(
        CheckMessage(
            "spoc.E052",
            f"hooks entry {uri!r}: {message}",
            file=source.file if source is not None else None,
            key="hooks",
            uri=uri,
            line=source.line if source is not None else None,
        )
    )


def _warn_single_host(framework: Framework, coordinator: Coordinator, marked: list[str]) -> None:
    if not marked or coordinator.spans_hosts or framework.config.mode == "development":
        return
    warning = CheckMessage(
        "spoc.W030",
        f"{len(marked)} @once/@leader hook(s) ({', '.join(marked)}) coordinate through "
        f"{coordinator.describe()}, which does not reach other hosts "
        f"(mode={framework.config.mode})",
        file=framework.config.toml_path,
        key="spoc.coordination",
    )
    framework.reporter.warn(warning)
    logger.warning("%s", warning)
