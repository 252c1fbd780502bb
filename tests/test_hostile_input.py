"""Inputs that used to end in a traceback, each now a SpocError with an id (or clean JSON)."""

from __future__ import annotations

import inspect
import json

import pytest

from spoc_asgi import create_app
from spoc_asgi.cli import main
from spoc_asgi.errors import ConfigurationError
from spoc_asgi.importer import is_valid_uri
from tests.conftest import Project

MODULE = """
class Mw:
    def __init__(self, app, **options):
        self.app = app

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


class Odd:
    def __getattr__(self, name):
        raise RuntimeError(f"cannot look up {name}")


odd = Odd()

print("printed on import")
"""


def test_deeply_nested_toml_is_e001(project: Project) -> None:
    project.toml("[spoc]\nx = " + "[" * 500 + "]" * 500 + "\n")
    with pytest.raises(ConfigurationError) as raised:
        create_app(project.base_dir)
    assert raised.value.id == "spoc.E001"
    assert "nested too deeply" in str(raised.value)


def test_a_plugin_raising_while_inspected_names_its_uri(project: Project) -> None:
    module = project.module(MODULE)
    project.toml(f'[spoc.plugins]\nhooks = ["{module}.odd"]\n')
    with pytest.raises(ConfigurationError) as raised:
        create_app(project.base_dir)
    assert raised.value.id == "spoc.E021"
    assert f"{module}.odd" in str(raised.value)
    assert "RuntimeError: cannot look up" in str(raised.value)
    assert isinstance(raised.value.__cause__, RuntimeError)


@pytest.mark.parametrize("uri", ["os.path\n", "os.path\r\n", "\nos.path"])
def test_a_uri_with_a_newline_is_not_a_uri(uri: str) -> None:
    assert not is_valid_uri(uri)


def test_plugins_json_survives_printing_plugins_and_cyclic_options(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    module = project.module(MODULE)
    project.settings(
        f"""
        cyclic = []
        cyclic.append(cyclic)
        deep = {{}}
        for _ in range(5000):
            deep = {{"k": deep}}
        PLUGINS = {{"middleware": ["{module}.Mw"]}}
        MIDDLEWARE_CONFIG = {{"Mw": {{"cyclic": cyclic, "deep": deep}}}}
        """
    )
    code = main(["plugins", "--json", "--base-dir", str(project.base_dir)])
    out, err = capsys.readouterr()
    assert code == 0
    data = json.loads(out)  # stdout is the report only
    assert "printed on import" in err
    (group,) = data["groups"]
    (entry,) = group["plugins"]
    assert entry["options"]["cyclic"] == ["<circular reference>"]
    assert "<nested too deeply>" in json.dumps(entry["options"]["deep"])


def test_plugins_json_describes_a_plugin_whose_attribute_hooks_raise(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Python 3.13's inspect looks up __partialmethod__ on whatever it is asked about
    # (functools._unwrap_partialmethod), so Odd's __getattr__ raises inside inspect;
    # the same lookup is made here on every Python.
    real = inspect.isasyncgenfunction

    def as_on_python_313(obj: object) -> bool:
        getattr(obj, "__partialmethod__", None)
        return real(obj)

    monkeypatch.setattr(inspect, "isasyncgenfunction", as_on_python_313)
    module = project.module(MODULE)
    project.toml(f'[spoc.plugins]\nvalidators = ["{module}.odd"]\n')
    code = main(["plugins", "--json", "--base-dir", str(project.base_dir)])
    out, _ = capsys.readouterr()
    assert code == 0
    (group,) = json.loads(out)["groups"]
    (entry,) = group["plugins"]
    assert entry["kind"] == "instance"
    assert entry["object"] == f"{module}.Odd"
