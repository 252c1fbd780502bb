"""Settings of the example app. Python, so the environment picks the backends:

* ``DATABASE_URL`` (e.g. ``postgresql+asyncpg://user:password@host/db``): else SQLite
  in ``example_app/spoc.sqlite3``;
* ``REDIS_URL`` (e.g. ``redis://host:6379/0``): else an in-process memory cache;
* ``EXAMPLE_API_KEYS``: comma-separated keys for write requests; in development
  (``SPOC_MODE`` unset or ``development``) the key ``dev-key`` works without it.
"""

import os

DATABASE_URL = os.environ.get("DATABASE_URL")
REDIS_URL = os.environ.get("REDIS_URL")
DEVELOPMENT = os.environ.get("SPOC_MODE", "development") == "development"

API_KEYS = [key.strip() for key in os.environ.get("EXAMPLE_API_KEYS", "").split(",") if key.strip()]
if not API_KEYS and DEVELOPMENT:
    API_KEYS = ["dev-key"]

if REDIS_URL:
    CACHE = "spoc_asgi.backends.redis.RedisCache"
    # Fail open: while Redis is down, reads are misses and the rate limiter lets traffic through.
    CACHE_CONFIG = {"redis": {"url": REDIS_URL, "prefix": "example:", "on_error": "ignore"}}
else:
    CACHE = "spoc_asgi.backends.memory.MemoryCache"
    CACHE_CONFIG = {"memory": {"max_size": 10_000}}

DATABASE_CONFIG = {"sql": {"url": DATABASE_URL}} if DATABASE_URL else {}

PLUGINS = {
    # After the TOML's middleware, so the innermost: it counts only what auth let in.
    "middleware": ["example_app.ratelimit.RateLimiter"],
    "database": ["spoc_asgi.backends.sql.SQLDatabase"],
    "cache": [CACHE],
}

MIDDLEWARE_CONFIG = {
    "api_key_auth": {"api_keys": API_KEYS},
}

NOTES_CACHE_TTL = 60  # seconds a note stays in the cache

# Applied by the example_app.hooks.configure_logging hook.
LOGGING_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s:     %(name)s: %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "example_app": {"level": "INFO", "handlers": ["stderr"]},
        "spoc_asgi": {"level": "INFO", "handlers": ["stderr"]},
    },
}
