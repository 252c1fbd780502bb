"""A corpus of malformed configurations: each is rejected with its check id, naming its file."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from spoc_asgi import ConfigurationError, Framework, PluginImportError
from spoc_asgi.checks import Reporter
from tests.conftest import Project

GOOD_MODULE = "class Plugin:\n    pass\n"
MODULES = {
    "mod": GOOD_MODULE,
    "missing_dep": "import spoc_missing_dependency_xyz\n",
    "syntax": "def broken(:\n",
    "raises": "raise RuntimeError('plugin broke')\n",
}


@dataclass(frozen=True)
class Bad:
    name: str
    id: str
    toml: str | bytes | None = None
    settings: str | None = None
    line: int | None = None

    @property
    def file(self) -> str:
        """The file the message must name: the one that holds the mistake."""
        if self.id in {"spoc.E009", "spoc.E010", "spoc.E008", "spoc.E020"}:
            return "settings"
        if self.settings is not None and self.toml is None:
            return "settings"
        return "toml"

    @property
    def error_class(self) -> type[ConfigurationError]:
        imports = {"spoc.E013", "spoc.E014", "spoc.E015"}
        return PluginImportError if self.id in imports else ConfigurationError


CORPUS = [
    # -- spoc.toml ------------------------------------------------------------------------
    Bad("toml: unclosed table header", "spoc.E001", toml="[spoc\nmode = 1\n", line=1),
    Bad("toml: value missing", "spoc.E001", toml='[spoc]\nmode = "x"\ndebug =\n', line=3),
    Bad("toml: bare word", "spoc.E001", toml="[spoc]\ndebug = yes\n", line=2),
    Bad("toml: key repeated", "spoc.E001", toml='[spoc]\nmode = "a"\nmode = "b"\n'),
    Bad("toml: not UTF-8", "spoc.E001", toml=b'[spoc]\nmode = "\xff\xfe"\n'),
    Bad("toml: integer too long", "spoc.E001", toml="[spoc]\nhook_timeout = " + "9" * 5000),
    Bad("toml: spoc is a number", "spoc.E002", toml="spoc = 3\n"),
    Bad("toml: spoc is a string", "spoc.E002", toml='spoc = "plugins"\n'),
    Bad("toml: spoc is an array", "spoc.E002", toml="spoc = [1, 2]\n"),
    Bad("toml: plugins is a string", "spoc.E003", toml='[spoc]\nplugins = "x"\n'),
    Bad("toml: plugins is an array", "spoc.E003", toml='[spoc]\nplugins = ["a.b"]\n'),
    Bad("toml: group is a string", "spoc.E004", toml='[spoc.plugins]\nmiddleware = "a.b"\n'),
    Bad("toml: group is a table", "spoc.E004", toml="[spoc.plugins.middleware]\ncors = 1\n"),
    Bad("toml: group is a number", "spoc.E004", toml="[spoc.plugins]\nhooks = 1\n"),
    Bad("toml: entry is a number", "spoc.E005", toml="[spoc.plugins]\nhooks = [1]\n"),
    Bad("toml: entry is a list", "spoc.E005", toml='[spoc.plugins]\nhooks = [["a.b"]]\n'),
    Bad("toml: entry is a table", "spoc.E005", toml='[spoc.plugins]\nhooks = [{a = "b"}]\n'),
    Bad(
        "toml: entry is not a URI",
        "spoc.E005",
        toml='[spoc.plugins]\nhooks = [\n  "not a uri!",\n]\n',
        line=3,
    ),
    Bad("toml: entry is empty", "spoc.E005", toml='[spoc.plugins]\nhooks = [""]\n'),
    Bad("toml: double dot", "spoc.E005", toml='[spoc.plugins]\nhooks = ["pkg..mod"]\n'),
    Bad("toml: two colons", "spoc.E005", toml='[spoc.plugins]\nhooks = ["a:b:c"]\n'),
    Bad("toml: path, not URI", "spoc.E005", toml='[spoc.plugins]\nhooks = ["app/hooks.py"]\n'),
    Bad("toml: unknown mode", "spoc.E006", toml='[spoc]\nmode = "prod"\n'),
    Bad("toml: mode is a number", "spoc.E006", toml="[spoc]\nmode = 1\n"),
    Bad("toml: mode is an array", "spoc.E006", toml='[spoc]\nmode = ["staging"]\n'),
    Bad("toml: debug is a string", "spoc.E007", toml='[spoc]\ndebug = "yes"\n'),
    Bad("toml: debug is a number", "spoc.E007", toml="[spoc]\ndebug = 1\n"),
    Bad("toml: hook_timeout zero", "spoc.E011", toml="[spoc]\nhook_timeout = 0\n"),
    Bad("toml: hook_timeout negative", "spoc.E011", toml="[spoc]\nhook_timeout = -5\n"),
    Bad("toml: hook_timeout a string", "spoc.E011", toml='[spoc]\nhook_timeout = "30"\n'),
    Bad("toml: hook_timeout infinite", "spoc.E011", toml="[spoc]\nhook_timeout = inf\n"),
    Bad("toml: hook_timeout huge", "spoc.E011", toml="[spoc]\nhook_timeout = " + "9" * 400),
    Bad("toml: config not a table", "spoc.E012", toml="[spoc]\nconfig = 3\n"),
    Bad(
        "toml: group config not a table",
        "spoc.E012",
        toml='[spoc]\nconfig = {cache = 3}\n[spoc.plugins]\ncache = ["{mod}.Plugin"]\n',
    ),
    Bad(
        "toml: plugin options not a table",
        "spoc.E012",
        toml='[spoc.plugins]\ncache = ["{mod}.Plugin"]\n[spoc.config.cache]\nPlugin = 3\n',
    ),
    Bad("toml: entry_points a string", "spoc.E022", toml='[spoc]\nentry_points = "yes"\n'),
    Bad("toml: entry_points a number", "spoc.E022", toml="[spoc]\nentry_points = 1\n"),
    Bad(
        "toml: missing module",
        "spoc.E013",
        toml='[spoc.plugins]\nvalidators = [\n  "spoc_no_such_module.x",\n]\n',
        line=3,
    ),
    Bad(
        "toml: module with a missing dependency",
        "spoc.E014",
        toml='[spoc.plugins]\nvalidators = ["{missing_dep}.check"]\n',
        line=2,
    ),
    Bad("toml: missing attribute", "spoc.E015", toml='[spoc.plugins]\nv = ["{mod}.Nope"]\n'),
    # -- settings.py ---------------------------------------------------------------------
    Bad("settings: raises", "spoc.E008", settings="X = 1\nraise RuntimeError('no')\n", line=2),
    Bad("settings: SyntaxError", "spoc.E008", settings="X = 1\nPLUGINS = {\n", line=2),
    Bad("settings: bad indentation", "spoc.E008", settings="X = 1\n  Y = 2\n", line=2),
    Bad("settings: missing import", "spoc.E008", settings="import spoc_missing_xyz\n", line=1),
    Bad("settings: env var unset", "spoc.E008", settings="import os\nX = os.environ['SPOC_NOPE']"),
    Bad("settings: sys.exit", "spoc.E008", settings="import sys\nsys.exit(2)\n", line=2),
    Bad("settings: PLUGINS a list", "spoc.E009", settings='PLUGINS = ["a.b"]\n'),
    Bad("settings: PLUGINS a string", "spoc.E009", settings='PLUGINS = "a.b"\n'),
    Bad("settings: PLUGINS a set", "spoc.E009", settings='PLUGINS = {"a.b"}\n'),
    Bad("settings: group a string", "spoc.E010", settings='PLUGINS = {"hooks": "a.b"}\n'),
    Bad("settings: group None", "spoc.E010", settings='PLUGINS = {"hooks": None}\n'),
    Bad("settings: group a dict", "spoc.E010", settings='PLUGINS = {"hooks": {"a": "b"}}\n'),
    Bad("settings: group name a number", "spoc.E010", settings='PLUGINS = {1: ["a.b"]}\n'),
    Bad("settings: group name empty", "spoc.E010", settings='PLUGINS = {"": ["a.b"]}\n'),
    Bad("settings: entry a number", "spoc.E005", settings='PLUGINS = {"hooks": [1]}\n'),
    Bad("settings: entry None", "spoc.E005", settings='PLUGINS = {"hooks": [None]}\n'),
    Bad("settings: entry a module", "spoc.E005", settings='import os\nPLUGINS = {"h": [os]}\n'),
    Bad("settings: entry not a URI", "spoc.E005", settings='PLUGINS = {"h": ["a b"]}\n'),
    Bad(
        "settings: entry an unprintable int",
        "spoc.E005",
        settings='PLUGINS = {"hooks": [10 ** 5000]}\n',
    ),
    Bad(
        "settings: entry with a broken repr",
        "spoc.E005",
        settings="class Odd:\n    def __repr__(self):\n        raise RuntimeError\n"
        'PLUGINS = {"hooks": [Odd()]}\n',
    ),
    Bad(
        "settings: options a list",
        "spoc.E012",
        settings='PLUGINS = {"cache": ["{mod}.Plugin"]}\nCACHE_CONFIG = ["x"]\n',
    ),
    Bad(
        "settings: options not dicts",
        "spoc.E012",
        settings='PLUGINS = {"cache": ["{mod}.Plugin"]}\nCACHE_CONFIG = {"Plugin": "x"}\n',
    ),
    Bad(
        "settings: options keyed by a number",
        "spoc.E012",
        settings='PLUGINS = {"cache": ["{mod}.Plugin"]}\nCACHE_CONFIG = {3: {}}\n',
    ),
    Bad("settings: INSTALLED_APPS a string", "spoc.E020", settings='INSTALLED_APPS = "shop"\n'),
    Bad("settings: INSTALLED_APPS numbers", "spoc.E020", settings="INSTALLED_APPS = [1, 2]\n"),
    Bad("settings: INSTALLED_APPS a dict", "spoc.E020", settings="INSTALLED_APPS = {'a': 1}\n"),
    Bad(
        "settings: missing module",
        "spoc.E013",
        settings='X = 1\nPLUGINS = {"v": ["spoc_no_such_module.x"]}\n',
        line=2,
    ),
    Bad(
        "settings: module with a missing dependency",
        "spoc.E014",
        settings='PLUGINS = {"v": ["{missing_dep}.check"]}\n',
    ),
    Bad("settings: module SyntaxError", "spoc.E014", settings='PLUGINS = {"v": ["{syntax}.x"]}'),
    Bad("settings: module raises", "spoc.E014", settings='PLUGINS = {"v": ["{raises}:x"]}\n'),
    Bad("settings: missing attribute", "spoc.E015", settings='PLUGINS = {"v": ["{mod}:Nope"]}'),
    # -- both files: the one at fault is named ----------------------------------------------
    Bad(
        "both: settings group not a list",
        "spoc.E010",
        toml='[spoc.plugins]\nhooks = ["a.b"]\n',
        settings='PLUGINS = {"hooks": "c.d"}\n',
    ),
    Bad(
        "both: toml mode wrong",
        "spoc.E006",
        toml='[spoc]\nmode = "live"\n',
        settings='PLUGINS = {"hooks": []}\n',
    ),
]


def write(project: Project, bad: Bad) -> dict[str, str]:
    names = {key: project.module(source) for key, source in MODULES.items()}
    paths: dict[str, str] = {}

    def fill(text: str) -> str:
        for key, name in names.items():
            text = text.replace("{" + key + "}", name)
        return text

    if isinstance(bad.toml, bytes):
        path = project.base_dir / "config" / "spoc.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bad.toml)
        paths["toml"] = str(path)
    elif bad.toml is not None:
        paths["toml"] = str(project.toml(fill(bad.toml)))
    if bad.settings is not None:
        paths["settings"] = str(project.settings(fill(bad.settings)))
    return paths


def test_the_corpus_is_large_and_distinct() -> None:
    assert len(CORPUS) >= 30
    assert len({bad.name for bad in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("bad", CORPUS, ids=lambda bad: bad.name)
def test_a_malformed_configuration_is_rejected(project: Project, bad: Bad) -> None:
    paths = write(project, bad)
    with pytest.raises(ConfigurationError) as caught:
        Framework(project.base_dir, environ={})
    error = caught.value
    assert type(error) is bad.error_class
    assert error.id == bad.id
    assert str(error.check.file) == paths[bad.file]
    assert paths[bad.file] in str(error)
    if bad.line is not None:
        assert error.check.line == bad.line
        assert f"{paths[bad.file]}:{bad.line}" in str(error)


@pytest.mark.parametrize("bad", CORPUS, ids=lambda bad: bad.name)
def test_a_collecting_reporter_reports_the_same_problem(project: Project, bad: Bad) -> None:
    write(project, bad)
    reporter = Reporter(strict=False)
    Framework(project.base_dir, reporter=reporter, environ={})
    assert bad.id in [message.id for message in reporter.errors]
