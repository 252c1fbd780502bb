"""No secrets in output: URL passwords and secret-named keys are masked."""

from __future__ import annotations

import copy
from collections import OrderedDict, namedtuple
from pathlib import Path

import pytest

from spoc_asgi import ConfigurationError, Framework
from spoc_asgi.checks import CheckMessage
from spoc_asgi.redaction import MASK, is_secret_key, redact, redact_text
from tests.conftest import Project

# -- URLs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "postgresql+asyncpg://app:hunter2@db:5432/prod",
            "postgresql+asyncpg://app:***@db:5432/prod",
        ),
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://default:hunter2@cache/0?ssl=1", "rediss://default:***@cache/0?ssl=1"),
        ("mysql://app:p@ss:w0rd@db/prod", "mysql://app:***@db/prod"),  # a raw '@' in it
        ("amqp://guest:hunter2@rabbit", "amqp://guest:***@rabbit"),
        (
            "postgresql://app:hunter2@h1:5432,h2:5432/prod",
            "postgresql://app:***@h1:5432,h2:5432/prod",
        ),
    ],
)
def test_url_passwords_are_masked(text: str, expected: str) -> None:
    assert redact_text(text) == expected
    assert "hunter2" not in redact_text(text)


@pytest.mark.parametrize(
    "text",
    [
        "redis://localhost:6379/0",
        "postgresql://app@db/prod",
        "sqlite+aiosqlite:///./app.db",
        "https://example.com:8443/path?q=1",
        "a plain sentence, with no secret in it: none at all",
        "user@example.com",
    ],
)
def test_text_without_secrets_is_unchanged(text: str) -> None:
    assert redact_text(text) == text


def test_several_urls_in_one_text() -> None:
    text = (
        "primary postgresql://app:first-secret@db1/prod, "
        "replica postgresql://ro:second-secret@db2/prod,"
        "redis://:third-secret@cache/0 and 'amqp://q:fourth-secret@mq'"
    )
    redacted = redact_text(text)
    for secret in ("first-secret", "second-secret", "third-secret", "fourth-secret"):
        assert secret not in redacted
    for kept in ("app:***@db1/prod", "ro:***@db2/prod", "redis://:***@cache/0", "q:***@mq"):
        assert kept in redacted


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("https://api.example.com/v1?token=s3cr3t&page=2", "s3cr3t"),
        ("https://api.example.com/v1?page=2&access_token=s3cr3t", "s3cr3t"),
        ("https://api.example.com/v1?api_key=s3cr3t", "s3cr3t"),
        ("https://h/login?password=s3cr3t#top", "s3cr3t"),
        ("host=db port=5432 password=s3cr3t dbname=prod", "s3cr3t"),
        ("RedisCache(url='redis://h/0', password='s3cr3t')", "s3cr3t"),
        ('Client(api_key="s3cr3t", timeout=3)', "s3cr3t"),
        ("{'url': 'redis://h/0', 'password': 's3cr3t'}", "s3cr3t"),
        ("{'client_secret': \"it's s3cr3t\"}", "s3cr3t"),
        ("{'token': 123456}", "123456"),
    ],
)
def test_secret_named_values_in_text_are_masked(text: str, secret: str) -> None:
    redacted = redact_text(text)
    assert secret not in redacted
    assert MASK in redacted


def test_masking_keeps_the_rest_of_the_text() -> None:
    assert redact_text("https://h/v1?token=abc&page=2") == "https://h/v1?token=***&page=2"
    assert redact_text("{'password': 'x', 'user': 'app'}") == "{'password': '***', 'user': 'app'}"
    assert redact_text("host=db password=x dbname=prod") == "host=db password=*** dbname=prod"


# -- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "PASSWORD",
        "db_password",
        "passwd",
        "secret",
        "client_secret",
        "SECRET_KEY",
        "token",
        "access_token",
        "api_key",
        "apiKey",
        "API-KEY",
        "credentials",
        "private_key",
    ],
)
def test_secret_named_keys(key: str) -> None:
    assert is_secret_key(key)
    assert redact({key: "s3cr3t", "name": "kept"}) == {key: MASK, "name": "kept"}


@pytest.mark.parametrize("key", ["url", "name", "host", "user", "timeout", "max_size", 3, None])
def test_other_keys_are_not_secret(key: object) -> None:
    assert not is_secret_key(key)


def test_secret_keys_are_masked_whatever_their_value() -> None:
    assert redact({"token": None, "secret": 3, "password": ["a"]}) == {
        "token": MASK,
        "secret": MASK,
        "password": MASK,
    }


def test_nested_values_are_redacted() -> None:
    options = {
        "cache": {
            "redis": {"url": "redis://:pw1@h/0", "prefix": "app"},
            "backups": [
                {"url": "redis://u:pw2@b1/0", "token": "pw3"},
                ("redis://u:pw4@b2/0", {"api_key": "pw5"}),
            ],
        },
        "databases": OrderedDict(primary={"dsn": "host=h password=pw6"}),
        "hosts": {"s3://key:pw7@bucket"},
        3: "no secret",
    }
    original = copy.deepcopy(options)
    redacted = redact(options)
    text = repr(redacted)
    for secret in ("pw1", "pw2", "pw3", "pw4", "pw5", "pw6", "pw7"):
        assert secret not in text
    assert redacted["cache"]["redis"] == {"url": "redis://:***@h/0", "prefix": "app"}
    assert redacted["cache"]["backups"][1][0] == "redis://u:***@b2/0"
    assert isinstance(redacted["cache"]["backups"][1], tuple)
    assert redacted[3] == "no secret"
    assert options == original  # a copy: the input is untouched


def test_a_namedtuple_keeps_its_type() -> None:
    Server = namedtuple("Server", ["url", "weight"])
    redacted = redact([Server("redis://u:pw@h/0", 2)])
    assert redacted == [Server("redis://u:***@h/0", 2)]
    assert type(redacted[0]) is Server


@pytest.mark.parametrize("value", [None, 3, 2.5, True, b"redis://u:pw@h", Path("/tmp")])
def test_other_values_pass_through(value: object) -> None:
    assert redact(value) is value


# -- where redaction is applied ---------------------------------------------------------------


def test_check_message_strings_are_redacted() -> None:
    message = CheckMessage(
        "spoc.E021",
        "plugin 'app.db' rejected its options: url='postgresql://app:hunter2@db/prod'",
        file=Path("/srv/app/config/settings.py"),
        key="database",
    )
    assert "hunter2" not in str(message)
    assert "postgresql://app:***@db/prod" in str(message)
    assert "hunter2" not in str(ConfigurationError(message))


def test_configuration_errors_never_print_a_configured_secret(project: Project) -> None:
    project.toml('[spoc]\nmode = "postgresql://app:hunter2@db/prod"\n')
    with pytest.raises(ConfigurationError) as caught:
        Framework(project.base_dir, environ={})
    assert caught.value.id == "spoc.E006"
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in caught.value.check.msg


def test_a_bad_options_table_does_not_print_its_secrets(project: Project) -> None:
    mod = project.module("class Db:\n    pass\n")
    project.settings(
        f'PLUGINS = {{"database": ["{mod}.Db"]}}\n'
        'DATABASE_CONFIG = {"Db": ["postgresql://app:hunter2@db/prod", {"password": "pw"}]}\n'
    )
    with pytest.raises(ConfigurationError) as caught:
        Framework(project.base_dir, environ={})
    assert caught.value.id == "spoc.E012"
    assert "hunter2" not in str(caught.value)
    assert "'pw'" not in str(caught.value)


@pytest.mark.parametrize("password", ["pa/ss", "s3cr#t", "wh?t", "a@b"])
def test_url_passwords_with_url_delimiters_are_masked(password: str) -> None:
    # SQLAlchemy's make_url accepts these; the redacted text must not show any of them.
    redacted = redact_text(f"postgresql+asyncpg://app:{password}@db/app")
    assert redacted == "postgresql+asyncpg://app:***@db/app"


# -- what the URL mask must not swallow ------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "GET http://api:8080/x returned 500; contact ops@example.com",
        "GET http://api:8080 returned 500; contact ops@example.com",
        "url 'http://api:8080' failed, mail ops@example.com",
        "see <http://api:8080> or ops@example.com",
        "http://api:8080?q=1 ops@example.com",
        "http://api:8080#top ops@example.com",
        "redis://[::1]:6379/0 is down, mail ops@example.com",
        "postgresql://app@db:5432/prod and ops@example.com",
    ],
)
def test_a_port_is_not_a_password(text: str) -> None:
    assert redact_text(text) == text


def test_the_mask_stops_at_a_line_break() -> None:
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "tests/test_app.py", line 12, in test_health\n'
        '    response = client.get("http://localhost:8000/health")\n'
        '  File "app/views.py", line 3, in <module>\n'
        "    @functools.wraps(view)\n"
        "ValueError: boom\n"
    )
    assert redact_text(traceback) == traceback
    # Without a port, only the line break ends the password run.
    text = "fetching http://host:path-like\nthen @decorator\n"
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("password", "after"),
    [
        ("123456", "@db/app"),  # digits only, then the host: a password
        ("8080", "@db:5432/app"),
        ("12:34", "@db/app"),
        ("1@2", "@db/app"),
        ("p@ss:w0rd", "@db/app"),
        ("a:b@c", "@db/app"),
        ("%40%3A%2F", "@db/app"),  # percent-encoded "@:/"
        ("12%2F34", "@db/app"),
        ("pa ss", "@db/app"),
        ("'<x>'", "@db/app"),
    ],
)
def test_passwords_of_any_shape_are_still_masked(password: str, after: str) -> None:
    for scheme in ("postgresql+asyncpg://", "redis://", "postgresql+asyncpg:/"):
        for user in ("app", ""):
            url = f"{scheme}{user}:{password}{after}"
            assert redact_text(url) == f"{scheme}{user}:{MASK}{after}"
            assert redact_text(f"cannot reach {url}: refused\nnext line @here") == (
                f"cannot reach {scheme}{user}:{MASK}{after}: refused\nnext line @here"
            )
