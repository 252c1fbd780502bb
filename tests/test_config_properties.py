"""Property: whatever a user writes, loading fails only with a configuration error.

Arbitrary TOML values under ``[spoc]`` and arbitrary Python values for ``PLUGINS``,
``<GROUP>_CONFIG`` and ``INSTALLED_APPS`` either load or raise
``ConfigurationError``/``PluginImportError``; a collecting reporter never raises.
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spoc_asgi import ConfigurationError, Framework
from spoc_asgi.checks import CATALOGUE, Reporter
from spoc_asgi.importer import is_valid_uri

# -- a small TOML writer (inline tables and arrays only, which is all TOML needs) -------


def toml_string(text: str) -> str:
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    raise TypeError(f"no TOML form for {value!r}")


def toml_document(spoc: dict[str, Any]) -> str:
    lines = ["[spoc]"]
    lines += [f"{toml_string(key)} = {toml_value(value)}" for key, value in spoc.items()]
    return "\n".join(lines) + "\n"


def test_toml_writer_round_trips() -> None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib

    value = {"a": [1, 'x\n"\\\x7f', {"b": -0.0}], "c": True, "d": 10**30}
    assert tomllib.loads(toml_document(value)) == {"spoc": value}


# -- strategies --------------------------------------------------------------------------

text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
# A string that is a valid URI is prefixed so it can never import a real module.
uri_like = st.one_of(
    text,
    st.from_regex(r"[a-z_]{1,6}(\.[a-z_]{1,6}){0,2}(:[A-Za-z_]{1,6})?", fullmatch=True),
).map(lambda s: f"spoc_nx_{s}" if is_valid_uri(s) else s)
huge_ints = st.integers(min_value=10**300, max_value=10**400)  # no float can hold these
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    huge_ints,
    st.floats(),
    uri_like,
    st.sampled_from(["", "."]),
)
group_names = st.one_of(st.sampled_from(["middleware", "hooks", "cache", "logging"]), text)


def nested(leaves: st.SearchStrategy[Any], keys: st.SearchStrategy[str]) -> Any:
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=3), st.dictionaries(keys, children, max_size=3)
        ),
        max_leaves=8,
    )


toml_scalars = scalars.filter(lambda v: v is not None)  # TOML has no null
toml_values = nested(toml_scalars, group_names)
python_values = nested(scalars, group_names)

spoc_tables = st.fixed_dictionaries(
    {},
    optional={
        "mode": st.one_of(st.sampled_from(["development", "staging", "production"]), toml_values),
        "debug": st.one_of(st.booleans(), toml_values),
        "hook_timeout": st.one_of(st.integers(), huge_ints, st.floats(), toml_values),
        "entry_points": st.one_of(st.just(False), toml_values),
        "plugins": st.one_of(
            st.dictionaries(group_names, st.lists(uri_like, max_size=3), max_size=3), toml_values
        ),
        "config": st.one_of(
            st.dictionaries(group_names, st.dictionaries(text, toml_values, max_size=2)),
            toml_values,
        ),
        "other": toml_values,
    },
)
settings_values = st.fixed_dictionaries(
    {},
    optional={
        "PLUGINS": st.one_of(
            st.dictionaries(group_names, st.lists(uri_like, max_size=3), max_size=3),
            python_values,
        ),
        "MIDDLEWARE_CONFIG": st.one_of(
            st.dictionaries(text, st.dictionaries(text, python_values, max_size=2)),
            python_values,
        ),
        "LOGGING_CONFIG": python_values,
        "INSTALLED_APPS": st.one_of(st.lists(text, max_size=3), python_values),
    },
)


def write_project(base: Path, spoc: dict[str, Any] | None, names: dict[str, Any]) -> None:
    (base / "config").mkdir()
    if spoc is not None:
        (base / "config" / "spoc.toml").write_text(toml_document(spoc), encoding="utf-8")
    source = "from math import inf, nan\n" + "".join(f"{k} = {v!r}\n" for k, v in names.items())
    (base / "config" / "settings.py").write_text(source, encoding="utf-8")


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(spoc=st.one_of(st.none(), spoc_tables), names=settings_values)
def test_loading_raises_only_configuration_errors(
    spoc: dict[str, Any] | None, names: dict[str, Any]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write_project(Path(tmp), spoc, names)
        try:
            framework = Framework(tmp, environ={})
        except ConfigurationError as exc:  # PluginImportError is a subclass
            assert exc.check.id in CATALOGUE
            if exc.check.file is not None:
                assert exc.check.file.is_relative_to(Path(tmp).resolve())
            return
        assert framework.config.mode in ("development", "staging", "production")
        assert isinstance(framework.config.debug, bool)
        assert framework.config.hook_timeout > 0


@PROPERTY
@given(spoc=st.one_of(st.none(), spoc_tables), names=settings_values)
def test_a_collecting_reporter_never_raises(
    spoc: dict[str, Any] | None, names: dict[str, Any]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write_project(Path(tmp), spoc, names)
        reporter = Reporter(strict=False)
        framework = Framework(tmp, reporter=reporter, environ={})
        assert all(message.id in CATALOGUE for message in reporter.messages)
        assert all(str(message) for message in reporter.messages)
        # Every group that loaded is an ordered mapping of URI -> object.
        assert all(isinstance(group, dict) for group in framework.plugins.values())
