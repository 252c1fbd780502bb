"""SPOC-layout projects side by side: what ``Framework`` loads is what docs/migrating.md and
docs/configuration.md promise, and, for every URI SPOC itself accepts, the very object
SPOC's rule gives (everything before the last dot is a module, the last name an
attribute of it)."""

from __future__ import annotations

import importlib
import itertools
import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from spoc_asgi import Framework
from spoc_asgi.checks import Reporter
from tests.conftest import Project

_ids = itertools.count()


def spoc_rule(uri: str) -> Any:
    """SPOC's importer, restated: import ``uri`` up to its last dot, take the last name."""
    module, _, name = uri.rpartition(".")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class SpocProject:
    name: str
    files: dict[str, str]  # relative path -> text; "{app}" is the project's unique package
    plugins: dict[str, list[str]]  # the documented result: group -> URIs, in order
    problems: list[tuple[str, str]] = field(default_factory=list)  # (id, location)
    spoc_uris: tuple[str, ...] = ()  # URIs in SPOC's own form, compared with spoc_rule


APP = {
    "{app}/__init__.py": "from .auth import auth\nfrom .models import models\n",
    "{app}/auth.py": "def auth(request):\n    return request\n",
    "{app}/models.py": "class models:\n    models = 'class attribute'\n",
    "{app}/middleware.py": (
        "def cors(request):\n    return None\n\n"
        "def timing(request):\n    return None\n\n"
        "class Plugin:\n    class Inner:\n        value = 42\n"
    ),
    "{app}/validators.py": "def phone(value):\n    return value.isdigit()\n",
}

PROJECTS = [
    SpocProject(
        "merge: TOML first, then settings",
        {
            **APP,
            "config/spoc.toml": '[spoc.plugins]\nmiddleware = ["{app}.middleware.cors"]\n',
            "config/settings.py": 'PLUGINS = {"middleware": ["{app}.middleware.timing"]}\n',
        },
        {"middleware": ["{app}.middleware.cors", "{app}.middleware.timing"]},
        spoc_uris=("{app}.middleware.cors", "{app}.middleware.timing"),
    ),
    SpocProject(
        "dedup: a URI in both files keeps its first position",
        {
            **APP,
            "spoc.toml": '[spoc.plugins]\nvalidators = ["{app}.validators.phone"]\n',
            "settings.py": 'PLUGINS = {\n  "validators": ["{app}.validators.phone"],\n}\n',
        },
        {"validators": ["{app}.validators.phone"]},
        problems=[("spoc.W002", "settings.py:2 [PLUGINS['validators']]")],
        spoc_uris=("{app}.validators.phone",),
    ),
    SpocProject(
        "URI forms: attribute, module, colon, nested",
        {
            **APP,
            "config/spoc.toml": (
                "[spoc.plugins]\nvalidators = [\n"
                '  "{app}.validators.phone",\n'
                '  "{app}.validators",\n'
                '  "{app}.middleware:Plugin.Inner.value",\n'
                '  "{app}.middleware.Plugin.Inner",\n'
                "]\n"
            ),
        },
        {
            "validators": [
                "{app}.validators.phone",
                "{app}.validators",
                "{app}.middleware:Plugin.Inner.value",
                "{app}.middleware.Plugin.Inner",
            ]
        },
        spoc_uris=("{app}.validators.phone", "{app}.validators"),
    ),
    SpocProject(
        "re-exports over submodules, a function and a class",
        {
            **APP,
            "config/spoc.toml": (
                '[spoc.plugins]\nmiddleware = ["{app}.auth.auth"]\n'
                'validators = ["{app}.models.models", "{app}.auth"]\n'
            ),
        },
        {"middleware": ["{app}.auth.auth"], "validators": ["{app}.models.models", "{app}.auth"]},
        spoc_uris=("{app}.auth.auth", "{app}.models.models", "{app}.auth"),
    ),
    SpocProject(
        "errors: each at its own file and line",
        {
            **APP,
            "config/spoc.toml": (
                "[spoc.plugins]\n"
                'validators = ["{app}.validators.phone", "{app}.nowhere.phone"]\n'
                'formatters = ["{app}.nowhere.phone"]\n'
            ),
            "config/settings.py": 'PLUGINS = {\n    "hooks": ["{app}.validators.missing"],\n}\n',
        },
        {"validators": ["{app}.validators.phone"], "formatters": [], "hooks": []},
        problems=[
            ("spoc.E013", "config/spoc.toml:2 [validators]"),
            ("spoc.E013", "config/spoc.toml:3 [formatters]"),
            ("spoc.E015", "config/settings.py:2 [hooks]"),
        ],
    ),
]


def write(project: Project, spoc_project: SpocProject) -> str:
    app = f"spoc_layout_{os.getpid()}_{next(_ids)}"
    for relative, text in spoc_project.files.items():
        path = project.base_dir / relative.replace("{app}", app)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text.replace("{app}", app)), encoding="utf-8")
    project.modules.append(app)
    importlib.invalidate_caches()
    return app


@pytest.mark.parametrize("spoc_project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_a_spoc_layout_project_loads_the_documented_plugins(
    project: Project, spoc_project: SpocProject
) -> None:
    app = write(project, spoc_project)
    reporter = Reporter(strict=False)

    framework = Framework(Path(project.base_dir), reporter=reporter, environ={})

    expected = {
        group: [uri.replace("{app}", app) for uri in uris]
        for group, uris in spoc_project.plugins.items()
    }
    assert {group: list(loaded) for group, loaded in framework.plugins.items()} == expected
    assert [(m.id, m.where(framework.base_dir)) for m in reporter.messages] == [
        (check_id, location.replace("{app}", app)) for check_id, location in spoc_project.problems
    ]
    for uri in spoc_project.spoc_uris:
        uri = uri.replace("{app}", app)
        group = next(g for g, loaded in framework.plugins.items() if uri in loaded)
        assert framework.plugins[group][uri] is spoc_rule(uri), uri


def test_the_reexport_project_gives_the_submodules_objects(project: Project) -> None:
    app = write(project, PROJECTS[3])
    framework = Framework(project.base_dir, environ={})
    auth = importlib.import_module(f"{app}.auth").auth
    model = importlib.import_module(f"{app}.models").models
    assert framework.plugins["middleware"][f"{app}.auth.auth"] is auth
    assert framework.plugins["validators"][f"{app}.models.models"] is model  # not its attribute
    assert framework.plugins["validators"][f"{app}.auth"] is auth  # the package's re-export
