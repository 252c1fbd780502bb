from __future__ import annotations

from starlette.testclient import TestClient

from spoc_asgi import create_app
from tests.conftest import Project


def test_empty_base_dir_gives_a_working_app(project: Project) -> None:
    app = create_app(project.base_dir)
    with TestClient(app) as client:
        assert client.get("/").status_code == 404
    assert app.state.framework.plugins == {}
