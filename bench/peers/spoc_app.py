"""The peers app from its TOML: ``uvicorn bench.peers.spoc_app:app``.

``PEERS_SPOC_DIR`` points it at another copy of the project (the ``instructions``
measure builds one with ``[spoc] max_body_size = 0``).
"""

import os
from pathlib import Path

from spoc_asgi import create_app

app = create_app(os.environ.get("PEERS_SPOC_DIR") or Path(__file__).resolve().parent / "spoc")
