"""No input produces a traceback: a generated corpus of hostile configurations.

Each case is a spoc.toml and/or a settings.py built from pieces a user could write,
well-formed and not: every ``[spoc]`` key with values of every type, deep and cyclic
values, bad URIs (trailing newlines included), plugins that print, raise, or whose
properties raise. On each, ``create_app`` must succeed or raise a ``SpocError``,
``spoc-asgi check`` must exit 0 or 1, and ``spoc-asgi plugins --json`` must print
valid JSON on stdout. The corpus is seeded, so a failure names a case that replays.
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import pytest

from spoc_asgi import create_app
from spoc_asgi.cli import main
from spoc_asgi.errors import SpocError
from tests.conftest import Project

CASES = 520
SEED = 20261202

PLUGINS = """
import sys

print("plugin module printing on import")
print("and on stderr", file=sys.stderr)


class Mw:
    def __init__(self, app, **options):
        self.app = app

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


class RaisingProperty:
    @property
    def name(self):
        raise RuntimeError("property raised")

    async def connect(self):
        pass

    async def disconnect(self):
        pass


class Anything:
    def __getattr__(self, name):
        raise RuntimeError(f"no {name}")


anything = Anything()


class Strict:
    def __init__(self, app, size: int = 1):
        if not isinstance(size, int):
            raise TypeError("size must be an int")
        self.app = app

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


def startup():
    pass


async def agen(app):
    yield


NOT_A_PLUGIN = 3
"""

URIS = [
    "{mod}.Mw",
    "{mod}.RaisingProperty",
    "{mod}.anything",
    "{mod}.Strict",
    "{mod}.startup",
    "{mod}.agen",
    "{mod}.NOT_A_PLUGIN",
    "{mod}.missing",
    "spoc_fuzz_no_such_module.x",
    "os.path\n",
    " os.path",
    "os..path",
    "",
    "1abc.x",
    "os.path:",
    "starlette.middleware.gzip.GZipMiddleware",
    "é.ü",
]
GROUPS = ["middleware", "hooks", "routes", "database", "cache", "validators", "x-y", ""]


def deep_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_table(depth: int) -> str:
    return "{a = " * depth + "1" + "}" * depth


def toml_value(rng: random.Random) -> str:
    choices = [
        lambda: str(rng.randint(-(10**30), 10**30)),
        lambda: "9" * rng.choice([5, 40, 5000]),
        lambda: rng.choice(["0", "-1", "1.5", "inf", "nan", "-0.0", "1e400"]),
        lambda: rng.choice(["true", "false"]),
        lambda: json.dumps(rng.choice(["production", "development", "x", "", "10MB", "\n"])),
        lambda: deep_array(rng.choice([2, 50, 300, 500, 2000])),
        lambda: deep_table(rng.choice([2, 50, 300, 600])),
        lambda: "[" + ", ".join(json.dumps(rng.choice(URIS)) for _ in range(3)) + "]",
        lambda: "1979-05-27T07:32:00Z",
        lambda: '"""multi\nline"""',
        lambda: "{}",
        lambda: "[1, 'a', [true]]",
    ]
    return rng.choice(choices)()


def toml_text(rng: random.Random, mod: str) -> str:
    lines = ["[spoc]"]
    for key in rng.sample(
        ["mode", "debug", "hook_timeout", "max_body_size", "entry_points", "silenced_checks",
         "modee", "x", "plugins", "config"],
        rng.randint(0, 4),
    ):  # fmt: skip
        lines.append(f"{key} = {toml_value(rng)}")
    if rng.random() < 0.7:
        lines.append("[spoc.plugins]")
        for group in rng.sample(GROUPS, rng.randint(1, 3)):
            uris = [json.dumps(rng.choice(URIS).format(mod=mod)) for _ in range(rng.randint(0, 4))]
            value = f"[{', '.join(uris)}]" if rng.random() < 0.85 else toml_value(rng)
            lines.append(f"{json.dumps(group)} = {value}")
    if rng.random() < 0.5:
        group = rng.choice(GROUPS[:5])
        lines.append(f"[spoc.config.{json.dumps(group)}.{json.dumps(rng.choice(['Mw', 'x']))}]")
        lines.append(f"size = {toml_value(rng)}")
    if rng.random() < 0.05:
        lines.append(rng.choice(["[spoc", "= 1", "a = ", "\x00", "[[spoc.plugins]]"]))
    return "\n".join(lines) + "\n"


SETTINGS_VALUES = [
    "cyclic",
    "deep",
    "3",
    "None",
    "'a string'",
    "{1: 2}",
    "object()",
    "float('nan')",
    "[1, 2, 3]",
    "{'token': 'S3cr3tValue', 'url': 'redis://:S3cr3tValue@h/0'}",
]


def settings_text(rng: random.Random, mod: str) -> str:
    lines = [
        "cyclic = []",
        "cyclic.append(cyclic)",
        "deep = {}",
        "for _ in range(3000):",
        "    deep = {'k': deep}",
    ]
    group = rng.choice(GROUPS[:6])
    uris = [rng.choice(URIS).format(mod=mod) for _ in range(rng.randint(0, 3))]
    plugins = repr({group: uris}) if rng.random() < 0.85 else rng.choice(SETTINGS_VALUES)
    lines.append(f"PLUGINS = {plugins}")
    name = rng.choice(["Mw", "Strict", "x", "RaisingProperty"])
    lines.append(
        f"{group.upper()}_CONFIG = {{{name!r}: {{'size': {rng.choice(SETTINGS_VALUES)}}}}}"
        if rng.random() < 0.8
        else f"{group.upper()}_CONFIG = {rng.choice(SETTINGS_VALUES)}"
    )
    if rng.random() < 0.1:
        lines.append(rng.choice(["INSTALLED_APPS = 3", "INSTALLED_APPS = ['nope_app']", "1/0"]))
    return "\n".join(lines) + "\n"


def corpus(mod: str) -> list[tuple[str | None, str | None]]:
    rng = random.Random(SEED)
    cases: list[tuple[str | None, str | None]] = []
    for _ in range(CASES):
        kind = rng.random()
        toml = toml_text(rng, mod) if kind < 0.8 else None
        settings = settings_text(rng, mod) if kind > 0.5 else None
        cases.append((toml, settings))
    return cases


@pytest.mark.slow
def test_no_configuration_produces_a_traceback(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    mod = project.module(PLUGINS)
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as root:
        for number, (toml, settings) in enumerate(corpus(mod)):
            base = Path(root) / f"case{number}"
            (base / "config").mkdir(parents=True)
            if toml is not None:
                (base / "config" / "spoc.toml").write_text(toml, encoding="utf-8")
            if settings is not None:
                (base / "config" / "settings.py").write_text(settings, encoding="utf-8")
            problem = run_case(base, capsys)
            if problem:
                failures.append(
                    f"case {number}: {problem}\n  toml={toml!r}\n  settings={settings!r}"
                )
    assert not failures, f"{len(failures)} of {CASES} cases failed:\n" + "\n".join(failures[:5])


def run_case(base: Path, capsys: pytest.CaptureFixture[str]) -> str | None:
    try:
        create_app(base)
    except SpocError:
        pass
    except BaseException as exc:  # the point of the test: anything else is a bug
        return f"create_app raised {type(exc).__name__}: {exc}"
    for argv in (["check"], ["plugins", "--json"], ["check", "--json"]):
        try:
            code = main([*argv, "--base-dir", str(base)])
        except BaseException as exc:
            return f"{' '.join(argv)} raised {type(exc).__name__}: {exc}"
        out, _ = capsys.readouterr()
        if code not in (0, 1):
            return f"{' '.join(argv)} exited {code}"
        if "--json" in argv:
            try:
                json.loads(out)
            except ValueError as exc:
                return f"{' '.join(argv)} printed invalid JSON ({exc}): {out[:200]!r}"
        if "S3cr3tValue" in out:
            return f"{' '.join(argv)} printed a secret"
    return None
