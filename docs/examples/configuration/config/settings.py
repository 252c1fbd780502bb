"""Python settings: read after spoc.toml; the environment is at hand."""

import os

PLUGINS = {
    "middleware": ["myapp.middleware.auth"],  # after the TOML's: [cors, auth]
}

MIDDLEWARE_CONFIG = {
    "auth": {"token": os.environ.get("API_TOKEN", "dev-token")},
}

# Any other name is yours: read it with app.state.framework.config.settings.
GREETING = "hello"
