"""What the Framework made of config/spoc.toml and config/settings.py."""

from pathlib import Path

from spoc_asgi import Framework

framework = Framework(Path(__file__).resolve().parent)

# Merged: the TOML's entries first, then settings.py's.
assert list(framework.plugins["middleware"]) == [
    "myapp.middleware.cors",
    "myapp.middleware.auth",
]

# Options: TOML first, then settings.py on top, key by key.
assert framework.options_for("middleware", "myapp.middleware.auth") == {
    "realm": "staff",
    "token": "dev-token",  # API_TOKEN is not set in this environment
}

# The [spoc] table as written, with mode and debug as resolved (environment included).
assert framework.config.project["hook_timeout"] == 30
assert (framework.config.mode, framework.config.debug) == ("development", False)
assert framework.config.settings.GREETING == "hello"
