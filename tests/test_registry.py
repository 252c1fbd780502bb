"""One registry of groups (docs/plugins.md#groups): create_app, install, Backends and the
command line all adapt a group through ``spoc_asgi.registry.GROUPS``, and custom groups
are imported and left alone, as in SPOC."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.applications import Starlette

from spoc_asgi import ConfigurationError, Framework, create_app, install
from spoc_asgi.backends import Backends
from spoc_asgi.checks import CheckMessage
from spoc_asgi.cli import inspect_project, main
from spoc_asgi.registry import BUILTIN_GROUPS, GROUPS, GroupAdapter, Role, build, role_of
from tests.conftest import Project


def test_the_built_in_groups_and_their_roles() -> None:
    assert BUILTIN_GROUPS == ("middleware", "database", "cache", "hooks", "routes")
    assert [role_of(group).value for group in BUILTIN_GROUPS] == [
        "middleware",
        "backend",
        "backend",
        "lifespan",
        "routes",
    ]
    assert role_of("validators") is Role.CUSTOM


def refuse(framework: Framework, uri: str, obj: Any) -> Any:
    raise ConfigurationError(CheckMessage.at("spoc.E019", f"refused {uri}", None, uri=uri))


def test_every_consumer_goes_through_the_one_table(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A group made built-in by one line in the table is adapted everywhere at once.
    monkeypatch.setitem(GROUPS, "checked", GroupAdapter("checked", Role.ROUTES, refuse, "t"))
    project.toml('[spoc.plugins]\nchecked = ["json.dumps"]\n')

    with pytest.raises(ConfigurationError, match=r"refused json\.dumps"):
        create_app(project.base_dir)
    with pytest.raises(ConfigurationError, match=r"refused json\.dumps"):
        install(Starlette(), project.base_dir)
    [problem] = inspect_project(project.base_dir).problems
    assert problem.msg == "refused json.dumps"


def test_backends_are_built_through_the_registry(project: Project) -> None:
    project.toml('[spoc.plugins]\ncache = ["spoc_asgi.backends.memory.MemoryCache"]\n')
    framework = Framework(project.base_dir)
    backends = Backends(build(framework, roles=[Role.BACKEND]).backends)
    assert [(group, uri) for group, uri, _ in backends] == [
        ("cache", "spoc_asgi.backends.memory.MemoryCache")
    ]
    assert list(build(framework, roles=[Role.BACKEND]).adapted) == ["database", "cache"]


def test_a_custom_group_is_imported_and_left_alone(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    module = project.module("NOT_A_PLUGIN_OF_ANY_SHAPE = 42\n")
    project.toml(f'[spoc.plugins]\nvalidators = ["{module}.NOT_A_PLUGIN_OF_ANY_SHAPE"]\n')

    app = create_app(project.base_dir)

    assert app.state.framework.plugins["validators"] == {f"{module}.NOT_A_PLUGIN_OF_ANY_SHAPE": 42}
    assert main(["plugins", "--json", "--base-dir", str(project.base_dir)]) == 0
    [group] = json.loads(capsys.readouterr().out)["groups"]
    assert (group["group"], group["role"]) == ("validators", "custom")
    assert group["description"] == "custom group: imported in order and left to the application"
