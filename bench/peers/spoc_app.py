"""The peers app from its TOML: ``uvicorn bench.peers.spoc_app:app``."""

from pathlib import Path

from spoc_asgi import create_app

app = create_app(Path(__file__).resolve().parent / "spoc")
