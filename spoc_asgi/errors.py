"""The exceptions spoc_asgi raises.

Every configuration problem is a :class:`ConfigurationError` or a
:class:`PluginImportError`; both carry the :class:`~spoc_asgi.checks.CheckMessage`
that describes it (stable id, file, key, URI, hint), so the factory and
``spoc-asgi check`` speak with one voice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spoc_asgi.checks import CheckMessage


class SpocError(Exception):
    """Base class of every error spoc_asgi raises on purpose.

    Its message is masked (:func:`~spoc_asgi.redaction.redact_text`): an error that
    quotes a URL or a hook's exception text never shows a password or token.
    """

    def __init__(self, *args: object) -> None:
        from spoc_asgi.redaction import redact_text  # errors is imported by everything

        super().__init__(*(redact_text(a) if isinstance(a, str) else a for a in args))


class ConfigurationError(SpocError):
    """The configuration (spoc.toml, settings.py or a plugin's shape) is invalid."""

    def __init__(self, check: CheckMessage) -> None:
        super().__init__(str(check))
        self.check = check

    @property
    def id(self) -> str:
        return self.check.id


class PluginImportError(ConfigurationError, ImportError):
    """A plugin URI could not be imported (or names nothing in its module)."""


class BackendNotReadyError(SpocError):
    """A backend was used outside the app's lifespan (before startup or after shutdown)."""
