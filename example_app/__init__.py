"""The example app: the SPOC plugin docs' examples, served by spoc_asgi.

Run it from the repository root with ``uvicorn example_app:app`` (or ``make run``).
"""

from pathlib import Path

from spoc_asgi import create_app

BASE_DIR = Path(__file__).resolve().parent

app = create_app(BASE_DIR)
