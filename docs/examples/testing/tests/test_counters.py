import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

import spoc_asgi

# Configured for PostgreSQL and Redis; these tests run on an in-memory SQLite database
# and a MemoryCache instead, built afresh for each test.
pytestmark = pytest.mark.spoc_memory


async def test_hits_are_counted(spoc_client: httpx.AsyncClient) -> None:
    assert (await spoc_client.post("/hit/home")).json() == {"name": "home", "hits": 1}
    assert (await spoc_client.post("/hit/home")).json() == {"name": "home", "hits": 2}
    assert (await spoc_client.get("/total/home")).json() == {"total": 2}


async def test_each_test_starts_from_scratch(spoc_client: httpx.AsyncClient) -> None:
    assert (await spoc_client.get("/total/home")).json() == {"total": 0}


async def test_data_seeded_through_the_app(
    spoc_started_app: Starlette, spoc_client: httpx.AsyncClient
) -> None:
    db = spoc_asgi.database(spoc_started_app)  # a SQLDatabase, connected
    await db.execute("INSERT INTO counters (name, total) VALUES ('seeded', 41)")
    assert (await spoc_client.get("/total/seeded")).json() == {"total": 41}


def test_with_starlette_testclient(spoc_test_client: TestClient) -> None:
    # The fixture enters the TestClient, so the lifespan runs (in its own thread).
    assert spoc_test_client.post("/hit/about").json() == {"name": "about", "hits": 1}
