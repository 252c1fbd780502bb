from pathlib import Path

from starlette.middleware import Middleware

from myapp.middleware import ServerTiming
from spoc_asgi import create_app

BASE_DIR = Path(__file__).resolve().parent.parent

# The caller's middleware= runs inside the configured group.
app = create_app(BASE_DIR, middleware=[Middleware(ServerTiming)])
