"""Configuration that cannot fail silently: each mistake a new user makes is reported with
its id, the file:line it is at, and the name that was meant (docs/checks.md)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from spoc_asgi import ConfigurationError, Framework, create_app
from spoc_asgi.checks import CheckMessage, CheckSpec, Reporter, register, unregister
from spoc_asgi.cli import main
from spoc_asgi.config import SPOC_KEYS
from tests.conftest import Project

GZIP = "starlette.middleware.gzip.GZipMiddleware"


def check(project: Project, capsys: pytest.CaptureFixture[str], *options: str) -> dict[str, Any]:
    """``spoc-asgi check --json``: its data, and its exit status under ``"code"``."""
    code = main(["check", "--json", "--base-dir", str(project.base_dir), *options])
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    data["code"] = code
    return data


def only(data: dict[str, Any]) -> dict[str, Any]:
    [problem] = data["problems"]
    return problem


# -- one test per row of the table ------------------------------------------------


@pytest.mark.parametrize(
    ("written", "meant"), [("middlware", "middleware"), ("hook", "hooks"), ("databse", "database")]
)
def test_a_group_named_almost_like_a_built_in_one(
    project: Project, capsys: pytest.CaptureFixture[str], written: str, meant: str
) -> None:
    project.toml(f'[spoc]\nmode = "development"\n\n[spoc.plugins]\n{written} = ["{GZIP}"]\n')

    data = check(project, capsys)

    problem = only(data)
    assert (data["code"], problem["id"]) == (1, "spoc.E024")
    assert problem["location"] == f"config/spoc.toml:5 [spoc.plugins.{written}]"
    assert f"did you mean {meant!r}?" in problem["message"]


def test_a_group_named_almost_like_a_built_in_one_in_settings(project: Project) -> None:
    path = project.settings(f'X = 1\nPLUGINS = {{\n    "Routes": ["{GZIP}"],\n}}\n')
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    assert caught.value.id == "spoc.E024"
    assert (caught.value.check.file, caught.value.check.line) == (path, 3)
    assert "did you mean 'routes'?" in str(caught.value)


def test_spoc_plugin_instead_of_spoc_plugins(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.toml(f'# plugins\n[spoc.plugin]\nmiddleware = ["{GZIP}"]\n')

    problem = only(check(project, capsys))

    assert problem["id"] == "spoc.E023"
    assert problem["location"] == "config/spoc.toml:2 [spoc.plugin]"
    assert "did you mean [spoc.plugins]?" in problem["message"]


def test_misspelt_mode_and_hook_timeout(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.toml('[spoc]\nmdoe = "production"\nhook_timout = 5\n')

    data = check(project, capsys)

    assert [(p["id"], p["location"]) for p in data["problems"]] == [
        ("spoc.E023", "config/spoc.toml:2 [spoc.mdoe]"),
        ("spoc.E023", "config/spoc.toml:3 [spoc.hook_timout]"),
    ]
    assert "did you mean 'mode'?" in data["problems"][0]["message"]
    assert "did you mean 'hook_timeout'?" in data["problems"][1]["message"]
    with pytest.raises(ConfigurationError, match=r"spoc\.E023"):
        create_app(project.base_dir)  # never silently development mode with 30 s


def test_a_misspelt_group_config_setting_in_production(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.toml('[spoc]\nmode = "production"\n')
    project.settings(
        'PLUGINS = {"database": ["spoc_asgi.backends.sql.SQLDatabase"]}\n'
        'DATABSE_CONFIG = {"sql": {"url": "postgresql+asyncpg://app@db/app"}}\n'
    )

    data = check(project, capsys)

    assert [(p["id"], p["location"]) for p in data["problems"]] == [
        ("spoc.E025", "config/settings.py:2 [DATABSE_CONFIG]"),
        ("spoc.W006", "config/settings.py:1 [database]"),
    ]
    assert "did you mean DATABASE_CONFIG?" in data["problems"][0]["message"]
    assert "<base_dir>/spoc.sqlite3" in data["problems"][1]["message"]


def test_an_option_table_for_a_misspelt_plugin(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.toml(
        f"""
        [spoc.plugins]
        middleware = ["{GZIP}"]

        [spoc.config.middleware.GZipMiddlware]
        minimum_size = 500
        """
    )

    problem = only(check(project, capsys))

    assert problem["id"] == "spoc.E026"
    assert problem["location"] == "config/spoc.toml:4 [middleware]"
    assert "did you mean 'GZipMiddleware'?" in problem["message"]


def test_an_option_table_for_a_misspelt_group(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.toml(
        f'[spoc.plugins]\nmiddleware = ["{GZIP}"]\n\n[spoc.config.middlewares.GZipMiddleware]\n'
    )

    problem = only(check(project, capsys))

    assert problem["id"] == "spoc.E026"
    assert problem["location"] == "config/spoc.toml:4 [spoc.config.middlewares]"
    assert "did you mean [spoc.config.middleware]?" in problem["message"]


def test_an_option_table_matching_nothing_is_a_warning_with_its_line(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.toml(f'[spoc.plugins]\nmiddleware = ["{GZIP}"]\n[spoc.config.middleware.cors]\n')

    data = check(project, capsys)

    problem = only(data)
    assert (data["code"], problem["id"]) == (0, "spoc.W001")
    assert problem["location"] == "config/spoc.toml:3 [middleware]"


@pytest.mark.parametrize(
    "location", ["conf/settings.py", "config/config.py", "config/settings/__init__.py"]
)
def test_settings_where_spoc_looks_and_spoc_asgi_does_not(
    project: Project, capsys: pytest.CaptureFixture[str], location: str
) -> None:
    project.settings(f'PLUGINS = {{"middleware": ["{GZIP}"]}}\n', where=location)

    data = check(project, capsys)

    problem = only(data)
    assert (data["code"], problem["id"]) == (1, "spoc.E028")
    assert problem["location"] == location
    assert "PLUGINS and options are not loaded" in problem["message"]


def test_a_config_module_of_the_projects_own_is_not_taken_for_settings(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.settings("DEBUG_LEVEL = 3\nTIMEOUT_CONFIGURED = True\n", where="config.py")
    assert check(project, capsys)["problems"] == []


def test_an_empty_config_package_is_not_taken_for_settings(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.toml("[spoc]\n")
    (project.base_dir / "config" / "__init__.py").write_text("", encoding="utf-8")
    assert check(project, capsys)["problems"] == []


def test_production_on_the_default_sqlite_file(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.toml(
        '[spoc]\nmode = "production"\n\n[spoc.plugins]\n'
        'database = ["spoc_asgi.backends.sql.SQLDatabase"]\n\n'
        "[spoc.config.database.sql]\necho = false\n"
    )

    data = check(project, capsys)

    problem = only(data)
    assert (data["code"], problem["id"]) == (0, "spoc.W006")
    assert problem["location"] == "config/spoc.toml:5 [database]"
    assert "no url, so it uses the SQLite file <base_dir>/spoc.sqlite3" in problem["message"]
    assert check(project, capsys, "--fail-level", "warning")["code"] == 1


def test_production_with_a_database_url_is_quiet(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.toml(
        '[spoc]\nmode = "production"\n[spoc.plugins]\n'
        'database = ["spoc_asgi.backends.sql.SQLDatabase"]\n'
        '[spoc.config.database.sql]\nurl = "sqlite+aiosqlite:///data/app.sqlite3"\n'
    )
    assert check(project, capsys)["problems"] == []


def test_short_name_options_matching_several_plugins(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.toml(
        "[spoc.plugins]\n"
        'cache = ["spoc_asgi.backends.memory.MemoryCache",\n'
        '  "spoc_asgi.backends.memory:MemoryCache"]\n'
        "[spoc.config.cache.memory]\nmax_size = 10\n"
    )

    problem = only(check(project, capsys))

    assert problem["id"] == "spoc.E027"
    assert problem["location"] == "config/spoc.toml:4 [cache]"
    assert "match 2 plugins of group 'cache'" in problem["message"]


def test_an_unknown_key_far_from_any_is_a_warning(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.toml('[spoc]\napps = { production = ["shop"] }\nowner = "team-a"\n')

    data = check(project, capsys)

    assert data["code"] == 0
    assert [(p["id"], p["location"]) for p in data["problems"]] == [
        ("spoc.W004", "config/spoc.toml:2 [spoc.apps]"),
        ("spoc.W004", "config/spoc.toml:3 [spoc.owner]"),
    ]
    assert "spoc_asgi does not load apps" in data["problems"][0]["message"]
    framework = Framework(project.base_dir)  # warnings only: it builds
    assert framework.config.project["owner"] == "team-a"


def test_a_declared_sub_table_is_checked_key_by_key(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # How a module adds a [spoc] table of its own: one line per key in SPOC_KEYS.
    from spoc_asgi.config import SpocKey

    monkeypatch.setitem(SPOC_KEYS, "limits.max_body_size", SpocKey("limits.max_body_size", "b"))
    project.toml("[spoc.limits]\nmax_body_sise = 10\n")

    problem = only(check(project, capsys))

    assert problem["id"] == "spoc.E023"
    assert problem["location"] == "config/spoc.toml:2 [spoc.limits.max_body_sise]"
    assert "did you mean 'max_body_size'?" in problem["message"]


# -- failing CI on warnings, silencing on purpose -------------------------------------------


def test_fail_level_warning_fails_on_warnings_only_when_asked(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.toml('[spoc]\nowner = "team-a"\n')
    assert check(project, capsys)["code"] == 0
    assert check(project, capsys, "--fail-level", "warning")["code"] == 1
    assert main(["check", "--base-dir", str(project.base_dir), "--fail-level", "error"]) == 0
    assert "WARNING spoc.W004" in capsys.readouterr().out


def test_run_refuses_to_start_on_warnings_with_fail_level_warning(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.toml('[spoc]\nowner = "team-a"\n')
    code = main(["run", "--base-dir", str(project.base_dir), "--fail-level", "warning"])
    assert code == 1
    assert "not starting: fix the problems above first" in capsys.readouterr().err


def test_silenced_checks_in_toml_and_settings(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.toml(
        '[spoc]\nowner = "team-a"\nsilenced_checks = ["spoc.W004"]\n'
        f'[spoc.plugins]\nhook = ["{GZIP}"]\n'
    )
    project.settings('SILENCED_CHECKS = ["spoc.E024"]\n')

    data = check(project, capsys, "--fail-level", "warning")

    assert (data["code"], data["problems"]) == (0, [])
    reporter = Reporter(strict=True)
    framework = Framework(project.base_dir, reporter=reporter)  # E024 silenced: no raise
    assert sorted(m.id for m in reporter.silenced) == ["spoc.E024", "spoc.W004"]
    assert list(framework.plugins["hook"]) == [GZIP]


def test_an_error_that_cannot_be_silenced_stays(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.toml(
        '[spoc]\nsilenced_checks = ["spoc.E013"]\n'
        '[spoc.plugins]\nvalidators = ["spoc_no_such_module.check"]\n'
    )

    data = check(project, capsys)

    assert [(p["id"], p["location"]) for p in data["problems"]] == [
        ("spoc.E013", "config/spoc.toml:4 [validators]"),
        ("spoc.E029", "config/spoc.toml:2 [spoc.silenced_checks]"),
    ]
    assert "cannot be silenced" in data["problems"][1]["message"]


def test_silenced_checks_must_be_a_list_of_strings(project: Project) -> None:
    path = project.settings("SILENCED_CHECKS = 'spoc.W004'\n")
    with pytest.raises(ConfigurationError) as caught:
        Framework(project.base_dir)
    assert (caught.value.id, caught.value.check.file) == ("spoc.E029", path)


# -- checks of a third-party plugin -----------------------------------------------------------

TIMING_PLUGIN = {
    "__init__": "from . import checks  # registers the package's checks on import\n",
    "middleware": textwrap.dedent(
        """
        class TimingMiddleware:
            def __init__(self, app, threshold_ms=None):
                self.app, self.threshold_ms = app, threshold_ms

            async def __call__(self, scope, receive, send):
                await self.app(scope, receive, send)
        """
    ),
    "checks": textwrap.dedent(
        """
        from spoc_asgi.checks import CheckMessage, CheckSpec, register

        NO_THRESHOLD = CheckSpec("{pkg}.W001", "no threshold", "Set threshold_ms.")
        ZERO = CheckSpec("{pkg}.E001", "a zero threshold", "Use a positive threshold_ms.")

        @register(NO_THRESHOLD, ZERO)
        def check_timing(framework):
            for uri in framework.plugins.get("middleware", {{}}):
                if not uri.startswith("{pkg}."):
                    continue
                options = framework.options_for("middleware", uri)
                source = framework.source_of("middleware", uri)
                if "threshold_ms" not in options:
                    yield CheckMessage.at("{pkg}.W001", f"{{uri}}: no threshold", source, uri=uri)
                elif options["threshold_ms"] == 0:
                    yield CheckMessage.at("{pkg}.E001", f"{{uri}}: zero", source, uri=uri)
        """
    ),
}


@pytest.fixture
def timing_plugin(project: Project) -> Any:
    pkg = f"acme_timing_{id(project)}"
    for module, source in TIMING_PLUGIN.items():
        (project.base_dir / pkg).mkdir(exist_ok=True)
        text = source.replace("{pkg}", pkg).replace("{{", "{").replace("}}", "}")
        (project.base_dir / pkg / f"{module}.py").write_text(text, encoding="utf-8")
    project.modules.append(pkg)
    yield pkg
    import sys

    if f"{pkg}.checks" in sys.modules:
        unregister(sys.modules[f"{pkg}.checks"].check_timing)


def test_a_plugin_contributes_its_own_checks(
    project: Project, capsys: pytest.CaptureFixture[str], timing_plugin: str
) -> None:
    project.toml(
        f'[spoc.plugins]\nmiddleware = [\n  "{timing_plugin}.middleware.TimingMiddleware",\n]\n'
    )

    data = check(project, capsys, "--fail-level", "warning")

    problem = only(data)
    assert (data["code"], problem["id"], problem["level"]) == (
        1,
        f"{timing_plugin}.W001",
        "warning",
    )
    assert problem["location"] == "config/spoc.toml:3"
    assert problem["hint"] == "Set threshold_ms."


def test_a_plugins_error_stops_the_app_and_can_be_silenced(
    project: Project, timing_plugin: str
) -> None:
    uri = f"{timing_plugin}.middleware.TimingMiddleware"
    project.toml(
        f'[spoc.plugins]\nmiddleware = ["{uri}"]\n'
        "[spoc.config.middleware.TimingMiddleware]\nthreshold_ms = 0\n"
    )
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    assert caught.value.id == f"{timing_plugin}.E001"
    assert str(caught.value).endswith("HINT: Use a positive threshold_ms.")

    # Errors of a plugin's own checks are its to declare silenceable; this one is not.
    project.settings(f'SILENCED_CHECKS = ["{timing_plugin}.E001"]\n')
    reporter = Reporter(strict=False)
    Framework(project.base_dir, reporter=reporter)
    assert sorted(m.id for m in reporter.messages) == sorted(["spoc.E029", f"{timing_plugin}.E001"])


def test_a_check_runs_only_for_projects_that_use_its_package(
    project: Project, timing_plugin: str, tmp_path: Path
) -> None:
    project.toml(f'[spoc.plugins]\nmiddleware = ["{timing_plugin}.middleware.TimingMiddleware"]\n')
    Framework(project.base_dir, reporter=Reporter(strict=False))  # registers the check
    other = tmp_path / "other"
    (other / "config").mkdir(parents=True)
    (other / "config" / "spoc.toml").write_text(f'[spoc.plugins]\nmiddleware = ["{GZIP}"]\n')
    reporter = Reporter(strict=False)
    Framework(other, reporter=reporter)
    assert reporter.messages == []


def test_register_refuses_spoc_ids_and_bad_ids() -> None:
    for bad in ("spoc.W100", "acme.X001", "acme.W1", "Acme.W001"):
        with pytest.raises(Exception, match="check id"):
            register(CheckSpec(bad, "t", "h"))


@pytest.mark.parametrize(
    ("check_id", "returned", "expected"),
    [
        (
            "mine.W001",
            "[CheckMessage('spoc.W004', 'not my id')]",
            "not a CheckMessage with one of its ids ['mine.W001']",
        ),
        (
            "mine.W002",
            "CheckMessage('mine.W002', 'one, not a list')",
            "returned one CheckMessage, not an iterable of them",
        ),
    ],
)
def test_a_check_returning_the_wrong_thing_is_e030(
    project: Project, check_id: str, returned: str, expected: str
) -> None:
    project.settings(
        "from spoc_asgi.checks import CheckMessage, CheckSpec, register\n"
        f"@register(CheckSpec({check_id!r}, 't', 'h'))\n"
        "def mine(framework):\n"
        f"    return {returned}\n"
    )
    with pytest.raises(ConfigurationError) as caught:
        Framework(project.base_dir)
    assert caught.value.id == "spoc.E030"
    assert expected in str(caught.value)


def test_check_message_at_names_an_entry_point() -> None:
    from spoc_asgi.config import PluginSource

    source = PluginSource(None, distribution="acme", entry_point="hooks.x")
    message = CheckMessage.at("spoc.E015", "m", source, key="hooks")
    assert message.location == "entry point 'hooks.x' of distribution 'acme' [hooks]"


def test_options_for_a_built_in_group_whose_plugins_are_under_a_misspelt_one(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.toml(
        f'[spoc.plugins]\nmiddlware = ["{GZIP}"]\n[spoc.config.middleware.GZipMiddleware]\n'
    )

    data = check(project, capsys)

    assert [(p["id"], p["location"]) for p in data["problems"]] == [
        ("spoc.E024", "config/spoc.toml:2 [spoc.plugins.middlware]"),
        ("spoc.E026", "config/spoc.toml:3 [spoc.config.middleware]"),
    ]
    assert "listed under the misspelt 'middlware'" in data["problems"][1]["message"]
