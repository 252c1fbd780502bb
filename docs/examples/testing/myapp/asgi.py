from pathlib import Path

from spoc_asgi import create_app

BASE_DIR = Path(__file__).resolve().parent.parent

app = create_app(BASE_DIR)
