"""@once and @leader in one process: several apps share one coordinator, on each engine.

Each app opens its own coordination sessions (its own PostgreSQL connection, its
own Redis client, its own lock-file descriptors), so apps in one event loop
exclude each other exactly as processes do. The multi-process proofs are in
tests/test_deployment_processes.py.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from spoc_asgi import ConfigurationError, SpocError, create_app
from spoc_asgi.checks import Reporter
from spoc_asgi.coordination import _digest
from spoc_asgi.coordination.choose import postgres_dsn
from spoc_asgi.coordination.postgres import lock_id
from spoc_asgi.coordination.settings import read_settings
from tests.backends.conftest import RedisServer, own_redis_server
from tests.conftest import Project

HOOKS = """
import json, os, time
import anyio
import spoc_asgi

LOG = {log!r}


def write(event, **extra):
    with open(LOG, "a", encoding="utf-8") as file:
        record = {{"event": event, "pid": os.getpid(), "at": time.time(), **extra}}
        file.write(json.dumps(record) + "\\n")


@spoc_asgi.once
async def migrate(app):
    write("begin")
    try:
        await anyio.sleep({seconds})
    except anyio.get_cancelled_exc_class():
        write("cancelled")
        raise
    if os.environ.get("SPOC_TEST_ONCE_FAIL") == "1":
        raise RuntimeError("migration 42 failed")
    write("end")


@spoc_asgi.leader
async def scheduler(app):
    write("lead", app=id(app))
    try:
        while True:
            await anyio.sleep(0.05)
    finally:
        write("stop", app=id(app))
"""


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    with anyio.fail_after(seconds):
        while True:
            if condition():
                return
            await anyio.sleep(0.02)


def events(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


class Deployment:
    """A project with one @once and one @leader hook, on one coordination engine."""

    def __init__(self, project: Project, tmp_path: Path, engine: str, url: str = "") -> None:
        self.log = tmp_path / f"events-{uuid.uuid4().hex[:8]}.jsonl"
        self.namespace = f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.project = project
        self.engine = engine
        self.url = url
        self.tmp_path = tmp_path

    def write(
        self, hooks: list[str], seconds: float = 0.3, lease: float = 2.0, extra: str = ""
    ) -> None:
        module = self.project.module(HOOKS.format(log=str(self.log), seconds=seconds))
        self.module = module
        backends = {
            "postgres": 'database = ["spoc_asgi.backends.sql.SQLDatabase"]\n',
            "redis": 'cache = ["spoc_asgi.backends.redis.RedisCache"]\n',
            "file": "",
        }[self.engine]
        options = {
            "postgres": f'[spoc.config.database.sql]\nurl = "{self.url}"\n',
            "redis": f'[spoc.config.cache.redis]\nurl = "{self.url}"\n',
            "file": "",
        }[self.engine]
        hook_uris = ", ".join(f'"{module}.{name}"' for name in hooks)
        self.project.toml(
            f"""
            [spoc]
            hook_timeout = 20

            [spoc.coordination]
            namespace = "{self.namespace}"
            lease_seconds = {lease}
            path = "{self.tmp_path / "locks"}"
            {extra}

            [spoc.plugins]
            hooks = [{hook_uris}]
            {backends}
            {options}
            """
        )

    def app(self) -> Any:
        return create_app(self.project.base_dir)


@pytest.fixture(
    params=[
        "file",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def deployment(request: pytest.FixtureRequest, project: Project, tmp_path: Path) -> Deployment:
    engine = str(request.param)
    url = ""
    if engine == "postgres":
        url = str(request.getfixturevalue("postgres_url"))
    elif engine == "redis":
        url = str(request.getfixturevalue("redis_url"))
    return Deployment(project, tmp_path, engine, url)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, to pause."""
    yield from own_redis_server(tmp_path)


async def run_all(
    apps: list[Any], body: Callable[[], Any] | None = None
) -> list[BaseException | None]:
    """Start every app's lifespan at once; run ``body`` while all run; stop them."""
    outcomes: list[BaseException | None] = [None] * len(apps)
    started = [anyio.Event() for _ in apps]
    stop = anyio.Event()

    async def one(index: int, app: Any) -> None:
        try:
            async with app.router.lifespan_context(app):
                started[index].set()
                await stop.wait()
        except Exception as exc:
            outcomes[index] = exc
        started[index].set()

    with anyio.fail_after(30):
        async with anyio.create_task_group() as task_group:
            for index, app in enumerate(apps):
                task_group.start_soon(one, index, app)
            for event in started:
                await event.wait()
            if body is not None:
                await body()
            stop.set()
    return outcomes


async def test_a_once_hook_runs_once_and_everyone_waits_for_it(deployment: Deployment) -> None:
    deployment.write(["migrate"])
    apps = [deployment.app() for _ in range(3)]
    finished: list[float] = []

    async def body() -> None:
        finished.append(time.time())

    assert await run_all(apps, body) == [None, None, None]
    log = events(deployment.log)
    assert [e["event"] for e in log] == ["begin", "end"]
    # Every lifespan finished its startup after the run completed.
    assert finished[0] >= log[-1]["at"]

    # A process starting later in the same deployment does not run it again.
    assert await run_all([deployment.app()]) == [None]
    assert [e["event"] for e in events(deployment.log)] == ["begin", "end"]


async def test_a_failed_once_hook_fails_startup_everywhere_with_one_error(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOC_TEST_ONCE_FAIL", "1")
    deployment.write(["migrate"])
    outcomes = await run_all([deployment.app() for _ in range(3)])
    messages = set()
    for outcome in outcomes:
        assert isinstance(outcome, SpocError), outcome
        text = str(outcome)
        assert "(@once) failed in pid" in text and "RuntimeError: migration 42 failed" in text
        messages.add(
            text.split("startup failed: ", 1)[-1].removeprefix(f"hook {deployment.module!r}")
        )
    assert len(messages) == 1, messages
    assert [e["event"] for e in events(deployment.log)] == ["begin"]


async def test_a_failure_is_remembered_for_retry_seconds_then_run_again(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment.write(["migrate"], seconds=0.05, extra="retry_seconds = 1.5")
    monkeypatch.setenv("SPOC_TEST_ONCE_FAIL", "1")
    (first,) = await run_all([deployment.app()])
    monkeypatch.setenv("SPOC_TEST_ONCE_FAIL", "0")
    (within,) = await run_all([deployment.app()])  # fails with the same error, not run
    assert isinstance(first, SpocError) and isinstance(within, SpocError)
    assert str(first) == str(within)
    assert [e["event"] for e in events(deployment.log)] == ["begin"]
    await anyio.sleep(1.6)
    assert await run_all([deployment.app()]) == [None]
    assert [e["event"] for e in events(deployment.log)] == ["begin", "begin", "end"]


async def test_a_waiting_process_gives_up_after_its_timeout(deployment: Deployment) -> None:
    deployment.write(["migrate"], seconds=5, extra="wait_seconds = 0.8")
    began = time.monotonic()
    runner, waiter = await run_all([deployment.app(), deployment.app()])
    assert time.monotonic() - began < 4
    for outcome in (runner, waiter):
        assert isinstance(outcome, SpocError)
        assert "(@once) did not complete within 0.8s in any process" in str(outcome)


def leads(log: Path) -> list[dict[str, Any]]:
    return [e for e in events(log) if e["event"] == "lead"]


async def test_leadership_moves_when_the_leader_stops(deployment: Deployment) -> None:
    deployment.write(["scheduler"], lease=1.0)
    apps = [deployment.app(), deployment.app()]
    stops = {id(app): anyio.Event() for app in apps}
    stopped = {id(app): anyio.Event() for app in apps}

    async def serve(app: Any) -> None:
        async with app.router.lifespan_context(app):
            await stops[id(app)].wait()
        stopped[id(app)].set()

    async with anyio.create_task_group() as task_group:
        for app in apps:
            task_group.start_soon(serve, app)
        await until(lambda: len(leads(deployment.log)) >= 1)
        first = leads(deployment.log)[0]
        await anyio.sleep(0.5)
        assert len(leads(deployment.log)) == 1  # nobody else leads meanwhile
        stops[first["app"]].set()
        await stopped[first["app"]].wait()
        await until(lambda: len(leads(deployment.log)) >= 2)
        second = leads(deployment.log)[1]
        assert second["app"] != first["app"]
        for event in stops.values():
            event.set()
    log = events(deployment.log)
    # The first leader stopped before the second began: never two at once.
    first_stop = next(e for e in log if e["event"] == "stop" and e["app"] == first["app"])
    assert first_stop["at"] <= second["at"]


async def test_a_leader_that_raises_gives_up_and_leads_again_after_the_lease(
    project: Project, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "crashes.jsonl"
    module = project.module(
        f"""
        import json, time
        import spoc_asgi

        @spoc_asgi.leader
        async def flaky(app):
            with open({str(log)!r}, "a") as file:
                file.write(json.dumps({{"at": time.monotonic()}}) + "\\n")
            raise RuntimeError("lost the queue")
        """
    )
    project.toml(
        f"""
        [spoc.coordination]
        lease_seconds = 0.5
        path = "{tmp_path / "locks"}"
        [spoc.plugins]
        hooks = ["{module}.flaky"]
        """
    )
    app = create_app(project.base_dir)
    async with app.router.lifespan_context(app):
        await until(lambda: log.exists() and len(log.read_text().splitlines()) >= 2, 10)
    starts = [json.loads(line)["at"] for line in log.read_text().splitlines()]
    assert starts[1] - starts[0] >= 0.5  # competes again after lease_seconds
    assert "(@leader) raised: leadership given up" in caplog.text
    assert "RuntimeError: lost the queue" in caplog.text


@pytest.mark.redis
async def test_a_redis_leader_stops_its_work_before_its_lease_can_expire(
    project: Project, tmp_path: Path, own_redis: RedisServer
) -> None:
    redis_server = own_redis
    deployment = Deployment(project, tmp_path, "redis", redis_server.url)
    deployment.write(["scheduler"], lease=1.5)
    app = deployment.app()
    async with app.router.lifespan_context(app):
        await until(lambda: bool(leads(deployment.log)))
        redis_server.pause()  # renewals stop answering; the key would expire 1.5 s later
        paused = time.time()
        try:
            await until(lambda: any(e["event"] == "stop" for e in events(deployment.log)), 5)
        finally:
            redis_server.resume()
    stop = next(e for e in events(deployment.log) if e["event"] == "stop")
    # The last renewal was at most lease/3 before the pause; the work stops within
    # 2/3 of the lease after it, so before the key can expire.
    assert stop["at"] - paused < 1.5


@pytest.mark.redis
async def test_a_once_run_that_loses_its_redis_lock_is_stopped_and_fails_its_startup(
    project: Project, tmp_path: Path, own_redis: RedisServer
) -> None:
    deployment = Deployment(project, tmp_path, "redis", own_redis.url)
    deployment.write(["migrate"], seconds=10, lease=1.5)
    app = deployment.app()
    outcome: list[BaseException] = []

    async def start() -> None:
        try:
            async with app.router.lifespan_context(app):
                pass
        except SpocError as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(start)
        await until(lambda: bool(events(deployment.log)))
        own_redis.pause()
        paused_at = time.time()
        try:
            await until(lambda: bool(outcome), 5)
        finally:
            own_redis.resume()
    assert "(@once) was stopped in this process: renewing the Redis lock" in str(outcome[0])
    assert [e["event"] for e in events(deployment.log)] == ["begin", "cancelled"]
    cancelled = events(deployment.log)[1]
    # The last renewal was at most lease/3 before the pause: stopped before the expiry.
    assert cancelled["at"] - paused_at < 1.5


@pytest.mark.postgres
async def test_a_postgres_leader_whose_connection_dies_stops_and_leads_again(
    project: Project, tmp_path: Path, postgres_url: str
) -> None:
    import asyncpg

    deployment = Deployment(project, tmp_path, "postgres", postgres_url)
    deployment.write(["scheduler"], lease=1.0)
    app = deployment.app()
    key = lock_id(f"leader:{deployment.module}.scheduler:{_digest(deployment.namespace)}")
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    admin = await asyncpg.connect(postgres_dsn(postgres_url))
    try:
        async with app.router.lifespan_context(app):
            await until(lambda: bool(leads(deployment.log)))
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_locks"
                " WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND objsubid = 1",
                unsigned >> 32,
                unsigned & 0xFFFFFFFF,
            )
            assert killed == 1
            expected = ["lead", "stop", "lead"]
            await until(lambda: [e["event"] for e in events(deployment.log)] == expected)
    finally:
        await admin.close()


def test_coordination_settings_are_checked(project: Project) -> None:
    path = project.toml(
        """
        [spoc.coordination]
        backend = "zookeeper"
        lease_seconds = -1
        colour = "blue"
        """
    )
    table = {"backend": "zookeeper", "lease_seconds": -1, "colour": "blue"}  # colour: W004
    reporter = Reporter(strict=False)
    read_settings({"coordination": table}, path, project.base_dir, reporter)
    found = [(m.id, m.key, m.line) for m in reporter.messages]
    assert found == [
        ("spoc.E050", "spoc.coordination.backend", 2),
        ("spoc.E050", "spoc.coordination.lease_seconds", 3),
    ]


def test_a_leader_hook_must_be_an_async_function(project: Project) -> None:
    module = project.module(
        """
        import spoc_asgi

        @spoc_asgi.leader
        def scheduler(app):
            pass
        """
    )
    project.toml(f'[spoc.plugins]\nhooks = ["{module}.scheduler"]\n')
    with pytest.raises(ConfigurationError, match=r"spoc\.E052") as caught:
        create_app(project.base_dir)
    assert "async def fn(app)" in str(caught.value)


async def test_a_once_hook_may_hold_a_task_group_across_its_yield(
    project: Project, tmp_path: Path
) -> None:
    log = tmp_path / "group.log"
    module = project.module(
        f"""
        import anyio
        import spoc_asgi

        @spoc_asgi.once
        async def worker(app):
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(anyio.sleep_forever)
                yield
                task_group.cancel_scope.cancel()
            with open({str(log)!r}, "a", encoding="utf-8") as file:
                file.write("stopped\\n")
        """
    )
    project.toml(
        f"""
        [spoc.coordination]
        backend = "file"
        namespace = "test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        path = "{tmp_path / "locks"}"
        [spoc.plugins]
        hooks = ["{module}.worker"]
        """
    )
    assert await run_all([create_app(project.base_dir)]) == [None]
    assert log.read_text(encoding="utf-8") == "stopped\n"


def test_a_once_hook_needs_a_startup_part(project: Project) -> None:
    module = project.module(
        """
        import spoc_asgi

        @spoc_asgi.once
        @spoc_asgi.on_shutdown
        async def bye(app):
            pass
        """
    )
    project.toml(f'[spoc.plugins]\nhooks = ["{module}.bye"]\n')
    with pytest.raises(ConfigurationError, match=r"spoc\.E052") as caught:
        create_app(project.base_dir)
    assert "needs a startup part" in str(caught.value)


def test_once_takes_its_own_timeout(project: Project) -> None:
    module = project.module(
        """
        import spoc_asgi

        @spoc_asgi.once(timeout=600)
        async def migrate(app):
            pass

        @spoc_asgi.once
        async def warm(app):
            pass
        """
    )
    project.toml(
        f'[spoc]\nhook_timeout = 5\n[spoc.plugins]\nhooks = ["{module}.migrate", "{module}.warm"]\n'
    )
    steps = create_app(project.base_dir).state.spoc_runtime.hooks
    # The engine bounds each start by the wait, plus a second to let the lock go.
    assert [step.start_timeout for step in steps] == [601.0, 6.0]


@pytest.mark.parametrize("timeout", ['"600"', "0", "-5", "True", 'float("nan")'])
def test_a_once_timeout_must_be_a_positive_number(project: Project, timeout: str) -> None:
    module = project.module(
        f"""
        import spoc_asgi

        @spoc_asgi.once(timeout={timeout})
        async def migrate(app):
            pass
        """
    )
    project.toml(f'[spoc.plugins]\nhooks = ["{module}.migrate"]\n')
    with pytest.raises(ConfigurationError, match=r"spoc\.E052") as caught:
        create_app(project.base_dir)
    assert "@once(timeout=...) must be a positive number of seconds" in str(caught.value)
    assert f"{module}.migrate" in str(caught.value)


ONCE_HOOK = "import spoc_asgi\n\n@spoc_asgi.once\nasync def migrate(app):\n    pass\n"


def test_postgres_coordination_needs_a_postgres_url(project: Project) -> None:
    module = project.module(ONCE_HOOK)
    project.toml(
        f"""
        [spoc.coordination]
        backend = "postgres"
        [spoc.plugins]
        hooks = ["{module}.migrate"]
        """
    )
    with pytest.raises(ConfigurationError, match=r"spoc\.E051") as caught:
        create_app(project.base_dir)
    assert "spoc.toml:2 [spoc.coordination.backend]" in str(caught.value)


@pytest.mark.parametrize(
    ("backend", "url"),
    [
        (None, "mysql://user:hunter2@db/app"),
        (None, "postgress://user:hunter2@db/app"),
        ("redis", "postgresql://user:hunter2@db/app"),
        ("postgres", "redis://:hunter2@cache:6379/0"),
    ],
)
def test_the_coordination_url_must_match_the_backend(
    project: Project, backend: str | None, url: str
) -> None:
    module = project.module(ONCE_HOOK)
    chosen = f'backend = "{backend}"' if backend else ""
    project.toml(
        f"""
        [spoc.coordination]
        url = "{url}"
        {chosen}
        [spoc.plugins]
        hooks = ["{module}.migrate"]
        """
    )
    with pytest.raises(ConfigurationError, match=r"spoc\.E051") as caught:
        create_app(project.base_dir)
    text = str(caught.value)
    assert "spoc.toml:2 [spoc.coordination.url]" in text and "url must be a" in text
    assert "hunter2" not in text


def test_a_coordination_mistake_names_its_line_under_a_commented_header(
    project: Project,
) -> None:
    project.toml(
        """
        [spoc.coordination]  # locks for @once and @leader
        lease_seconds = 0
        """
    )
    with pytest.raises(ConfigurationError, match=r"spoc\.E050") as caught:
        create_app(project.base_dir)
    assert "spoc.toml:2 [spoc.coordination.lease_seconds]" in str(caught.value)


def test_file_locks_outside_development_are_a_warning(
    project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    module = project.module(ONCE_HOOK)
    project.toml(f'[spoc]\nmode = "production"\n[spoc.plugins]\nhooks = ["{module}.migrate"]\n')
    app = create_app(project.base_dir)
    assert "spoc.W030" in caplog.text
    assert [m.id for m in app.state.framework.reporter.messages] == ["spoc.W030"]


def test_a_backend_with_no_marked_hook_warns_of_nothing(
    project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    project.toml('[spoc]\nmode = "production"\n[spoc.coordination]\nbackend = "file"\n')
    app = create_app(project.base_dir)
    assert "spoc.W030" not in caplog.text
    assert [m.id for m in app.state.framework.reporter.messages] == []
