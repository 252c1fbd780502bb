from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

# A starlette Middleware; the configured options are merged into its own.
cors = Middleware(CORSMiddleware, allow_methods=["GET", "POST"])


class BearerAuth:
    """Instances are request functions; options arrive through configure()."""

    def configure(self, *, token: str, realm: str = "api") -> None:
        self.expected = f"Bearer {token}"
        self.realm = realm

    def __call__(self, request: Request) -> Response | None:
        if request.headers.get("Authorization") != self.expected:
            challenge = {"WWW-Authenticate": f'Bearer realm="{self.realm}"'}
            return PlainTextResponse("unauthorized", status_code=401, headers=challenge)
        return None  # go on to the app


auth = BearerAuth  # the URI myapp.middleware.auth names the class
