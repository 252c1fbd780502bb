"""Property tests: no password a user can write reaches any output, on every path.

Passwords are drawn from every printable character (quotes, ``<``, ``>``, whitespace,
``@``, ``/``, ``%``...), written raw or percent-encoded, in well-formed and mistyped
URLs, embedded in arbitrary text; each path is driven for real: ``redact_text``,
``create_app``'s error, a hook's exception through the lifespan (the
``lifespan.startup.failed`` message a server receives), and ``spoc-asgi check`` /
``plugins`` in text and ``--json``.
"""

from __future__ import annotations

import itertools
import string
import tempfile
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spoc_asgi import create_app
from spoc_asgi.cli import main
from spoc_asgi.errors import SpocError
from spoc_asgi.redaction import redact_text
from tests.conftest import Project
from tests.test_lifespan import serve_lifespan

_ALPHABET = string.ascii_letters + string.digits + string.punctuation + " \t" + "éß€"
_counter = itertools.count()

passwords = (
    st.text(alphabet=_ALPHABET, min_size=1, max_size=24)
    .map(lambda middle: f"Pw{middle}Qz")  # a marker that no other part of the text holds
    .filter(lambda password: "://" not in password)
)
schemes = st.sampled_from(["postgresql+asyncpg", "redis", "rediss", "mysql+aiomysql", "amqp"])
slashes = st.sampled_from(["://", ":/", ":///"])  # ":/" is the common typo
users = st.sampled_from(["", "user", "app.user-1"])
hosts = st.sampled_from(["db", "127.0.0.1:5432", "[::1]:6379", "cache.internal"])
paths = st.sampled_from(["", "/0", "/app?sslmode=require", "/db#x"])
frames = st.sampled_from(
    ["{}", "'{}'", '"{}"', "<{}>", "url {!r} is not usable", "cannot reach {}: refused", "{}\n"]
)
pairs = st.sampled_from(["token={}", "password={}", "api_key='{}'", "'secret': '{}'"])


@st.composite
def url_texts(draw: st.DrawFn) -> tuple[str, str]:
    password = draw(passwords)
    written = quote(password, safe="") if draw(st.booleans()) else password
    url = f"{draw(schemes)}{draw(slashes)}{draw(users)}:{written}@{draw(hosts)}{draw(paths)}"
    return draw(frames).format(url), password


def leaked(output: str, password: str) -> bool:
    return password in output or quote(password, safe="") in output


@given(url_texts())
@settings(max_examples=400, deadline=None)
def test_redact_text_masks_every_url_password(case: tuple[str, str]) -> None:
    text, password = case
    assert not leaked(redact_text(text), password)


@given(pairs, passwords.filter(lambda p: not any(c in p for c in " \t&;,)}]'\"\\")))
@settings(max_examples=200, deadline=None)
def test_redact_text_masks_secret_assignments(pair: str, password: str) -> None:
    assert password not in redact_text(f"failed: {pair.format(password)} while starting")


# -- the real paths ---------------------------------------------------------------------

PLUGINS = """
class Store:
    name = "store"

    def __init__(self, url):
        self.url = url

    def __repr__(self):
        return f"Store(url={self.url!r})"

    async def connect(self):
        raise ConnectionError(f"cannot reach {self.url}")

    async def disconnect(self):
        pass


class Quiet(Store):
    name = "quiet"

    async def connect(self):
        pass


class Broken(Store):
    name = "broken"

    def __init__(self, url):
        raise ValueError(f"bad url {url}")


class Failing:
    def __init__(self, url):
        self.url = url

    async def startup(self):
        raise RuntimeError(f"hook could not reach {self.url} (token={self.url})")

    async def shutdown(self):
        pass
"""


@pytest.fixture
def plugins(project: Project) -> str:
    return project.module(PLUGINS)


def fresh_project(root: Path, settings_text: str) -> Path:
    base = root / f"p{next(_counter)}"
    (base / "config").mkdir(parents=True)
    (base / "config" / "settings.py").write_text(textwrap.dedent(settings_text))
    return base


PATH_SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@given(url_texts())
@PATH_SETTINGS
def test_create_app_errors_mask_the_password(plugins: str, case: tuple[str, str]) -> None:
    text, password = case
    with tempfile.TemporaryDirectory() as root:
        base = fresh_project(
            Path(root),
            f"PLUGINS = {{'cache': ['{plugins}.Broken']}}\n"
            f"CACHE_CONFIG = {{'broken': {{'url': {text!r}}}}}\n",
        )
        with pytest.raises(SpocError) as raised:
            create_app(base)
    assert not leaked(str(raised.value), password)


@given(url_texts())
@PATH_SETTINGS
async def test_lifespan_failures_mask_the_password(plugins: str, case: tuple[str, str]) -> None:
    text, password = case
    for settings_text in (
        f"PLUGINS = {{'hooks': ['{plugins}.Failing']}}\n"
        f"HOOKS_CONFIG = {{'Failing': {{'url': {text!r}}}}}\n",
        f"PLUGINS = {{'database': ['{plugins}.Store']}}\n"
        f"DATABASE_CONFIG = {{'store': {{'url': {text!r}}}}}\n",
    ):
        with tempfile.TemporaryDirectory() as root:
            app = create_app(fresh_project(Path(root), settings_text))
            sent, error = await serve_lifespan(app)
        assert [message["type"] for message in sent] == ["lifespan.startup.failed"]
        assert not leaked(sent[0]["message"], password)
        assert error is not None and not leaked(str(error), password)


@given(url_texts(), st.sampled_from([["check"], ["plugins"]]), st.booleans())
@PATH_SETTINGS
def test_cli_output_masks_the_password(
    plugins: str,
    capsys: pytest.CaptureFixture[str],
    case: tuple[str, str],
    command: list[str],
    as_json: bool,
) -> None:
    text, password = case
    with tempfile.TemporaryDirectory() as root:
        base = fresh_project(
            Path(root),
            f"PLUGINS = {{'database': ['{plugins}.Store'], 'cache': ['{plugins}.Broken']}}\n"
            f"DATABASE_CONFIG = {{'store': {{'url': {text!r}}}}}\n"
            f"CACHE_CONFIG = {{'broken': {{'url': {text!r}}}}}\n",
        )
        argv: list[Any] = [*command, *(["--json"] if as_json else []), "--base-dir", str(base)]
        main(argv)
    out, err = capsys.readouterr()
    assert out + err
    assert not leaked(out + err, password)


@given(passwords, st.booleans())
@settings(max_examples=150, deadline=None)
def test_backend_reprs_mask_the_password(password: str, encode: bool) -> None:
    from spoc_asgi.backends.redis import RedisCache
    from spoc_asgi.backends.sql import SQLDatabase

    written = quote(password, safe="") if encode else password
    shown = []
    for make in (
        lambda: RedisCache(url=f"redis://user:{written}@cache:6379/0"),
        lambda: SQLDatabase(url=f"postgresql+asyncpg://app:{written}@db:5432/app"),
    ):
        try:
            shown.append(repr(make()))
        except Exception as exc:  # a URL the backend refuses: its error is output too
            shown.append(str(exc))
    assert not any(leaked(text, password) for text in shown)


@given(url_texts())
@PATH_SETTINGS
async def test_the_startup_summary_masks_the_password(
    plugins: str, caplog: pytest.LogCaptureFixture, case: tuple[str, str]
) -> None:
    text, password = case
    caplog.clear()
    with tempfile.TemporaryDirectory() as root, caplog.at_level("INFO", logger="spoc_asgi"):
        base = fresh_project(
            Path(root),
            f"PLUGINS = {{'database': ['{plugins}.Quiet']}}\n"
            f"DATABASE_CONFIG = {{'quiet': {{'url': {text!r}}}}}\n",
        )
        sent, _ = await serve_lifespan(create_app(base))
    assert sent[0]["type"] == "lifespan.startup.complete"
    assert "started" in caplog.text and "Store(url=" in caplog.text
    assert not leaked(caplog.text, password)
