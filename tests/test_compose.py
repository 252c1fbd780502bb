"""docker-compose.yml, the Dockerfile and deploy/k8s agree with the example app.

Docker and Kubernetes do not run here, so these tests read the files: every
environment variable the example's settings read is set for the app, the URLs name
the compose services on the ports they expose, the app listens where it is
published, the app waits for healthy services, the app scales behind the load
balancer, and every probe asks a path the app serves on a port it listens on.
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
    assert f"127.0.0.1:{port}/readyz" in health


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


# -- replicas behind a load balancer, and Kubernetes --------------------------------------

K8S_DIR = REPO_ROOT / "deploy" / "k8s"


def served_paths(environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> set[str]:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    app = create_app(EXAMPLE_DIR)
    return {getattr(route, "path", "") for route in app.routes}


def test_the_app_scales_behind_the_load_balancer(
    services: dict[str, Any], app_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = services["app"]
    # `--scale app=3` needs no fixed name and no host port on the app.
    assert "container_name" not in app
    assert not app.get("ports"), "a published host port cannot be shared by replicas"
    command = uvicorn_command(services)
    assert int(option(command, "--workers")) >= 2
    port = int(option(command, "--port"))

    labels = app["labels"]
    assert labels["traefik.enable"] == "true"
    assert int(labels["traefik.http.services.app.loadbalancer.server.port"]) == port
    probe = labels["traefik.http.services.app.loadbalancer.healthcheck.path"]
    assert probe == "/readyz"
    assert {"/readyz", "/livez"} <= served_paths(app_environment, monkeypatch)

    lb = services["lb"]
    entrypoint = labels["traefik.http.routers.app.entrypoints"]
    (address,) = [a for a in lb["command"] if a.startswith(f"--entrypoints.{entrypoint}.address=")]
    listens = int(address.rsplit(":", 1)[1])
    assert any(str(mapping).endswith(f":{listens}") for mapping in lb["ports"])
    assert "--providers.docker.exposedbydefault=false" in lb["command"]
    assert lb["depends_on"] == {"app": {"condition": "service_healthy"}}
    assert lb["volumes"] == ["/var/run/docker.sock:/var/run/docker.sock:ro"]


def test_the_grace_period_covers_drain_in_flight_requests_and_shutdown_hooks(
    services: dict[str, Any], app_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = services["app"]
    grace = float(app["stop_grace_period"].removesuffix("s"))
    drain = float(app_environment["SPOC_DRAIN_SECONDS"])
    in_flight = float(option(uvicorn_command(services), "--timeout-graceful-shutdown"))
    for name, value in app_environment.items():
        monkeypatch.setenv(name, value)
    hook_timeout = create_app(EXAMPLE_DIR).state.framework.config.hook_timeout
    assert drain > 0 and grace >= drain + in_flight + hook_timeout
    assert app_environment["SPOC_DEPLOYMENT_ID"]


def k8s_documents() -> list[dict[str, Any]]:
    documents = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        documents += [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    return documents


def k8s_object(kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in k8s_documents() if doc["kind"] == kind]
    return found


def test_the_kubernetes_probes_ask_paths_the_app_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = k8s_object("Deployment")
    assert deployment["apiVersion"] == "apps/v1"
    template = deployment["spec"]["template"]
    assert (
        deployment["spec"]["selector"]["matchLabels"].items()
        <= template["metadata"]["labels"].items()
    )
    (container,) = template["spec"]["containers"]
    command = container["command"]
    assert command[:2] == ["uvicorn", "example_app:app"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": int(option(command, "--port"))}

    environment = {item["name"]: item for item in container["env"]}
    assert environment["SPOC_DEPLOYMENT_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.labels['pod-template-hash']"
    )
    plain = {name: item["value"] for name, item in environment.items() if "value" in item}
    stand_ins = {name: "required" for name, item in environment.items() if "value" not in item}
    stand_ins.update(
        DATABASE_URL="postgresql+asyncpg://app:pw@db/app", REDIS_URL="redis://cache:6379/0"
    )
    paths = served_paths({**stand_ins, **plain}, monkeypatch)
    probes = {
        name: container[name]["httpGet"]
        for name in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/livez"
    for name, probe in probes.items():
        assert probe["path"] in paths, name
        assert probe["port"] in ports, name
    # Every secret the container reads is one the settings read.
    assert set(environment) - {"SPOC_DEPLOYMENT_ID", "SPOC_DRAIN_SECONDS"} <= environment_reads(
        SETTINGS
    )

    grace = template["spec"]["terminationGracePeriodSeconds"]
    drain = float(plain["SPOC_DRAIN_SECONDS"])
    in_flight = float(option(command, "--timeout-graceful-shutdown"))
    hook_timeout = create_app(EXAMPLE_DIR).state.framework.config.hook_timeout
    assert grace >= drain + in_flight + hook_timeout
    # A readiness failure takes the pod out at once; drain outlasts one probe period.
    assert drain >= container["readinessProbe"]["periodSeconds"]


def test_the_kubernetes_service_routes_to_the_pods() -> None:
    service = k8s_object("Service")
    deployment = k8s_object("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    names = {port["name"] for port in container["ports"]}
    assert {port["targetPort"] for port in service["spec"]["ports"]} <= names
