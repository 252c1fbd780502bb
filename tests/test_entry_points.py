"""Plugins of installed distributions, discovered through ``spoc_asgi.plugins`` entry points.

The distribution in tests/fixtures/entry_point_dist is installed for real, as far as
``importlib.metadata`` is concerned: its package and a ``*.dist-info`` directory
(``METADATA`` + ``entry_points.txt``, written from its pyproject.toml) go into a
site directory that the tests put on ``sys.path``. No pip, build backend or network
is needed, and the shared virtualenv is left untouched.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from spoc_asgi import ConfigurationError, Framework, PluginImportError, create_app
from spoc_asgi.cli import main
from tests.conftest import Project

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FIXTURE_DIST = Path(__file__).parent / "fixtures" / "entry_point_dist"
DIST_NAME = "spoc-entry-point-fixture"
EP_MIDDLEWARE = "spoc_entry_point_fixture.plugins:StampMiddleware"
EP_HOOK = "spoc_entry_point_fixture.plugins:mark_started"


def write_dist_info(
    site: Path, name: str, version: str, entry_points: Mapping[str, Mapping[str, str]]
) -> Path:
    """The metadata an installer leaves behind, as importlib.metadata reads it."""
    normalized = re.sub(r"[-_.]+", "_", name).lower()
    dist_info = site / f"{normalized}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    sections = [
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in points.items())
        for group, points in entry_points.items()
    ]
    (dist_info / "entry_points.txt").write_text("\n".join(sections), encoding="utf-8")
    return dist_info


def install(source: Path, site: Path) -> None:
    """Install the distribution at ``source`` (a pyproject.toml project) into ``site``."""
    pyproject = tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    for package in pyproject["tool"]["setuptools"]["packages"]:
        shutil.copytree(source / package, site / package)
    write_dist_info(site, project["name"], project["version"], project["entry-points"])


@pytest.fixture(scope="session")
def installed_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site-packages")
    install(FIXTURE_DIST, site)
    return site


@pytest.fixture
def installed(installed_site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture distribution is installed for this test."""
    monkeypatch.syspath_prepend(str(installed_site))
    return installed_site


@pytest.fixture
def opted_in(project: Project) -> Project:
    """A project with its own middleware in TOML and settings, opting in to discovery."""
    module = project.module(
        """
        def from_toml(request):
            return None

        def from_settings(request):
            return None
        """
    )
    project.toml(
        f"""
        [spoc]
        entry_points = true

        [spoc.plugins]
        middleware = ["{module}.from_toml"]
        """
    )
    project.settings(f'PLUGINS = {{"middleware": ["{module}.from_settings"]}}')
    return project


def test_the_fixture_distribution_is_installed(installed: Path) -> None:
    from importlib.metadata import distribution, entry_points

    assert distribution(DIST_NAME).version == "0.1.0"
    points = {ep.name: ep.value for ep in entry_points(group="spoc_asgi.plugins")}
    assert points["middleware.stamp"] == EP_MIDDLEWARE
    assert points["hooks"] == EP_HOOK


def test_discovered_plugins_come_after_toml_and_settings(
    installed: Path, opted_in: Project
) -> None:
    framework = Framework(opted_in.base_dir)

    middleware = list(framework.plugins["middleware"])
    assert middleware[2:] == [EP_MIDDLEWARE]
    assert [uri.rsplit(".", 1)[1] for uri in middleware[:2]] == ["from_toml", "from_settings"]
    assert list(framework.plugins["hooks"]) == [EP_HOOK]
    source = framework.sources["middleware"][EP_MIDDLEWARE]
    assert (source.distribution, source.entry_point) == (DIST_NAME, "middleware.stamp")
    assert source.file is None


def test_discovered_plugins_run_in_the_app(installed: Path, opted_in: Project) -> None:
    app = create_app(opted_in.base_dir)

    with TestClient(app) as client:
        response = client.get("/nowhere")
        assert app.state.entry_point_hook_ran is True
    assert response.status_code == 404
    assert response.headers["x-stamp"] == "entry-point"


def test_discovered_plugins_take_options_like_any_other(installed: Path, opted_in: Project) -> None:
    opted_in.settings(
        """
        PLUGINS = {}
        MIDDLEWARE_CONFIG = {"StampMiddleware": {"value": "configured"}}
        """
    )
    with TestClient(create_app(opted_in.base_dir)) as client:
        assert client.get("/").headers["x-stamp"] == "configured"


def test_nothing_is_discovered_without_the_opt_in(installed: Path, project: Project) -> None:
    project.toml("[spoc]\n")

    framework = Framework(project.base_dir)

    assert framework.plugins == {}


def test_a_non_boolean_opt_in_is_a_configuration_error(
    installed: Path, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.toml('[spoc]\nentry_points = "yes"\n')

    assert main(["check", "--base-dir", str(project.base_dir)]) == 1

    assert "spoc.E022" in capsys.readouterr().out


def test_plugins_command_shows_the_distribution(
    installed: Path, opted_in: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins", "--base-dir", str(opted_in.base_dir)]) == 0

    out = capsys.readouterr().out
    assert "entry points:   on" in out
    assert f"3. {EP_MIDDLEWARE}  (innermost)" in out
    assert f"entry point 'middleware.stamp' of distribution '{DIST_NAME}'" in out
    assert f"entry point 'hooks' of distribution '{DIST_NAME}'" in out


def test_plugins_json_gives_the_entry_point_source(
    installed: Path, opted_in: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins", "--base-dir", str(opted_in.base_dir), "--json"]) == 0

    data = json.loads(capsys.readouterr().out)
    assert data["entry_points"] is True
    plugin = data["groups"][0]["plugins"][2]
    assert plugin["uri"] == EP_MIDDLEWARE
    assert plugin["kind"] == "ASGI middleware class"
    assert plugin["source"] == {
        "file": None,
        "line": None,
        "distribution": DIST_NAME,
        "entry_point": "middleware.stamp",
    }


@pytest.fixture
def broken_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A second distribution whose entry point names an attribute that does not exist."""
    site = tmp_path / "broken-site"
    write_dist_info(
        site,
        "spoc-broken-plugins",
        "1.0",
        {"spoc_asgi.plugins": {"hooks.missing": "spoc_entry_point_fixture.plugins:nothing"}},
    )
    monkeypatch.syspath_prepend(str(site))
    return "spoc-broken-plugins"


def test_a_bad_entry_point_names_its_distribution(
    installed: Path, broken_distribution: str, opted_in: Project
) -> None:
    with pytest.raises(PluginImportError) as caught:
        create_app(opted_in.base_dir)

    message = str(caught.value)
    assert caught.value.id == "spoc.E015"
    assert "'spoc_entry_point_fixture.plugins:nothing'" in message
    assert f"entry point 'hooks.missing' of distribution '{broken_distribution}'" in message
    assert "has no attribute 'nothing'" in message


def test_check_reports_a_bad_entry_point_without_a_traceback(
    installed: Path,
    broken_distribution: str,
    opted_in: Project,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", "--base-dir", str(opted_in.base_dir)]) == 1

    out = capsys.readouterr().out
    location = f"entry point 'hooks.missing' of distribution '{broken_distribution}' [hooks]"
    assert f"{location}: ERROR spoc.E015" in out
    assert "Traceback" not in out


def test_an_entry_point_that_is_not_a_uri_is_reported(
    installed: Path, opted_in: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "odd-site"
    write_dist_info(site, "spoc-odd", "1.0", {"spoc_asgi.plugins": {"hooks": "not a uri!"}})
    monkeypatch.syspath_prepend(str(site))

    with pytest.raises(ConfigurationError) as caught:
        Framework(opted_in.base_dir)

    assert caught.value.id == "spoc.E005"
    assert "'spoc-odd'" in str(caught.value)
