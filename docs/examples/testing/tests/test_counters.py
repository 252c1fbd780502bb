import httpx
from starlette.applications import Starlette
from starlette.testclient import TestClient

from spoc_asgi.testing import override_backends


async def test_hits_are_counted(client: httpx.AsyncClient) -> None:
    assert (await client.post("/hit/home")).json() == {"name": "home", "hits": 1}
    assert (await client.post("/hit/home")).json() == {"name": "home", "hits": 2}
    assert (await client.get("/total/home")).json() == {"total": 2}


async def test_each_test_starts_from_scratch(client: httpx.AsyncClient) -> None:
    assert (await client.get("/total/home")).json() == {"total": 0}


def test_with_starlette_testclient(app: Starlette, test_backends: dict[str, object]) -> None:
    # TestClient runs the lifespan only when used as a context manager.
    with override_backends(app, test_backends), TestClient(app) as client:
        assert client.post("/hit/about").json() == {"name": "about", "hits": 1}
