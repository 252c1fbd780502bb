"""Where the two files are found, how they merge, modes and settings."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

from spoc_asgi import ConfigurationError, Framework
from spoc_asgi.checks import Reporter
from spoc_asgi.config import load_config
from tests.conftest import Project


def uris(base_dir: Path, group: str, reporter: Reporter | None = None) -> list[str]:
    config = load_config(base_dir, reporter, environ={})
    return [entry.uri for entry in config.plugins.get(group, [])]


# -- lookup order ------------------------------------------------------------------------


def test_config_spoc_toml_is_read_before_the_one_at_the_base_dir(project: Project) -> None:
    project.toml('[spoc.plugins]\ngroup = ["inner.a"]\n', where="config/spoc.toml")
    project.toml('[spoc.plugins]\ngroup = ["outer.b"]\n', where="spoc.toml")
    config = load_config(project.base_dir, environ={})
    assert config.toml_path == project.base_dir / "config" / "spoc.toml"
    assert [entry.uri for entry in config.plugins["group"]] == ["inner.a"]


def test_spoc_toml_at_the_base_dir_is_used_without_a_config_dir(project: Project) -> None:
    project.toml('[spoc.plugins]\ngroup = ["outer.b"]\n', where="spoc.toml")
    config = load_config(project.base_dir, environ={})
    assert config.toml_path == project.base_dir / "spoc.toml"
    assert uris(project.base_dir, "group") == ["outer.b"]


def test_config_settings_is_read_before_the_one_at_the_base_dir(project: Project) -> None:
    project.settings("WHERE = 'config'\n", where="config/settings.py")
    project.settings("WHERE = 'root'\n", where="settings.py")
    config = load_config(project.base_dir, environ={})
    assert config.settings_path == project.base_dir / "config" / "settings.py"
    assert config.settings.WHERE == "config"


def test_settings_at_the_base_dir_is_used_without_a_config_dir(project: Project) -> None:
    project.settings("WHERE = 'root'\n", where="settings.py")
    config = load_config(project.base_dir, environ={})
    assert config.settings_path == project.base_dir / "settings.py"
    assert config.settings.WHERE == "root"


def test_a_directory_named_like_a_config_file_is_not_a_config_file(project: Project) -> None:
    (project.base_dir / "config" / "spoc.toml").mkdir(parents=True)
    project.toml('[spoc]\nmode = "staging"\n', where="spoc.toml")
    assert load_config(project.base_dir, environ={}).mode == "staging"


def test_neither_file_is_required(project: Project) -> None:
    framework = Framework(project.base_dir, environ={})
    assert framework.config.toml_path is None
    assert framework.config.settings_path is None
    assert framework.plugins == {}
    assert framework.installed_apps == []
    assert framework.config.project == {"mode": "development", "debug": False}
    assert isinstance(framework.config.settings, ModuleType)
    assert not hasattr(framework.config.settings, "PLUGINS")


def test_only_a_toml_file(project: Project) -> None:
    project.toml('[spoc.plugins]\nvalidators = ["pkg.a"]\n')
    assert uris(project.base_dir, "validators") == ["pkg.a"]


def test_only_a_settings_file(project: Project) -> None:
    project.settings('PLUGINS = {"validators": ["pkg.a"]}\n')
    assert uris(project.base_dir, "validators") == ["pkg.a"]


def test_settings_without_plugins_is_fine(project: Project) -> None:
    project.settings("DEBUG_TOOLBAR = True\n")
    config = load_config(project.base_dir, environ={})
    assert config.plugins == {}
    assert config.settings.DEBUG_TOOLBAR is True


def test_plugins_none_counts_as_absent(project: Project) -> None:
    project.settings("PLUGINS = None\n")
    assert load_config(project.base_dir, environ={}).plugins == {}


# -- merging -------------------------------------------------------------------------


def test_docs_example_toml_entries_come_before_settings_entries(project: Project) -> None:
    project.toml('[spoc.plugins]\nmiddleware = ["app.middleware.cors"]\n')
    project.settings('PLUGINS = {"middleware": ["app.middleware.auth"]}\n')
    assert uris(project.base_dir, "middleware") == ["app.middleware.cors", "app.middleware.auth"]


def test_a_group_keeps_its_listed_order(project: Project) -> None:
    project.toml('[spoc.plugins]\ng = ["m.c", "m.a", "m.b"]\n')
    project.settings('PLUGINS = {"g": ["m.z", "m.y"]}\n')
    assert uris(project.base_dir, "g") == ["m.c", "m.a", "m.b", "m.z", "m.y"]


def test_groups_keep_first_seen_order(project: Project) -> None:
    project.toml('[spoc.plugins]\nzeta = ["m.a"]\nalpha = ["m.b"]\n')
    project.settings('PLUGINS = {"omega": ["m.c"], "alpha": ["m.d"], "beta": ["m.e"]}\n')
    config = load_config(project.base_dir, environ={})
    assert list(config.plugins) == ["zeta", "alpha", "omega", "beta"]
    assert [entry.uri for entry in config.plugins["alpha"]] == ["m.b", "m.d"]


def test_a_uri_listed_in_both_files_keeps_its_first_position(project: Project) -> None:
    project.toml('[spoc.plugins]\nmiddleware = ["m.cors", "m.auth"]\n')
    project.settings('PLUGINS = {"middleware": ["m.gzip", "m.cors"]}\n')
    reporter = Reporter(strict=True)  # a warning never raises
    assert uris(project.base_dir, "middleware", reporter) == ["m.cors", "m.auth", "m.gzip"]
    [warning] = reporter.messages
    assert warning.id == "spoc.W002"
    assert warning.uri == "m.cors"
    assert warning.file == project.base_dir / "config" / "settings.py"
    assert "config/spoc.toml" in warning.msg  # where the kept entry came from


def test_a_uri_listed_twice_in_one_group_warns_with_its_line(project: Project) -> None:
    project.toml('[spoc.plugins]\ng = [\n  "m.a",\n  "m.b",\n  "m.a",\n]\n')
    reporter = Reporter(strict=False)
    assert uris(project.base_dir, "g", reporter) == ["m.a", "m.b"]
    assert [m.id for m in reporter.messages] == ["spoc.W002"]
    assert reporter.errors == []


def test_a_uri_may_appear_in_two_groups(project: Project) -> None:
    project.toml('[spoc.plugins]\none = ["m.a"]\ntwo = ["m.a"]\n')
    reporter = Reporter(strict=False)
    config = load_config(project.base_dir, reporter, environ={})
    assert [e.uri for e in config.plugins["one"]] == [e.uri for e in config.plugins["two"]]
    assert reporter.messages == []


def test_entries_remember_file_and_line(project: Project) -> None:
    toml = project.toml('[spoc]\n\n[spoc.plugins]\ng = [\n  "m.a",\n  "m.b"]\n')
    settings = project.settings('import os\nPLUGINS = {\n    "g": ["m.c"],\n}\n')
    entries = load_config(project.base_dir, environ={}).plugins["g"]
    assert [(e.source.file, e.source.line) for e in entries] == [
        (toml, 5),
        (toml, 6),
        (settings, 3),
    ]


def test_settings_may_use_tuples(project: Project) -> None:
    project.settings('PLUGINS = {"g": ("m.a", "m.b")}\n')
    assert uris(project.base_dir, "g") == ["m.a", "m.b"]


def test_the_explicit_colon_form_is_a_valid_entry(project: Project) -> None:
    project.toml('[spoc.plugins]\ng = ["pkg.mod:Class.attr"]\n')
    assert uris(project.base_dir, "g") == ["pkg.mod:Class.attr"]


def test_an_empty_group_is_kept(project: Project) -> None:
    project.toml("[spoc.plugins]\nhooks = []\n")
    assert load_config(project.base_dir, environ={}).plugins == {"hooks": []}


# -- mode and debug ----------------------------------------------------------------


def test_mode_and_debug_defaults(project: Project) -> None:
    project.toml("[spoc]\n")
    config = load_config(project.base_dir, environ={})
    assert (config.mode, config.debug) == ("development", False)


@pytest.mark.parametrize("mode", ["development", "staging", "production"])
def test_each_mode_is_accepted(project: Project, mode: str) -> None:
    project.toml(f'[spoc]\nmode = "{mode}"\n')
    config = load_config(project.base_dir, environ={})
    assert config.mode == mode
    assert config.project["mode"] == mode


def test_debug_from_toml(project: Project) -> None:
    project.toml("[spoc]\ndebug = true\n")
    assert Framework(project.base_dir, environ={}).config.debug is True


def test_spoc_mode_overrides_toml(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.toml('[spoc]\nmode = "development"\n')
    monkeypatch.setenv("SPOC_MODE", "staging")
    framework = Framework(project.base_dir)
    assert framework.config.mode == "staging"
    assert framework.config.project["mode"] == "staging"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("off", False),
        ("", False),
    ],
)
def test_spoc_debug_overrides_toml(
    project: Project, monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool
) -> None:
    project.toml(f"[spoc]\ndebug = {'false' if expected else 'true'}\n")
    monkeypatch.setenv("SPOC_DEBUG", raw)
    assert Framework(project.base_dir).config.debug is expected


def test_environment_overrides_without_a_toml_file(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOC_MODE", "production")
    monkeypatch.setenv("SPOC_DEBUG", "0")
    config = Framework(project.base_dir).config
    assert (config.mode, config.debug) == ("production", False)


def test_an_explicit_environ_wins_over_os_environ(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOC_MODE", "production")
    assert Framework(project.base_dir, environ={}).config.mode == "development"


@pytest.mark.parametrize("value", ["prod", "Production", "", " staging"])
def test_an_invalid_spoc_mode_names_the_variable(
    project: Project, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SPOC_MODE", value)
    with pytest.raises(ConfigurationError) as caught:
        Framework(project.base_dir)
    assert caught.value.id == "spoc.E006"
    assert "SPOC_MODE" in str(caught.value)


def test_an_invalid_spoc_debug_names_the_variable(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOC_DEBUG", "maybe")
    with pytest.raises(ConfigurationError) as caught:
        Framework(project.base_dir)
    assert caught.value.id == "spoc.E007"
    assert "SPOC_DEBUG" in str(caught.value)
    assert "'maybe'" in str(caught.value)


def test_an_invalid_toml_mode_names_file_and_key(project: Project) -> None:
    path = project.toml('[spoc]\nmode = "prod"\n')
    with pytest.raises(ConfigurationError) as caught:
        load_config(project.base_dir, environ={})
    assert caught.value.id == "spoc.E006"
    assert caught.value.check.file == path
    assert caught.value.check.key == "spoc.mode"
    assert "'prod'" in str(caught.value)


def test_debug_in_production_warns(project: Project) -> None:
    project.toml('[spoc]\nmode = "production"\ndebug = true\n')
    reporter = Reporter(strict=True)
    config = load_config(project.base_dir, reporter, environ={})
    assert config.debug is True
    assert [m.id for m in reporter.messages] == ["spoc.W003"]


def test_debug_off_in_production_does_not_warn(project: Project) -> None:
    project.toml('[spoc]\nmode = "production"\n')
    reporter = Reporter(strict=True)
    load_config(project.base_dir, reporter, environ={})
    assert reporter.messages == []


# -- hook_timeout ------------------------------------------------------------------------


def test_hook_timeout_defaults_to_thirty_seconds(project: Project) -> None:
    assert load_config(project.base_dir, environ={}).hook_timeout == 30.0


@pytest.mark.parametrize(("written", "seconds"), [("5", 5.0), ("2.5", 2.5), ("0.001", 0.001)])
def test_hook_timeout_is_read(project: Project, written: str, seconds: float) -> None:
    project.toml(f"[spoc]\nhook_timeout = {written}\n")
    timeout = load_config(project.base_dir, environ={}).hook_timeout
    assert timeout == seconds
    assert isinstance(timeout, float)


@pytest.mark.parametrize(
    "written", ["0", "-1", "0.0", '"30"', "true", "nan", "inf", "[30]", "1" + "0" * 400]
)
def test_an_invalid_hook_timeout_is_rejected(project: Project, written: str) -> None:
    path = project.toml(f"[spoc]\nhook_timeout = {written}\n")
    with pytest.raises(ConfigurationError) as caught:
        load_config(project.base_dir, environ={})
    assert caught.value.id == "spoc.E011"
    assert caught.value.check.file == path
    assert caught.value.check.key == "spoc.hook_timeout"


# -- the [spoc] table and settings module as the Framework shows them ---------------------


def test_project_is_the_spoc_table(project: Project) -> None:
    project.toml(
        '[spoc]\nmode = "staging"\nname = "shop"\n\n[spoc.plugins]\ng = ["m.a"]\n'
        "\n[spoc.extra]\nflag = 1\n"
    )
    project_table = load_config(project.base_dir, environ={}).project
    assert project_table["mode"] == "staging"
    assert project_table["debug"] is False
    assert project_table["name"] == "shop"
    assert project_table["plugins"] == {"g": ["m.a"]}
    assert project_table["extra"] == {"flag": 1}


def test_other_top_level_tables_are_ignored(project: Project) -> None:
    project.toml('[tool.other]\nmode = "broken"\n\n[spoc]\nmode = "staging"\n')
    assert load_config(project.base_dir, environ={}).mode == "staging"


def test_settings_is_python_with_file_and_environment(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOC_TEST_GROUP_URI", "pkg.from_env")
    project.settings(
        """
        import os
        from pathlib import Path

        BASE_DIR = Path(__file__).resolve().parent.parent
        PLUGINS = {"g": [os.environ["SPOC_TEST_GROUP_URI"]]}
        """
    )
    config = load_config(project.base_dir, environ={})
    settings_base_dir = config.settings.BASE_DIR
    assert settings_base_dir == project.base_dir.resolve()
    assert [entry.uri for entry in config.plugins["g"]] == ["pkg.from_env"]


def test_settings_can_define_dataclasses(project: Project) -> None:
    # dataclasses look their module up in sys.modules while the class is created.
    project.settings(
        """
        from dataclasses import dataclass

        @dataclass
        class Limits:
            rate: int = 5

        LIMITS = Limits()
        """
    )
    assert load_config(project.base_dir, environ={}).settings.LIMITS.rate == 5


# -- INSTALLED_APPS -----------------------------------------------------------------------


def test_installed_apps(project: Project) -> None:
    project.settings('INSTALLED_APPS = ["shop", "blog"]\n')
    assert Framework(project.base_dir, environ={}).installed_apps == ["shop", "blog"]


def test_installed_apps_may_be_a_tuple(project: Project) -> None:
    project.settings('INSTALLED_APPS = ("shop",)\n')
    assert Framework(project.base_dir, environ={}).installed_apps == ["shop"]


@pytest.mark.parametrize("value", ['"shop"', '["shop", 3]', "{'shop': 1}", "None"])
def test_installed_apps_must_be_a_list_of_strings(project: Project, value: str) -> None:
    path = project.settings(f"INSTALLED_APPS = {value}\n")
    with pytest.raises(ConfigurationError) as caught:
        Framework(project.base_dir, environ={})
    assert caught.value.id == "spoc.E020"
    assert caught.value.check.file == path
    assert caught.value.check.key == "INSTALLED_APPS"


# -- no global state ---------------------------------------------------------------------


def test_an_unrelated_settings_module_is_neither_used_nor_clobbered(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    unrelated = ModuleType("settings")
    unrelated.PLUGINS = {"g": ["unrelated.plugin"]}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "settings", unrelated)
    project.settings('PLUGINS = {"g": ["mine.plugin"]}\n')
    config = load_config(project.base_dir, environ={})
    assert [entry.uri for entry in config.plugins["g"]] == ["mine.plugin"]
    assert sys.modules["settings"] is unrelated
    assert unrelated.PLUGINS == {"g": ["unrelated.plugin"]}  # type: ignore[attr-defined]


def test_a_base_dir_without_settings_ignores_sys_modules_settings(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    unrelated = ModuleType("settings")
    unrelated.PLUGINS = {"g": ["unrelated.plugin"]}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "settings", unrelated)
    assert load_config(project.base_dir, environ={}).plugins == {}


def test_loading_leaves_no_settings_module_behind(project: Project) -> None:
    path = project.settings("X = 1\n")
    before = set(sys.modules)
    load_config(project.base_dir, environ={})
    added = [sys.modules[name] for name in set(sys.modules) - before]
    assert all(getattr(module, "__file__", None) != str(path) for module in added)


def test_settings_are_read_afresh_each_time(project: Project) -> None:
    project.settings('PLUGINS = {"g": ["m.first"]}\n')
    first = load_config(project.base_dir, environ={})
    project.settings('PLUGINS = {"g": ["m.second"]}\n')
    second = load_config(project.base_dir, environ={})
    assert [e.uri for e in first.plugins["g"]] == ["m.first"]
    assert [e.uri for e in second.plugins["g"]] == ["m.second"]
    assert first.settings is not second.settings


def test_two_base_dirs_keep_their_own_settings(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for base, value in ((one, "one"), (two, "two")):
        (base / "config").mkdir(parents=True)
        (base / "config" / "settings.py").write_text(
            f'NAME = "{value}"\nPLUGINS = {{"g": ["m.{value}"]}}\n', encoding="utf-8"
        )
        (base / "config" / "spoc.toml").write_text(
            f'[spoc]\nmode = "{"staging" if value == "one" else "production"}"\n', encoding="utf-8"
        )
    first = load_config(one, environ={})
    second = load_config(two, environ={})
    assert (first.settings.NAME, second.settings.NAME) == ("one", "two")
    assert (first.mode, second.mode) == ("staging", "production")
    assert [e.uri for e in first.plugins["g"]] == ["m.one"]
    assert [e.uri for e in second.plugins["g"]] == ["m.two"]
    assert load_config(one, environ={}).settings.NAME == "one"


# -- entry points (opt-in) -------------------------------------------------------------------


@pytest.fixture
def installed_plugin_distribution(project: Project) -> str:
    """A real (if tiny) installed distribution, found by importlib.metadata on sys.path,
    that offers a ``middleware`` plugin through the ``spoc_asgi.plugins`` entry points."""
    import importlib.metadata

    dist_info = project.base_dir / "spoc_test_dist-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: spoc-test-dist\nVersion: 1.0\n", encoding="utf-8"
    )
    (dist_info / "entry_points.txt").write_text(
        "[spoc_asgi.plugins]\nmiddleware = spoc_test_dist_plugin:middleware\n", encoding="utf-8"
    )
    found = importlib.metadata.entry_points(group="spoc_asgi.plugins")
    assert "spoc_test_dist_plugin:middleware" in [ep.value for ep in found]
    return "spoc_test_dist_plugin:middleware"


@pytest.mark.parametrize("toml", ["", "[spoc]\nentry_points = false\n"])
def test_entry_points_are_not_discovered_unless_asked(
    project: Project, installed_plugin_distribution: str, toml: str
) -> None:
    project.toml(toml)
    assert load_config(project.base_dir, environ={}).plugins == {}


@pytest.mark.parametrize("value", ['"yes"', "1", "[true]"])
def test_entry_points_must_be_a_boolean(project: Project, value: str) -> None:
    path = project.toml(f"[spoc]\nentry_points = {value}\n")
    with pytest.raises(ConfigurationError) as caught:
        load_config(project.base_dir, environ={})
    assert caught.value.id == "spoc.E022"
    assert caught.value.check.file == path
    assert caught.value.check.key == "spoc.entry_points"
