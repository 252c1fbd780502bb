"""URIs, what they load, and how a failure to load is reported."""

from __future__ import annotations

import importlib
import itertools
import json
import os
import sys
import textwrap
import types
from pathlib import Path

import pytest

import spoc_asgi
from spoc_asgi import Framework, PluginImportError, SpocError, load_from_uri
from spoc_asgi.checks import Reporter
from spoc_asgi.config import LineIndex, PluginSource
from spoc_asgi.importer import Importer
from tests.conftest import Project

_ids = itertools.count()


def make_package(project: Project, modules: dict[str, str], init: str = "") -> str:
    """Write a regular package (with ``__init__.py``) and its modules; return its name."""
    name = f"spoc_test_pkg_{os.getpid()}_{next(_ids)}"
    for relative, source in {"__init__": init, **modules}.items():
        path = project.base_dir / name / f"{relative}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    project.modules.append(name)
    importlib.invalidate_caches()
    return name


PLUGIN_SOURCE = """
import math

def handler(request):
    return request

class Plugin:
    name = "plugin"
    attr = {"nested": True}

    class Inner:
        value = 42

instance = Plugin()
number = 7
items = [1, 2]
square = lambda x: x * x
"""


@pytest.fixture
def mod(project: Project) -> str:
    return project.module(PLUGIN_SOURCE)


# -- what a URI names ----------------------------------------------------------------


def test_module_attribute(mod: str) -> None:
    handler = load_from_uri(f"{mod}.handler")
    assert isinstance(handler, types.FunctionType)
    assert handler.__name__ == "handler"
    assert handler.__module__ == mod


def test_module_itself(mod: str) -> None:
    module = load_from_uri(mod)
    assert isinstance(module, types.ModuleType)
    assert module.__name__ == mod


def test_a_stdlib_module_and_function() -> None:
    assert load_from_uri("json") is json
    assert load_from_uri("json.dumps") is json.dumps
    assert load_from_uri("os.path.join") is os.path.join


def test_nested_attributes(mod: str) -> None:
    assert load_from_uri(f"{mod}.Plugin.attr") == {"nested": True}
    assert load_from_uri(f"{mod}.Plugin.Inner.value") == 42


def test_explicit_colon_form(mod: str) -> None:
    assert load_from_uri(f"{mod}:Plugin.attr") == {"nested": True}
    assert load_from_uri(f"{mod}:Plugin.Inner.value") == 42
    assert load_from_uri(f"{mod}:handler").__name__ == "handler"


@pytest.mark.parametrize(
    ("attribute", "check"),
    [
        ("Plugin", lambda obj: isinstance(obj, type) and obj.__name__ == "Plugin"),
        ("instance", lambda obj: type(obj).__name__ == "Plugin"),
        ("number", lambda obj: obj == 7),
        ("items", lambda obj: obj == [1, 2]),
        ("square", lambda obj: obj(3) == 9),
        ("math", lambda obj: isinstance(obj, types.ModuleType) and obj.__name__ == "math"),
    ],
)
def test_any_object_type(mod: str, attribute: str, check: types.FunctionType) -> None:
    assert check(load_from_uri(f"{mod}.{attribute}"))


def test_a_submodule_never_imported_before(project: Project) -> None:
    pkg = make_package(project, {"sub": "VALUE = 'sub'\n", "deep/__init__": "", "deep/leaf": "X=1"})
    assert f"{pkg}.sub" not in sys.modules
    sub = load_from_uri(f"{pkg}.sub")
    assert isinstance(sub, types.ModuleType)
    assert sub.__name__ == f"{pkg}.sub"
    assert load_from_uri(f"{pkg}.deep.leaf.X") == 1


def test_a_submodule_attribute_never_imported_before(project: Project) -> None:
    pkg = make_package(project, {"sub": "VALUE = 'sub'\n"})
    assert load_from_uri(f"{pkg}.sub.VALUE") == "sub"


def test_a_package_attribute_wins_over_a_submodule_of_the_same_name(project: Project) -> None:
    pkg = make_package(project, {"thing": "X = 1\n"}, init="thing = 'attribute'\n")
    assert load_from_uri(f"{pkg}.thing") == "attribute"


def test_every_entry_point_loads_the_same_object(project: Project, mod: str) -> None:
    framework = Framework(project.base_dir, environ={})
    assert isinstance(framework.importer, Importer)
    expected = load_from_uri(f"{mod}.handler")
    assert framework.importer.load_from_uri(f"{mod}.handler") is expected
    assert spoc_asgi.load_from_uri(f"{mod}:handler") is expected


# -- failures --------------------------------------------------------------------------


def load_error(uri: str, **where: object) -> PluginImportError:
    with pytest.raises(PluginImportError) as caught:
        load_from_uri(uri, **where)  # type: ignore[arg-type]
    assert isinstance(caught.value, SpocError)
    assert isinstance(caught.value, ImportError)
    assert uri in str(caught.value)
    assert caught.value.check.uri == uri
    return caught.value


@pytest.mark.parametrize(
    "uri",
    ["spoc_no_such_module", "spoc_no_such_module.attr", "spoc_no_such_module:Class.attr"],
)
def test_a_missing_module(uri: str) -> None:
    error = load_error(uri)
    assert error.id == "spoc.E013"
    assert "spoc_no_such_module" in str(error)
    assert isinstance(error.__cause__, ModuleNotFoundError)


def test_a_missing_submodule_in_the_middle(project: Project) -> None:
    pkg = make_package(project, {})
    error = load_error(f"{pkg}.missing.attr")
    assert error.id == "spoc.E013"
    assert f"{pkg}.missing" in str(error)


def test_a_missing_module_in_the_colon_form(project: Project) -> None:
    pkg = make_package(project, {})
    error = load_error(f"{pkg}.missing:attr")
    assert error.id == "spoc.E013"


BROKEN_MODULES = {
    "own ImportError": ("raise ImportError('needs a C extension')\n", ImportError),
    "own missing dependency": ("import spoc_missing_dependency_xyz\n", ModuleNotFoundError),
    "missing name in a dependency": ("from json import no_such_name\n", ImportError),
    "SyntaxError": ("def broken(:\n    pass\n", SyntaxError),
    "RuntimeError": ("raise RuntimeError('boom at import')\n", RuntimeError),
    "NameError": ("undefined_name + 1\n", NameError),
    "SystemExit": ("import sys\nsys.exit(3)\n", SystemExit),
}


@pytest.mark.parametrize("case", list(BROKEN_MODULES))
@pytest.mark.parametrize("form", ["{mod}.attr", "{mod}", "{mod}:attr"])
def test_a_module_that_fails_to_import_is_reported_as_such(
    project: Project, case: str, form: str
) -> None:
    source, exception = BROKEN_MODULES[case]
    mod = project.module(source)
    uri = form.format(mod=mod)
    error = load_error(uri, group="validators")
    assert error.id == "spoc.E014"
    assert type(error.__cause__) is exception
    message = str(error)
    assert f"module {mod!r} failed to import" in message
    assert exception.__name__ in message
    assert "not found" not in message
    assert "group 'validators'" in message


def test_an_own_missing_dependency_names_the_dependency(project: Project) -> None:
    mod = project.module("import spoc_missing_dependency_xyz\n")
    error = load_error(f"{mod}.attr")
    assert error.id == "spoc.E014"
    assert isinstance(error.__cause__, ModuleNotFoundError)
    assert error.__cause__.name == "spoc_missing_dependency_xyz"
    assert "spoc_missing_dependency_xyz" in str(error)


def test_a_package_whose_init_fails(project: Project) -> None:
    pkg = make_package(project, {"sub": "X = 1\n"}, init="raise ValueError('bad init')\n")
    error = load_error(f"{pkg}.sub.X")
    assert error.id == "spoc.E014"
    assert isinstance(error.__cause__, ValueError)
    assert f"module {pkg!r} failed to import" in str(error)


def test_a_submodule_that_imports_a_missing_sibling(project: Project) -> None:
    pkg = make_package(project, {})
    make_sub = project.base_dir / pkg / "sub.py"
    make_sub.write_text(f"import {pkg}.missing_sibling\n", encoding="utf-8")
    importlib.invalidate_caches()
    error = load_error(f"{pkg}.sub.X")
    assert error.id == "spoc.E014"
    assert isinstance(error.__cause__, ModuleNotFoundError)


def test_a_lazy_attribute_that_fails_to_import(project: Project) -> None:
    mod = project.module(
        "def __getattr__(name):\n    raise ImportError(f'optional extra for {name} missing')\n"
    )
    error = load_error(f"{mod}.Thing")
    assert error.id == "spoc.E014"
    assert isinstance(error.__cause__, ImportError)
    assert "optional extra for Thing missing" in str(error)


def test_a_missing_attribute_names_module_and_name(mod: str) -> None:
    error = load_error(f"{mod}.no_such_thing")
    assert error.id == "spoc.E015"
    assert f"module {mod!r} has no attribute 'no_such_thing'" in str(error)
    assert isinstance(error.__cause__, AttributeError)


def test_a_missing_nested_attribute_names_the_object(mod: str) -> None:
    error = load_error(f"{mod}.Plugin.missing")
    assert error.id == "spoc.E015"
    assert f"{mod}.Plugin" in str(error)
    assert "'missing'" in str(error)
    assert isinstance(error.__cause__, AttributeError)


def test_a_missing_attribute_in_the_colon_form(mod: str) -> None:
    error = load_error(f"{mod}:missing")
    assert error.id == "spoc.E015"
    assert f"module {mod!r} has no attribute 'missing'" in str(error)


def test_a_name_that_is_neither_attribute_nor_submodule(project: Project) -> None:
    pkg = make_package(project, {})
    error = load_error(f"{pkg}.nope")
    assert error.id == "spoc.E015"
    assert f"module {pkg!r} has no attribute or submodule 'nope'" in str(error)


@pytest.mark.parametrize("uri", ["not a uri!", "", "pkg..mod", ".pkg", "pkg.mod:", "1pkg.mod"])
def test_an_invalid_uri(uri: str) -> None:
    with pytest.raises(PluginImportError) as caught:
        load_from_uri(uri)
    assert caught.value.id == "spoc.E005"
    assert repr(uri) in str(caught.value)


def test_the_message_names_group_file_and_line() -> None:
    source = PluginSource(file=Path("/srv/app/config/spoc.toml"), line=7)
    error = load_error("spoc_no_such_module.x", group="cache", source=source)
    assert error.check.file == source.file
    assert error.check.line == 7
    assert error.check.key == "cache"
    assert str(error).startswith("/srv/app/config/spoc.toml:7 [cache]: ")
    assert "group 'cache'" in str(error)


# -- failures through the Framework name the file the URI came from ----------------------


def test_a_toml_entry_error_names_the_toml_file_and_line(project: Project) -> None:
    path = project.toml('[spoc.plugins]\nvalidators = [\n  "spoc_no_such_module.check",\n]\n')
    with pytest.raises(PluginImportError) as caught:
        Framework(project.base_dir, environ={})
    check = caught.value.check
    assert (check.id, check.file, check.line, check.key) == ("spoc.E013", path, 3, "validators")
    assert f"{path}:3 [validators]" in str(caught.value)
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def test_a_settings_entry_error_names_the_settings_file(project: Project) -> None:
    mod = project.module("raise RuntimeError('broken plugin')\n")
    path = project.settings(f'PLUGINS = {{\n    "formatters": ["{mod}.fmt"],\n}}\n')
    with pytest.raises(PluginImportError) as caught:
        Framework(project.base_dir, environ={})
    check = caught.value.check
    assert (check.id, check.file, check.line, check.key) == ("spoc.E014", path, 2, "formatters")
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert "broken plugin" in str(caught.value)


def test_the_framework_loads_every_group_in_order(project: Project, mod: str) -> None:
    project.toml(f'[spoc.plugins]\nformatters = ["{mod}.handler", "{mod}:Plugin"]\n')
    project.settings(f'PLUGINS = {{"validators": ["{mod}.number"], "formatters": ["{mod}"]}}\n')
    framework = Framework(project.base_dir, environ={})
    assert list(framework.plugins) == ["formatters", "validators"]
    assert list(framework.plugins["formatters"]) == [f"{mod}.handler", f"{mod}:Plugin", mod]
    assert framework.plugins["validators"][f"{mod}.number"] == 7
    assert framework.plugins["formatters"][mod] is load_from_uri(mod)


def test_the_framework_loads_each_uri_form_as_load_from_uri_does(project: Project) -> None:
    pkg = make_package(
        project,
        {"sub": "class Thing:\n    value = 3\n", "later": "X = 'later'\n"},
        init="NAME = 'pkg'\n",
    )
    importlib.import_module(pkg)  # imported, but not its submodule "later"
    uris = [f"{pkg}.NAME", f"{pkg}.sub.Thing.value", f"{pkg}.later.X", f"{pkg}:NAME", pkg]
    listed = ", ".join(f'"{uri}"' for uri in uris)
    project.toml(f"[spoc.plugins]\nvalidators = [{listed}]\n")
    framework = Framework(project.base_dir, environ={})
    loaded = framework.plugins["validators"]
    assert list(loaded) == uris
    assert [loaded[uri] for uri in uris] == [load_from_uri(uri) for uri in uris]
    assert loaded[f"{pkg}.later.X"] == "later"


def test_a_missing_attribute_of_an_imported_module_names_file_and_line(
    project: Project, mod: str
) -> None:
    importlib.import_module(mod)
    path = project.toml(f'[spoc.plugins]\nvalidators = [\n  "{mod}.handler",\n  "{mod}.nope",\n]\n')
    with pytest.raises(PluginImportError) as caught:
        Framework(project.base_dir, environ={})
    check = caught.value.check
    assert (check.id, check.file, check.line, check.key) == ("spoc.E015", path, 4, "validators")
    assert isinstance(caught.value.__cause__, AttributeError)


# -- PluginSource -------------------------------------------------------------------------


def test_a_plugin_source_is_a_read_only_value() -> None:
    source = PluginSource(file=Path("/srv/spoc.toml"), line=7)
    assert source == PluginSource(Path("/srv/spoc.toml"), 7)
    assert source != PluginSource(Path("/srv/spoc.toml"), 8)
    assert hash(source) == hash(PluginSource(Path("/srv/spoc.toml"), 7))
    assert str(source) == "/srv/spoc.toml:7"
    assert repr(source) == (
        "PluginSource(file=PosixPath('/srv/spoc.toml'), line=7, distribution=None, "
        "entry_point=None)"
    )
    with pytest.raises(AttributeError):
        source.line = 8  # type: ignore[misc]
    entry_point = PluginSource(None, distribution="dist", entry_point="hooks.x")
    assert str(entry_point) == "entry point 'hooks.x' of distribution 'dist'"


def test_a_source_read_from_a_file_finds_its_line(tmp_path: Path) -> None:
    path = tmp_path / "spoc.toml"
    path.write_text('[spoc.plugins]\nhooks = [\n  "a.b",\n  "c.d",\n]\n', encoding="utf-8")
    lines = LineIndex(path)
    first, second = (
        PluginSource.quoted_in(path, "a.b", lines),
        PluginSource.quoted_in(path, "c.d", lines),
    )
    assert (first.file, first.line, second.line) == (path, 3, 4)
    assert first == PluginSource(path, 3)
    assert str(second) == f"{path}:4"
    assert PluginSource.quoted_in(path, "not.there", lines).line is None


# -- module first, as SPOC: a package that re-exports a name over its own submodule -----------

REEXPORTED_FUNCTION = {
    "auth": "def auth(request):\n    return 'from the submodule'\n",
}
REEXPORTED_CLASS = {
    "auth": "class auth:\n    auth = 'a class attribute'\n",
}


@pytest.mark.parametrize("imported_before", [False, True], ids=["fresh", "imported"])
def test_a_reexported_function_loads_from_its_submodule(
    project: Project, imported_before: bool
) -> None:
    pkg = make_package(project, REEXPORTED_FUNCTION, init="from .auth import auth\n")
    if imported_before:
        importlib.import_module(pkg)
    function = sys.modules[f"{pkg}.auth"].auth if imported_before else None

    loaded = load_from_uri(f"{pkg}.auth.auth")  # was spoc.E015: "function has no 'auth'"

    assert callable(loaded) and loaded(None) == "from the submodule"
    assert function is None or loaded is function
    # The last name is an attribute of what precedes it (as SPOC's rsplit): the re-export.
    assert load_from_uri(f"{pkg}.auth") is loaded
    assert load_from_uri(f"{pkg}.auth:auth") is loaded


@pytest.mark.parametrize("imported_before", [False, True], ids=["fresh", "imported"])
def test_a_reexported_class_is_not_mistaken_for_its_attribute(
    project: Project, imported_before: bool
) -> None:
    pkg = make_package(project, REEXPORTED_CLASS, init="from .auth import auth\n")
    if imported_before:
        importlib.import_module(pkg)

    loaded = load_from_uri(f"{pkg}.auth.auth")

    # Module pkg.auth, attribute auth: the class, never the class attribute of that name.
    assert isinstance(loaded, type) and loaded.__module__ == f"{pkg}.auth"
    # Attribute lookup on the package itself is what the explicit colon form says.
    assert load_from_uri(f"{pkg}:auth.auth") == "a class attribute"


def test_a_submodule_shadowed_by_a_package_attribute_is_imported_for_deeper_names(
    project: Project,
) -> None:
    pkg = make_package(project, {"thing": "X = 1\n"}, init="thing = 'attribute'\n")
    assert load_from_uri(f"{pkg}.thing") == "attribute"  # the package's own name
    assert load_from_uri(f"{pkg}.thing.X") == 1  # module pkg.thing first
    # Importing a submodule binds it on its package, as Python's import system does.
    assert load_from_uri(f"{pkg}.thing") is sys.modules[f"{pkg}.thing"]


def test_reexports_through_the_framework_match_load_from_uri(project: Project) -> None:
    pkg = make_package(project, REEXPORTED_CLASS, init="from .auth import auth\n")
    uris = [f"{pkg}.auth.auth", f"{pkg}.auth", f"{pkg}:auth.auth"]
    listed = ", ".join(f'"{uri}"' for uri in uris)
    project.toml(f"[spoc.plugins]\nvalidators = [{listed}]\n")
    framework = Framework(project.base_dir, environ={})  # the fast path and the full lookup
    loaded = framework.plugins["validators"]
    assert [loaded[uri] for uri in uris] == [load_from_uri(uri) for uri in uris]
    assert loaded[f"{pkg}:auth.auth"] == "a class attribute"


# -- every occurrence has its own line -----------------------------------------------------


def test_one_uri_in_two_groups_points_each_error_at_its_own_line(project: Project) -> None:
    path = project.toml(
        "[spoc.plugins]\n"
        'validators = ["spoc_no_such_module.check"]\n'
        'formatters = ["json.dumps", "spoc_no_such_module.check"]\n'
    )
    reporter = Reporter(strict=False)
    Framework(project.base_dir, reporter=reporter, environ={})
    assert [(m.id, m.file, m.line, m.key) for m in reporter.messages] == [
        ("spoc.E013", path, 2, "validators"),
        ("spoc.E013", path, 3, "formatters"),
    ]


def test_one_uri_in_two_groups_of_settings_and_a_repeat_in_one(project: Project) -> None:
    path = project.settings(
        "PLUGINS = {\n"
        '    "validators": ["json.dumps"],\n'
        '    "formatters": [\n'
        '        "json.dumps",\n'
        '        "json.dumps",\n'
        "    ],\n"
        "}\n"
    )
    reporter = Reporter(strict=False)
    framework = Framework(project.base_dir, reporter=reporter, environ={})
    assert framework.sources["validators"]["json.dumps"].line == 2
    assert framework.sources["formatters"]["json.dumps"].line == 4
    [repeat] = reporter.messages
    assert (repeat.id, repeat.file, repeat.line) == ("spoc.W002", path, 5)
