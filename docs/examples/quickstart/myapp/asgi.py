from pathlib import Path

from spoc_asgi import create_app

# The project root: it holds config/spoc.toml (and config/settings.py, if any).
BASE_DIR = Path(__file__).resolve().parent.parent

app = create_app(BASE_DIR)
