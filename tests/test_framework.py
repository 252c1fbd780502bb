"""The Framework API and per-plugin options (docs/configuration.md)."""

from __future__ import annotations

import textwrap
from collections import OrderedDict
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from spoc_asgi import Framework, Schema, create_app
from spoc_asgi.checks import CheckMessage, Reporter
from spoc_asgi.importer import Importer
from tests.conftest import Project

PLUGINS = """
class RedisCache:
    name = "redis"

class Memory:
    pass

class Unnamed:
    name = 3  # not a string: the URI's last segment is the short name

def fmt(value):
    return str(value)
"""


@pytest.fixture
def mod(project: Project) -> str:
    return project.module(PLUGINS)


def framework_with(
    project: Project, settings: str = "", toml: str = "", reporter: Reporter | None = None
) -> Framework:
    if settings:
        project.settings(settings)
    if toml:
        project.toml(toml)
    return Framework(project.base_dir, reporter=reporter, environ={})


# -- the API -----------------------------------------------------------------------------


def test_plugins_are_ordered_dicts_of_uri_to_object(project: Project, mod: str) -> None:
    framework = framework_with(
        project,
        settings=f'PLUGINS = {{"formatters": ["{mod}.fmt", "{mod}.Memory"], "cache": []}}\n',
    )
    assert isinstance(framework.plugins, dict)
    assert list(framework.plugins) == ["formatters", "cache"]
    formatters = framework.plugins["formatters"]
    assert isinstance(formatters, OrderedDict)
    assert list(formatters) == [f"{mod}.fmt", f"{mod}.Memory"]
    assert formatters[f"{mod}.fmt"](5) == "5"
    assert formatters[f"{mod}.Memory"].__name__ == "Memory"
    assert framework.plugins["cache"] == OrderedDict()


def test_sources_say_where_each_uri_was_configured(project: Project, mod: str) -> None:
    toml = project.toml(f'[spoc.plugins]\nformatters = ["{mod}.fmt"]\n')
    settings = project.settings(f'X = 1\nPLUGINS = {{"formatters": ["{mod}.Memory"]}}\n')
    framework = Framework(project.base_dir, environ={})
    sources = framework.sources["formatters"]
    assert (sources[f"{mod}.fmt"].file, sources[f"{mod}.fmt"].line) == (toml, 2)
    assert (sources[f"{mod}.Memory"].file, sources[f"{mod}.Memory"].line) == (settings, 2)


def test_config_attributes(project: Project) -> None:
    framework = framework_with(
        project,
        toml='[spoc]\nmode = "staging"\ndebug = true\ntitle = "Shop"\n',
        settings="SECRET_NUMBER = 42\n",
    )
    assert framework.config.mode == "staging"
    assert framework.config.debug is True
    assert framework.config.project["title"] == "Shop"
    assert framework.config.project["mode"] == "staging"
    assert framework.config.settings.SECRET_NUMBER == 42
    assert framework.base_dir == project.base_dir.resolve()


def test_the_importer_is_available(project: Project, mod: str) -> None:
    framework = framework_with(project)
    assert isinstance(framework.importer, Importer)
    assert framework.importer.load_from_uri(f"{mod}.fmt")(1) == "1"


def test_installed_apps_is_a_list(project: Project) -> None:
    framework = framework_with(project, settings='INSTALLED_APPS = ("shop", "blog")\n')
    assert framework.installed_apps == ["shop", "blog"]
    assert isinstance(framework.installed_apps, list)


def test_schema(project: Project) -> None:
    schema = Schema(modules=["models", "views"])
    framework = Framework(project.base_dir, schema=schema, environ={})
    assert framework.schema is schema
    assert framework.schema.modules == ["models", "views"]
    assert Framework(project.base_dir, environ={}).schema == Schema()
    assert Schema().modules == []


def test_base_dir_may_be_a_string(project: Project) -> None:
    project.toml('[spoc]\nmode = "staging"\n')
    assert Framework(str(project.base_dir), environ={}).config.mode == "staging"


def test_repr_names_base_dir_mode_and_groups(project: Project, mod: str) -> None:
    framework = framework_with(project, settings=f'PLUGINS = {{"formatters": ["{mod}.fmt"]}}\n')
    assert repr(framework) == (
        f"<Framework {project.base_dir.resolve()} mode=development plugins: formatters=1>"
    )


# -- short names ---------------------------------------------------------------------------


def test_short_name_is_the_class_name_attribute(project: Project, mod: str) -> None:
    framework = framework_with(project)
    redis = framework.importer.load_from_uri(f"{mod}.RedisCache")
    assert framework.short_name(f"{mod}.RedisCache", redis) == "redis"


def test_short_name_falls_back_to_the_last_uri_segment(project: Project, mod: str) -> None:
    framework = framework_with(project)
    memory = framework.importer.load_from_uri(f"{mod}.Memory")
    unnamed = framework.importer.load_from_uri(f"{mod}.Unnamed")
    assert framework.short_name(f"{mod}.Memory", memory) == "Memory"
    assert framework.short_name(f"{mod}.Unnamed", unnamed) == "Unnamed"
    assert framework.short_name(f"{mod}:Memory", memory) == "Memory"


def test_short_name_survives_an_object_whose_getattr_raises(project: Project) -> None:
    class Hostile:
        def __getattr__(self, name: str) -> object:
            raise RuntimeError("no attributes here")

    assert framework_with(project).short_name("pkg.mod.hostile", Hostile()) == "hostile"


# -- per-plugin options --------------------------------------------------------------------


def test_group_config_by_class_name_attribute(project: Project, mod: str) -> None:
    framework = framework_with(
        project,
        settings=f"""
        PLUGINS = {{"cache": ["{mod}.RedisCache"]}}
        CACHE_CONFIG = {{"redis": {{"url": "redis://h/0", "prefix": "p"}}}}
        """,
    )
    assert framework.options_for("cache", f"{mod}.RedisCache") == {
        "url": "redis://h/0",
        "prefix": "p",
    }


def test_group_config_by_last_uri_segment(project: Project, mod: str) -> None:
    framework = framework_with(
        project,
        settings=f"""
        PLUGINS = {{"cache": ["{mod}.Memory"]}}
        CACHE_CONFIG = {{"Memory": {{"max_size": 10}}}}
        """,
    )
    assert framework.options_for("cache", f"{mod}.Memory") == {"max_size": 10}


def test_the_class_name_attribute_replaces_the_last_segment(project: Project, mod: str) -> None:
    reporter = Reporter(strict=False)
    framework = framework_with(
        project,
        settings=f"""
        PLUGINS = {{"cache": ["{mod}.RedisCache"]}}
        CACHE_CONFIG = {{"RedisCache": {{"url": "x"}}}}
        """,
        reporter=reporter,
    )
    assert framework.options_for("cache", f"{mod}.RedisCache") == {}
    assert [m.id for m in reporter.messages] == ["spoc.W001"]


def test_group_config_by_full_uri(project: Project, mod: str) -> None:
    framework = framework_with(
        project,
        settings=f"""
        PLUGINS = {{"cache": ["{mod}.RedisCache", "{mod}.Memory"]}}
        CACHE_CONFIG = {{"{mod}.RedisCache": {{"url": "u"}}}}
        """,
    )
    assert framework.options_for("cache", f"{mod}.RedisCache") == {"url": "u"}
    assert framework.options_for("cache", f"{mod}.Memory") == {}


def test_a_full_uri_entry_wins_over_a_short_name_entry(project: Project, mod: str) -> None:
    framework = framework_with(
        project,
        settings=f"""
        PLUGINS = {{"cache": ["{mod}.RedisCache"]}}
        CACHE_CONFIG = {{
            "{mod}.RedisCache": {{"url": "by-uri"}},
            "redis": {{"url": "by-name", "prefix": "kept"}},
        }}
        """,
    )
    assert framework.options_for("cache", f"{mod}.RedisCache") == {
        "url": "by-uri",
        "prefix": "kept",
    }


def test_toml_options_by_short_name_and_by_uri(project: Project, mod: str) -> None:
    framework = framework_with(
        project,
        toml=f"""
        [spoc.plugins]
        cache = ["{mod}.RedisCache", "{mod}.Memory"]

        [spoc.config.cache.redis]
        url = "redis://h/1"

        [spoc.config.cache."{mod}.Memory"]
        max_size = 3
        """,
    )
    assert framework.options_for("cache", f"{mod}.RedisCache") == {"url": "redis://h/1"}
    assert framework.options_for("cache", f"{mod}.Memory") == {"max_size": 3}


def test_settings_override_toml_key_by_key(project: Project, mod: str) -> None:
    framework = framework_with(
        project,
        toml=f"""
        [spoc.plugins]
        cache = ["{mod}.RedisCache"]

        [spoc.config.cache.redis]
        url = "redis://toml/0"
        prefix = "from-toml"
        """,
        settings='CACHE_CONFIG = {"redis": {"url": "redis://settings/0", "ttl": 5}}\n',
    )
    assert framework.options_for("cache", f"{mod}.RedisCache") == {
        "url": "redis://settings/0",
        "prefix": "from-toml",
        "ttl": 5,
    }


def test_options_of_a_toml_only_group_are_read_from_settings(project: Project, mod: str) -> None:
    framework = framework_with(
        project,
        toml=f'[spoc.plugins]\nformatters = ["{mod}.fmt"]\n',
        settings='FORMATTERS_CONFIG = {"fmt": {"width": 80}}\n',
    )
    assert framework.options_for("formatters", f"{mod}.fmt") == {"width": 80}


def test_no_options_is_an_empty_dict(project: Project, mod: str) -> None:
    framework = framework_with(project, settings=f'PLUGINS = {{"cache": ["{mod}.Memory"]}}\n')
    assert framework.options_for("cache", f"{mod}.Memory") == {}
    assert framework.options_for("no-such-group", "x.y") == {}


def test_options_are_copies(project: Project, mod: str) -> None:
    framework = framework_with(
        project,
        settings=f"""
        PLUGINS = {{"cache": ["{mod}.Memory"]}}
        CACHE_CONFIG = {{"Memory": {{"max_size": 10}}}}
        """,
    )
    framework.options_for("cache", f"{mod}.Memory")["max_size"] = 0
    assert framework.options_for("cache", f"{mod}.Memory") == {"max_size": 10}
    assert framework.config.settings.CACHE_CONFIG == {"Memory": {"max_size": 10}}


def test_logging_config_is_not_read_without_a_logging_group(project: Project, mod: str) -> None:
    reporter = Reporter(strict=True)
    framework = framework_with(
        project,
        settings=f"""
        PLUGINS = {{"cache": ["{mod}.Memory"]}}
        LOGGING_CONFIG = {{"version": 1, "disable_existing_loggers": False}}
        """,
        reporter=reporter,
    )
    assert "logging" not in framework.config.options
    assert reporter.messages == []


def test_a_group_config_is_read_when_its_group_exists(project: Project, mod: str) -> None:
    reporter = Reporter(strict=False)
    framework_with(
        project,
        settings=f"""
        PLUGINS = {{"logging": ["{mod}.fmt"]}}
        LOGGING_CONFIG = {{"version": 1}}
        """,
        reporter=reporter,
    )
    assert [m.id for m in reporter.messages] == ["spoc.E012"]
    assert reporter.messages[0].key == "LOGGING_CONFIG"


# -- W001: options that configure nothing ----------------------------------------------------


def test_options_for_an_unknown_plugin_warn(project: Project, mod: str) -> None:
    reporter = Reporter(strict=True)  # a warning does not stop the build
    path = project.settings(
        f"""
        PLUGINS = {{"cache": ["{mod}.RedisCache"]}}
        CACHE_CONFIG = {{"redis": {{"url": "u"}}, "memcached": {{"servers": 2}}}}
        """
    )
    Framework(project.base_dir, reporter=reporter, environ={})
    [warning] = reporter.messages
    assert warning.id == "spoc.W001"
    assert warning.uri == "memcached"
    assert warning.file == path
    assert "'memcached'" in warning.msg
    assert "'cache'" in warning.msg


def test_toml_options_for_an_unknown_plugin_name_the_toml_file(project: Project, mod: str) -> None:
    reporter = Reporter(strict=False)
    path = project.toml(
        f'[spoc.plugins]\ncache = ["{mod}.Memory"]\n\n[spoc.config.cache.other]\nx = 1\n'
    )
    Framework(project.base_dir, reporter=reporter, environ={})
    assert [(m.id, m.file, m.uri) for m in reporter.messages] == [("spoc.W001", path, "other")]


def test_toml_options_for_a_group_without_plugins_warn(project: Project) -> None:
    reporter = Reporter(strict=False)
    path = project.toml("[spoc.config.cache.redis]\nurl = 'redis://h/0'\n")
    Framework(project.base_dir, reporter=reporter, environ={})
    [warning] = reporter.messages
    assert (warning.id, warning.file, warning.key) == ("spoc.W001", path, "spoc.config.cache")


def test_matching_options_do_not_warn(project: Project, mod: str) -> None:
    reporter = Reporter(strict=False)
    framework_with(
        project,
        settings=f"""
        PLUGINS = {{"cache": ["{mod}.RedisCache", "{mod}.Memory"]}}
        CACHE_CONFIG = {{"redis": {{}}, "{mod}.Memory": {{}}}}
        """,
        reporter=reporter,
    )
    assert reporter.messages == []


def test_options_of_a_plugin_that_failed_to_load_do_not_warn(project: Project) -> None:
    reporter = Reporter(strict=False)
    framework_with(
        project,
        settings="""
        PLUGINS = {"cache": ["spoc_no_such_module.Redis"]}
        CACHE_CONFIG = {"Redis": {"url": "u"}}
        """,
        reporter=reporter,
    )
    assert [m.id for m in reporter.messages] == ["spoc.E013"]


# -- no global state -------------------------------------------------------------------------

HOOKS = """
CALLS = []

def startup(app):
    CALLS.append(({label!r}, app.state.framework.config.settings.NAME))
"""


def _second_project(tmp_path: Path, project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    other = Project(tmp_path / "other")
    other.base_dir.mkdir()
    monkeypatch.syspath_prepend(str(other.base_dir))
    other.modules = project.modules  # the project fixture cleans sys.modules for both
    return other


def _write(project: Project, label: str) -> str:
    mod = project.module(textwrap.dedent(HOOKS).format(label=label))
    project.settings(f'NAME = "{label}"\nPLUGINS = {{"hooks": ["{mod}.startup"]}}\n')
    project.toml(f'[spoc]\nmode = "{"staging" if label == "one" else "production"}"\n')
    return mod


def test_two_frameworks_keep_their_own_settings_and_plugins(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = _second_project(tmp_path, project, monkeypatch)
    mod_one, mod_two = _write(project, "one"), _write(other, "two")
    one = Framework(project.base_dir, environ={})
    two = Framework(other.base_dir, environ={})
    assert (one.config.settings.NAME, two.config.settings.NAME) == ("one", "two")
    assert (one.config.mode, two.config.mode) == ("staging", "production")
    assert list(one.plugins["hooks"]) == [f"{mod_one}.startup"]
    assert list(two.plugins["hooks"]) == [f"{mod_two}.startup"]
    # Building the second did not change the first.
    assert one.config.settings.NAME == "one"


def test_two_apps_run_only_their_own_hooks(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = _second_project(tmp_path, project, monkeypatch)
    mod_one, mod_two = _write(project, "one"), _write(other, "two")
    app_one, app_two = create_app(project.base_dir), create_app(other.base_dir)
    with TestClient(app_one):
        pass
    calls_one = app_one.state.framework.importer.load_from_uri(f"{mod_one}.CALLS")
    calls_two = app_two.state.framework.importer.load_from_uri(f"{mod_two}.CALLS")
    assert calls_one == [("one", "one")]
    assert calls_two == []
    with TestClient(app_two):
        pass
    assert calls_one == [("one", "one")]
    assert calls_two == [("two", "two")]


def test_checkmessage_of_w001_prints_its_hint(project: Project, mod: str) -> None:
    reporter = Reporter(strict=False)
    framework_with(
        project,
        settings=f'PLUGINS = {{"cache": ["{mod}.Memory"]}}\nCACHE_CONFIG = {{"x": {{}}}}\n',
        reporter=reporter,
    )
    [warning] = reporter.messages
    assert isinstance(warning, CheckMessage)
    assert str(warning).endswith(f"(spoc.W001) HINT: {warning.hint}")
