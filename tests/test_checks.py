"""The check catalogue: every id can be triggered, and every message says where and why."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from spoc_asgi import ConfigurationError, Framework, PluginImportError, SpocError, create_app
from spoc_asgi.checks import CATALOGUE, CheckMessage, Level, Reporter
from tests.conftest import Project

# Plugin objects of every wrong (and one right) shape; "{mod}" in a case is this module.
PLUGINS = """
NOT_A_PLUGIN = 42

class NoConnect:
    pass

class Database:
    def __init__(self):
        pass
    def connect(self):
        pass
    def disconnect(self):
        pass
"""


@dataclass(frozen=True)
class Case:
    id: str
    toml: str = ""
    settings: str = ""
    file: str | None = None  # "toml", "settings" or None: the file the message must name
    key: str | None = None
    uri: str | None = None  # "{mod}..." allowed
    app: bool = False  # raised when the app is built, not when the Framework loads
    broken: str | None = None  # source of a module "{broken}" that fails to import
    line: int | None = None  # the line the message must name
    says: str | None = None  # text the message must hold: the suggestion, for near misses
    settings_at: str = "config/settings.py"


CASES = [
    Case("spoc.E001", toml="[spoc\nmode = 1\n", file="toml"),
    Case("spoc.E002", toml="spoc = 3\n", file="toml", key="spoc"),
    Case("spoc.E003", toml='[spoc]\nplugins = "x"\n', file="toml", key="spoc.plugins"),
    Case(
        "spoc.E004",
        toml='[spoc.plugins]\nmiddleware = "pkg.mod.attr"\n',
        file="toml",
        key="spoc.plugins.middleware",
    ),
    Case(
        "spoc.E005",
        toml='[spoc.plugins]\nmiddleware = ["not a uri!"]\n',
        file="toml",
        key="spoc.plugins.middleware",
        uri="not a uri!",
    ),
    Case("spoc.E006", toml='[spoc]\nmode = "prod"\n', file="toml", key="spoc.mode"),
    Case("spoc.E007", toml='[spoc]\ndebug = "yes"\n', file="toml", key="spoc.debug"),
    Case("spoc.E008", settings="raise RuntimeError('settings broke')\n", file="settings"),
    Case("spoc.E009", settings='PLUGINS = ["pkg.mod.attr"]\n', file="settings", key="PLUGINS"),
    Case(
        "spoc.E010",
        settings='PLUGINS = {"middleware": "pkg.mod.attr"}\n',
        file="settings",
        key="PLUGINS['middleware']",
    ),
    Case("spoc.E011", toml="[spoc]\nhook_timeout = 0\n", file="toml", key="spoc.hook_timeout"),
    Case(
        "spoc.E012",
        settings='PLUGINS = {"cache": ["{mod}.Database"]}\nCACHE_CONFIG = ["redis"]\n',
        file="settings",
        key="CACHE_CONFIG",
    ),
    Case(
        "spoc.E013",
        toml='[spoc.plugins]\nvalidators = ["spoc_no_such_module.check"]\n',
        file="toml",
        key="validators",
        uri="spoc_no_such_module.check",
    ),
    Case(
        "spoc.E014",
        settings='PLUGINS = {"validators": ["{broken}.check"]}\n',
        file="settings",
        key="validators",
        uri="{broken}.check",
        broken="import spoc_missing_dependency_xyz\n",
    ),
    Case(
        "spoc.E015",
        settings='PLUGINS = {"validators": ["{mod}.missing"]}\n',
        file="settings",
        key="validators",
        uri="{mod}.missing",
    ),
    Case(
        "spoc.E016",
        settings='PLUGINS = {"middleware": ["{mod}.NOT_A_PLUGIN"]}\n',
        file="settings",
        key="middleware",
        uri="{mod}.NOT_A_PLUGIN",
        app=True,
    ),
    Case(
        "spoc.E017",
        toml='[spoc.plugins]\nhooks = ["{mod}.NOT_A_PLUGIN"]\n',
        file="toml",
        key="hooks",
        uri="{mod}.NOT_A_PLUGIN",
        app=True,
    ),
    Case(
        "spoc.E018",
        settings='PLUGINS = {"cache": ["{mod}.NoConnect"]}\n',
        file="settings",
        key="cache",
        uri="{mod}.NoConnect",
        app=True,
    ),
    Case(
        "spoc.E019",
        settings='PLUGINS = {"routes": ["{mod}.NOT_A_PLUGIN"]}\n',
        file="settings",
        key="routes",
        uri="{mod}.NOT_A_PLUGIN",
        app=True,
    ),
    Case("spoc.E020", settings='INSTALLED_APPS = "shop"\n', file="settings", key="INSTALLED_APPS"),
    Case(
        "spoc.E021",
        settings='PLUGINS = {"database": ["{mod}.Database"]}\n'
        'DATABASE_CONFIG = {"Database": {"bogus": 1}}\n',
        file="settings",
        key="database",
        uri="{mod}.Database",
        app=True,
    ),
    Case("spoc.E022", toml='[spoc]\nentry_points = "yes"\n', file="toml", key="spoc.entry_points"),
    Case(
        "spoc.E023",
        toml="[spoc]\nhook_timout = 5\n",
        file="toml",
        key="spoc.hook_timout",
        line=2,
        says="did you mean 'hook_timeout'?",
    ),
    Case(
        "spoc.E024",
        toml='[spoc.plugins]\nvalidators = []\nhook = ["{mod}.NOT_A_PLUGIN"]\n',
        file="toml",
        key="spoc.plugins.hook",
        line=3,
        says="did you mean 'hooks'?",
    ),
    Case(
        "spoc.E025",
        settings='PLUGINS = {"database": ["{mod}.Database"]}\n\nDATABSE_CONFIG = {}\n',
        file="settings",
        key="DATABSE_CONFIG",
        line=3,
        says="did you mean DATABASE_CONFIG?",
    ),
    Case(
        "spoc.E026",
        toml='[spoc.plugins]\ncache = ["{mod}.Database"]\n\n[spoc.config.cache.Databse]\n',
        file="toml",
        key="cache",
        uri="Databse",
        line=4,
        says="did you mean 'Database'?",
    ),
    Case(
        "spoc.E027",
        toml='[spoc.plugins]\ncache = ["{mod}.Database", "{mod}:Database"]\n'
        "[spoc.config.cache.Database]\n",
        file="toml",
        key="cache",
        uri="Database",
        line=3,
        says="match 2 plugins of group 'cache'",
    ),
    Case(
        "spoc.E028",
        broken=None,
        file="conf_settings",
        says="conf/settings.py looks like a settings module",
    ),
    Case(
        "spoc.E029",
        toml='[spoc]\nsilenced_checks = [\n  "spoc.W001",\n  "spoc.W01",\n]\n',
        file="toml",
        key="spoc.silenced_checks",
        line=4,
        says="did you mean 'spoc.W001'?",
    ),
    Case(
        "spoc.E030",
        settings="from spoc_asgi.checks import CheckSpec, register\n"
        "@register(CheckSpec('case.W001', 'a case', 'no hint'))\n"
        "def check(framework):\n    return [42]\n",
        says="returned 42, not a CheckMessage with one of its ids ['case.W001']",
    ),
    Case(
        "spoc.W004",
        toml='[spoc]\nmode = "development"\nowner = "team-a"\n',
        file="toml",
        key="spoc.owner",
        line=3,
        says="'owner' in [spoc] is not a key spoc_asgi reads",
    ),
    Case(
        "spoc.W005",
        settings="PLUGINS = {}\n",
        settings_at="settings.py",
        file="conf_settings",
        says="SPOC would read conf/settings.py",
    ),
    Case(
        "spoc.W006",
        toml='[spoc]\nmode = "production"\n[spoc.plugins]\ndatabase = ["{mod}.Database"]\n',
        file="toml",
        key="database",
        uri="{mod}.Database",
        line=4,
        says="has no options",
    ),
    Case(
        "spoc.W001",
        settings='PLUGINS = {"cache": ["{mod}.Database"]}\nCACHE_CONFIG = {"other": {}}\n',
        file="settings",
        key="cache",
        uri="other",
    ),
    Case(
        "spoc.W002",
        toml='[spoc.plugins]\nformatters = ["{mod}.NOT_A_PLUGIN"]\n',
        settings='PLUGINS = {"formatters": ["{mod}.NOT_A_PLUGIN"]}\n',
        file="settings",
        key="PLUGINS['formatters']",
        uri="{mod}.NOT_A_PLUGIN",
    ),
    Case(
        "spoc.W003",
        toml='[spoc]\nmode = "production"\ndebug = true\n',
        file="toml",
        key="spoc.debug",
    ),
]


def case_id(case: Case) -> str:
    return case.id


def write_case(project: Project, case: Case) -> dict[str, str | Path]:
    names: dict[str, str | Path] = {"mod": project.module(PLUGINS)}
    names["broken"] = project.module(case.broken) if case.broken else ""
    if case.toml:
        names["toml"] = project.toml(case.toml.replace("{mod}", str(names["mod"])))
    if case.settings:
        text = case.settings.replace("{mod}", str(names["mod"]))
        text = text.replace("{broken}", str(names["broken"]))
        names["settings"] = project.settings(text, where=case.settings_at)
    if case.file == "conf_settings":  # a settings module where SPOC looks and spoc_asgi does not
        path = project.base_dir / "conf" / "settings.py"
        path.parent.mkdir()
        path.write_text('PLUGINS = {"hooks": []}\n', encoding="utf-8")
        names["conf_settings"] = path
    return names


def assert_located(check: CheckMessage, case: Case, names: dict[str, str | Path]) -> None:
    """The file and line the case names, and the suggestion it expects."""
    if case.file is not None:
        assert check.file == names[case.file]
    if case.line is not None:
        assert check.line == case.line
        assert check.where(Path(str(names[case.file])).parent.parent).endswith(
            f":{case.line}" + (f" [{check.key}]" if check.key else "")
        )
    if case.says is not None:
        assert case.says in check.msg


def expected_uri(case: Case, names: dict[str, str | Path]) -> str | None:
    if case.uri is None:
        return None
    return case.uri.replace("{mod}", str(names["mod"])).replace("{broken}", str(names["broken"]))


def test_every_check_id_has_a_case() -> None:
    assert sorted(case.id for case in CASES) == sorted(CATALOGUE)


@pytest.mark.parametrize("case", [c for c in CASES if c.id.startswith("spoc.E")], ids=case_id)
def test_each_error_is_raised_with_file_key_uri_and_hint(project: Project, case: Case) -> None:
    names = write_case(project, case)
    with pytest.raises(ConfigurationError) as caught:
        if case.app:
            create_app(project.base_dir)
        else:
            Framework(project.base_dir, environ={})
    error = caught.value
    assert isinstance(error, SpocError)
    assert error.id == case.id
    assert error.check.level is Level.ERROR
    check = error.check
    text = str(error)
    if case.file is not None:
        assert check.file == names[case.file]
        assert text.startswith(str(names[case.file]))
    if case.key is not None:
        assert check.key == case.key
        assert f"[{case.key}]" in text
    uri = expected_uri(case, names)
    if uri is not None:
        assert check.uri == uri
        assert repr(uri) in text
    assert text.endswith(f"({case.id}) HINT: {CATALOGUE[case.id].hint}")
    assert_located(check, case, names)
    import_ids = {"spoc.E013", "spoc.E014", "spoc.E015"}
    assert isinstance(error, PluginImportError) == (case.id in import_ids)


@pytest.mark.parametrize("case", [c for c in CASES if c.app], ids=case_id)
def test_shape_errors_belong_to_the_app_layer(project: Project, case: Case) -> None:
    # Any object is a valid plugin for the Framework; only the app asks for a shape.
    write_case(project, case)
    reporter = Reporter(strict=False)
    Framework(project.base_dir, reporter=reporter, environ={})
    assert reporter.messages == []


@pytest.mark.parametrize("case", [c for c in CASES if c.id.startswith("spoc.W")], ids=case_id)
def test_each_warning_is_reported_without_raising(project: Project, case: Case) -> None:
    names = write_case(project, case)
    reporter = Reporter(strict=True)
    Framework(project.base_dir, reporter=reporter, environ={})
    [warning] = reporter.messages
    assert warning.id == case.id
    assert warning.level is Level.WARNING
    assert reporter.errors == []
    if case.file is not None:
        assert warning.file == names[case.file]
    if case.key is not None:
        assert warning.key == case.key
    assert warning.uri == expected_uri(case, names)
    assert str(warning).endswith(f"HINT: {warning.hint}")
    assert_located(warning, case, names)


def test_toml_syntax_errors_give_line_and_column(project: Project) -> None:
    path = project.toml('[spoc]\nmode = "staging"\ndebug = yes\n')
    with pytest.raises(ConfigurationError) as caught:
        Framework(project.base_dir, environ={})
    assert caught.value.id == "spoc.E001"
    assert caught.value.check.line == 3
    assert "line 3, column 9" in str(caught.value)
    assert str(caught.value).startswith(f"{path}:3: ")
    assert caught.value.__cause__ is not None


def test_a_settings_error_gives_the_line_and_chains_the_exception(project: Project) -> None:
    path = project.settings("import os\n\nPLUGINS = {}\nraise KeyError('DATABASE_URL')\n")
    with pytest.raises(ConfigurationError) as caught:
        Framework(project.base_dir, environ={})
    assert caught.value.id == "spoc.E008"
    assert caught.value.check.line == 4
    assert str(caught.value).startswith(f"{path}:4: ")
    assert "KeyError" in str(caught.value)
    assert isinstance(caught.value.__cause__, KeyError)


# -- a collecting reporter gathers everything ---------------------------------------------


def test_a_collecting_reporter_gathers_every_problem(project: Project) -> None:
    mod = project.module(PLUGINS)
    broken = project.module("raise RuntimeError('broken')\n")
    project.toml(
        f"""
        [spoc]
        mode = "prod"
        debug = "yes"
        hook_timeout = -1
        entry_points = 1

        [spoc.plugins]
        middleware = "{mod}.NOT_A_PLUGIN"
        validators = ["not a uri!", 3, "spoc_no_such_module.x", "{broken}.x", "{mod}.nope"]
        formatters = ["{mod}.NOT_A_PLUGIN", "{mod}.NOT_A_PLUGIN"]
        """
    )
    project.settings(
        f"""
        PLUGINS = {{"hooks": "x.y", 5: ["a.b"], "cache": ["{mod}.Database"]}}
        CACHE_CONFIG = {{"Database": 3}}
        INSTALLED_APPS = [1]
        """
    )
    reporter = Reporter(strict=False)
    framework = Framework(project.base_dir, reporter=reporter, environ={})
    ids = [message.id for message in reporter.messages]
    assert sorted(set(ids)) == [
        "spoc.E004",
        "spoc.E005",
        "spoc.E006",
        "spoc.E007",
        "spoc.E010",
        "spoc.E011",
        "spoc.E012",
        "spoc.E013",
        "spoc.E014",
        "spoc.E015",
        "spoc.E020",
        "spoc.E022",
        "spoc.W002",
    ]
    assert ids.count("spoc.E005") == 2
    assert ids.count("spoc.E010") == 2
    assert len(reporter.errors) == len(ids) - 1
    # What could be loaded was loaded, with safe defaults for the rest.
    assert list(framework.plugins["formatters"]) == [f"{mod}.NOT_A_PLUGIN"]
    assert framework.plugins["validators"] == {}
    assert (framework.config.mode, framework.config.debug) == ("development", False)
    assert framework.config.hook_timeout == 30.0


def test_a_strict_reporter_raises_on_the_first_error(project: Project) -> None:
    project.toml('[spoc]\nmode = "prod"\ndebug = "yes"\n')
    reporter = Reporter(strict=True)
    with pytest.raises(ConfigurationError) as caught:
        Framework(project.base_dir, reporter=reporter, environ={})
    assert caught.value.id == "spoc.E006"
    assert [m.id for m in reporter.messages] == ["spoc.E006"]


def test_the_default_reporter_is_strict(project: Project) -> None:
    project.toml('[spoc]\nmode = "prod"\n')
    with pytest.raises(ConfigurationError):
        Framework(project.base_dir, environ={})


# -- the catalogue and CheckMessage ---------------------------------------------------------


def test_catalogue_ids_titles_and_hints() -> None:
    for check_id, spec in CATALOGUE.items():
        assert re.fullmatch(r"spoc\.[EW]\d{3}", check_id)
        assert spec.id == check_id
        assert spec.title and spec.hint
        assert spec.level is (Level.WARNING if check_id[5] == "W" else Level.ERROR)


def test_reporter_classifies_import_problems() -> None:
    cause = ValueError("original")
    for check_id, error_class in (
        ("spoc.E013", PluginImportError),
        ("spoc.E014", PluginImportError),
        ("spoc.E015", PluginImportError),
        ("spoc.E005", ConfigurationError),
    ):
        with pytest.raises(ConfigurationError) as caught:
            Reporter(strict=True).error(CheckMessage(check_id, "m"), cause)
        assert type(caught.value) is error_class
        assert caught.value.__cause__ is cause


def test_message_location_forms() -> None:
    path = Path("/srv/app/config/spoc.toml")
    assert CheckMessage("spoc.E006", "m").location == "<no file>"
    assert CheckMessage("spoc.E006", "m", file=path).location == str(path)
    assert CheckMessage("spoc.E006", "m", file=path, line=3).location == f"{path}:3"
    full = CheckMessage("spoc.E006", "m", file=path, line=3, key="spoc.mode")
    assert full.location == f"{path}:3 [spoc.mode]"
    assert str(full) == f"{path}:3 [spoc.mode]: m (spoc.E006) HINT: {full.hint}"


def test_message_strings_are_redacted() -> None:
    message = CheckMessage(
        "spoc.E021",
        "plugin rejected url='postgresql://app:hunter2@db/prod' and password=hunter2",
        file=Path("/srv/settings.py"),
    )
    assert "hunter2" not in str(message)
    assert "postgresql://app:***@db/prod" in str(message)
    assert "hunter2" not in str(ConfigurationError(message))


def test_a_secret_in_a_bad_value_is_not_printed(project: Project) -> None:
    project.settings('DATABASE_CONFIG = 1\nPLUGINS = {"database": {"password": "hunter2"}}\n')
    with pytest.raises(ConfigurationError) as caught:
        Framework(project.base_dir, environ={})
    assert caught.value.id == "spoc.E010"
    assert "hunter2" not in str(caught.value)


def test_a_secret_in_bad_options_is_not_printed(project: Project) -> None:
    mod = project.module(PLUGINS)
    project.settings(
        f'PLUGINS = {{"database": ["{mod}.Database"]}}\n'
        'DATABASE_CONFIG = [{"url": "postgresql://app:hunter2@db/prod", "token": "s3cr3t"}]\n'
    )
    with pytest.raises(ConfigurationError) as caught:
        Framework(project.base_dir, environ={})
    assert caught.value.id == "spoc.E012"
    assert "hunter2" not in str(caught.value)
    assert "s3cr3t" not in str(caught.value)
    assert "hunter2" not in caught.value.check.msg
