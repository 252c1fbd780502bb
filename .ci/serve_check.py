"""Serve one request from an installed spoc_asgi inside a FastAPI app, under uvicorn.

Run by ``nox -s fastapi_0115`` in a fresh venv made with
``pip install dist/spoc_asgi-*.whl[server] "fastapi<0.116"``: pip must pick a working
modern pair (FastAPI 0.115.x, Starlette >= 0.40), never an ancient FastAPI.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

import fastapi
import starlette

import spoc_asgi

major, minor = (int(part) for part in fastapi.__version__.split(".")[:2])
assert (major, minor) == (0, 115), f"pip resolved fastapi {fastapi.__version__}"
assert "site-packages" in spoc_asgi.__file__, spoc_asgi.__file__

with tempfile.TemporaryDirectory() as tmp:
    root = Path(tmp)
    (root / "config").mkdir()
    (root / "config" / "spoc.toml").write_text(
        '[spoc.plugins]\ncache = ["spoc_asgi.backends.memory.MemoryCache"]\n'
    )
    (root / "service.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path

            from fastapi import FastAPI

            import spoc_asgi
            from spoc_asgi.fastapi import CacheDep

            api = FastAPI()


            @api.get("/hits")
            async def hits(cache: CacheDep) -> dict[str, int]:
                return {"hits": await cache.incr("hits")}


            app = spoc_asgi.install(api, Path(__file__).parent)
            """
        )
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "service:app", "--port", str(port), "--log-level",
         "warning"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/hits", timeout=5) as reply:
                    body = json.load(reply)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert body == {"hits": 1}, body

print(
    f"fastapi {fastapi.__version__} + starlette {starlette.__version__} + "
    f"spoc_asgi {spoc_asgi.__version__}: GET /hits -> {body}"
)
