"""Import plugin objects from their URIs (docs/plugins.md#uri-forms).

A URI is ``pkg.mod.attr`` (the longest importable module prefix, then attributes),
a module itself (``pkg.mod``), or the explicit ``pkg.mod:Class.attr``. Failures are
classified precisely, as Django's ``import_string`` does, so a user is never told
"not found" about a module that exists but raised while importing.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn

from spoc_asgi.checks import CheckMessage
from spoc_asgi.errors import PluginImportError

if TYPE_CHECKING:
    from spoc_asgi.config import PluginSource

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
URI_PATTERN = re.compile(rf"^{_NAME}(\.{_NAME})*(:{_NAME}(\.{_NAME})*)?$")


def is_valid_uri(uri: object) -> bool:
    return isinstance(uri, str) and URI_PATTERN.match(uri) is not None


def load_from_uri(uri: str, *, group: str | None = None, source: PluginSource | None = None) -> Any:
    """Import and return the object ``uri`` names (docs/plugins.md#uri-forms).

    Public as ``spoc_asgi.load_from_uri``. A failure is a ``PluginImportError`` naming
    the URI, and ``group`` and ``source`` when given.
    """
    return _Lookup(uri, group, source).load()


class Importer:
    """``framework.importer``: SPOC's importer object, for code written against SPOC.
    Its one method is :func:`load_from_uri` (docs/migrating.md)."""

    def load_from_uri(
        self, uri: str, *, group: str | None = None, source: PluginSource | None = None
    ) -> Any:
        return load_from_uri(uri, group=group, source=source)


def load_configured_uri(uri: str, *, group: str, source: PluginSource | None) -> Any:
    """:func:`load_from_uri` for a URI the configuration loader has already checked
    with :func:`is_valid_uri` (it reports a bad one with its file and line).

    The usual case, a dotted URI whose modules are all imported already, is a few
    dictionary lookups and one ``getattr``; anything else, failures included, takes
    the full lookup, which imports what is missing and classifies errors. Both
    resolve the same way (see :meth:`_Lookup.resolve`).
    """
    if ":" not in uri:
        *modules, last = uri.split(".")
        if modules:
            obj = sys.modules.get(".".join(modules))
            if obj is not None:
                try:
                    return getattr(obj, last)
                except Exception:
                    pass
    return _Lookup(uri, group, source).resolve()


class _Lookup:
    def __init__(self, uri: str, group: str | None, source: PluginSource | None) -> None:
        self.uri = uri
        self.group = group
        self.source = source

    def load(self) -> Any:
        if not is_valid_uri(self.uri):
            self._fail("spoc.E005", f"{self.uri!r} is not a dotted path such as 'pkg.mod.attr'")
        return self.resolve()

    def resolve(self) -> Any:
        """Import and look up a valid URI, module first (docs/plugins.md#uri-forms).

        ``a.b.c.d``: the longest prefix before the last name that is a module is
        imported (``a.b.c`` if it is one, else ``a.b``, ...), the remaining names are
        attributes; the last name is an attribute of what comes before it, or a
        submodule when there is no such attribute. A package that re-exports a name
        over its own submodule (``from .auth import auth``) therefore still gives
        ``a.auth.auth`` = the attribute ``auth`` of module ``a.auth``, as SPOC does.
        """
        if ":" in self.uri:
            module_path, _, attr_path = self.uri.partition(":")
            return self._attributes(self._import(module_path), module_path, attr_path.split("."))
        parts = self.uri.split(".")
        obj: Any = self._import(parts[0])
        path = parts[0]
        for index in range(1, len(parts) - 1):
            child = f"{path}.{parts[index]}"
            if not self._is_module(obj, child):
                if _is_package(obj) and isinstance(
                    self._getattr(obj, path, parts[index]), _Missing
                ):
                    self._fail("spoc.E013", f"no module named {child!r}")
                return self._attributes(obj, path, parts[index:])
            obj, path = self._import(child), child
        if len(parts) == 1:
            return obj
        found = self._getattr(obj, path, parts[-1])
        if not isinstance(found, _Missing):
            return found
        if _is_package(obj):  # a submodule never imported: import it now
            return self._import(f"{path}.{parts[-1]}", parent=path)
        return self._attributes(obj, path, parts[-1:])

    def _is_module(self, parent: Any, name: str) -> bool:
        """Whether ``name``, inside the module ``parent``, is a module (imported or not)."""
        if name in sys.modules:
            return True
        if not _is_package(parent):
            return False
        try:
            return importlib.util.find_spec(name) is not None
        except (Exception, SystemExit) as exc:  # a finder's own failure
            self._failed_import(name, exc)

    def _import(self, module_path: str, parent: str | None = None) -> ModuleType:
        module = sys.modules.get(module_path)
        if module is not None:
            return module
        try:
            return importlib.import_module(module_path)
        except ModuleNotFoundError as exc:
            if exc.name is not None and _is_prefix(exc.name, module_path):
                if parent is not None:
                    name = module_path.rsplit(".", 1)[1]
                    detail = f"module {parent!r} has no attribute or submodule {name!r}"
                    self._fail("spoc.E015", detail, exc)
                self._fail("spoc.E013", f"no module named {exc.name!r}", exc)
            self._failed_import(module_path, exc)
        except (Exception, SystemExit) as exc:  # the module's own error, whatever it is
            self._failed_import(module_path, exc)

    def _getattr(self, obj: Any, path: str, name: str) -> Any:
        """``getattr``, with a :class:`_Missing` for a missing name. Anything else a lookup
        raises (a lazy module's ``__getattr__`` failing to import) is that failure."""
        try:
            return getattr(obj, name)
        except AttributeError as exc:
            return _Missing(exc)
        except Exception as exc:
            self._fail(
                "spoc.E014",
                f"looking up {name!r} in {path!r} raised {type(exc).__name__}: {exc}",
                exc,
            )

    def _attributes(self, obj: Any, path: str, names: list[str]) -> Any:
        for name in names:
            found = self._getattr(obj, path, name)
            if isinstance(found, _Missing):
                kind = "module" if isinstance(obj, ModuleType) else "object"
                detail = f"{kind} {path!r} has no attribute {name!r}"
                self._fail("spoc.E015", detail, found.error)
            obj, path = found, f"{path}.{name}"
        return obj

    def _failed_import(self, module_path: str, exc: BaseException) -> NoReturn:
        self._fail(
            "spoc.E014",
            f"module {module_path!r} failed to import: {type(exc).__name__}: {exc}",
            exc,
        )

    def _fail(self, check_id: str, detail: str, cause: BaseException | None = None) -> NoReturn:
        where = f" in group {self.group!r}" if self.group else ""
        if self.source is not None and self.source.distribution is not None:
            where += f" ({self.source})"
        message = f"cannot load plugin {self.uri!r}{where}: {detail}"
        check = CheckMessage.at(check_id, message, self.source, key=self.group, uri=self.uri)
        raise PluginImportError(check) from cause


class _Missing:
    """A name a lookup did not find, with the ``AttributeError`` to chain."""

    def __init__(self, error: AttributeError) -> None:
        self.error = error


def _is_package(obj: Any) -> bool:
    return isinstance(obj, ModuleType) and hasattr(obj, "__path__")


def _is_prefix(name: str, module_path: str) -> bool:
    """True when ``name`` is ``module_path`` or one of its parent packages."""
    return module_path == name or module_path.startswith(name + ".")
