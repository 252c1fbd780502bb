"""docker-compose.yml and the Dockerfile agree with the example app.

Docker does not run here, so these tests read the files: every environment
variable the example's settings read is set for the app, the URLs name the
compose services on the ports they expose, the app listens where it is published,
and the app waits for healthy services.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy.engine import make_url

from spoc_asgi import create_app

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_DIR = REPO_ROOT / "example_app"
SETTINGS = EXAMPLE_DIR / "config" / "settings.py"

_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}``, for an
    environment where nothing is set: a required variable gets a stand-in value."""

    def replace(match: re.Match[str]) -> str:
        op = match.group("op") or ""
        if op.endswith("-"):
            return match.group("arg")
        if op.endswith("?"):
            return f"required-{match.group('name').lower()}"
        return ""

    return _VARIABLE.sub(replace, value)


def interpolated(node: Any) -> Any:
    if isinstance(node, str):
        return interpolate(node)
    if isinstance(node, dict):
        return {key: interpolated(value) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolated(item) for item in node]
    return node


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return interpolated(document)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def app_environment(services: dict[str, Any]) -> dict[str, str]:
    environment = services["app"]["environment"]
    if isinstance(environment, list):  # the KEY=value list form
        environment = dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def environment_reads(path: Path) -> set[str]:
    """Names read with ``os.environ.get``, ``os.environ[...]`` or ``os.getenv`` in a file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and node.args:
            function = ast.unparse(node.func)
            if function in {"os.environ.get", "os.getenv", "environ.get", "getenv"}:
                names.add(ast.literal_eval(node.args[0]))
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in {
            "os.environ",
            "environ",
        }:
            names.add(ast.literal_eval(node.slice))
    return names


def container_ports(service: dict[str, Any]) -> set[int]:
    """Ports a service listens on inside the network: ``expose`` and the target of ``ports``."""
    ports = {int(str(port).split("/")[0]) for port in service.get("expose", [])}
    for mapping in service.get("ports", []):
        if isinstance(mapping, dict):
            ports.add(int(mapping["target"]))
        else:
            ports.add(int(str(mapping).split("/")[0].rsplit(":", 1)[-1]))
    return ports


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def uvicorn_command(services: dict[str, Any]) -> list[str]:
    """The app's command: compose's ``command`` if set, else the Dockerfile's CMD."""
    command = services["app"].get("command")
    if command is None:
        (cmd,) = [rest for keyword, rest in dockerfile_instructions() if keyword == "CMD"]
        command = json.loads(cmd)  # the exec form: signals reach uvicorn, not a shell
    return command if isinstance(command, list) else shlex.split(command)


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


# -- the tests --------------------------------------------------------------------------


def test_every_variable_the_settings_read_is_set_for_the_app(
    app_environment: dict[str, str],
) -> None:
    read = environment_reads(SETTINGS)
    assert {"DATABASE_URL", "REDIS_URL", "EXAMPLE_API_KEYS", "SPOC_MODE"} <= read
    assert read <= set(app_environment), f"not set for the app: {read - set(app_environment)}"
    assert app_environment["SPOC_MODE"] == "production"


def test_the_database_url_names_the_postgres_service(
    services: dict[str, Any], app_environment: dict[str, str]
) -> None:
    url = make_url(app_environment["DATABASE_URL"])
    assert url.drivername == "postgresql+asyncpg"
    assert url.host in services
    database = services[url.host]
    assert url.port in container_ports(database)
    postgres = database["environment"]
    assert (url.username, url.password, url.database) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )


def test_the_redis_url_names_the_redis_service(
    services: dict[str, Any], app_environment: dict[str, str]
) -> None:
    url = urlsplit(app_environment["REDIS_URL"])
    assert url.scheme == "redis"
    assert url.hostname in services
    assert url.port in container_ports(services[url.hostname])


def test_the_app_listens_where_it_is_published(services: dict[str, Any]) -> None:
    command = uvicorn_command(services)
    assert command[:2] == ["uvicorn", "example_app:app"]
    assert option(command, "--host") == "0.0.0.0"  # reachable from outside the container
    port = int(option(command, "--port"))
    assert container_ports(services["app"]) == {port}
    exposed = [rest for keyword, rest in dockerfile_instructions() if keyword == "EXPOSE"]
    assert exposed == [str(port)]
    health = " ".join(services["app"]["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/health" in health


def test_the_image_installs_the_package_with_every_extra() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert ("RUN", 'pip install ".[all]"') in instructions
    copied = " ".join(rest for keyword, rest in instructions if keyword == "COPY")
    for needed in ("pyproject.toml", "README.md", "spoc_asgi", "example_app"):
        assert needed in copied


def test_every_service_has_a_health_check(services: dict[str, Any]) -> None:
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        assert test, f"service {name!r} has no health check"


def test_the_app_waits_for_healthy_services(
    services: dict[str, Any], app_environment: dict[str, str]
) -> None:
    depends_on = services["app"]["depends_on"]
    assert isinstance(depends_on, dict), "the list form cannot wait for health"
    named = {
        make_url(app_environment["DATABASE_URL"]).host,
        urlsplit(app_environment["REDIS_URL"]).hostname,
    }
    assert set(depends_on) == named
    for name, condition in depends_on.items():
        assert condition == {"condition": "service_healthy"}, name


def test_the_app_builds_from_the_compose_environment(
    app_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in app_environment.items():
        monkeypatch.setenv(name, value)
    # Builds every backend with these options (a rejected one raises); connects nothing.
    app = create_app(EXAMPLE_DIR)
    framework = app.state.framework
    assert framework.config.mode == "production"
    assert list(framework.plugins["cache"]) == ["spoc_asgi.backends.redis.RedisCache"]
    cache = framework.options_for("cache", "spoc_asgi.backends.redis.RedisCache")
    assert (cache["url"], cache["on_error"]) == (app_environment["REDIS_URL"], "ignore")
    database = framework.options_for("database", "spoc_asgi.backends.sql.SQLDatabase")
    assert database["url"] == app_environment["DATABASE_URL"]
