import os

# A relative SQLite path is taken from the base dir (the project root), not the cwd.
DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///bookmarks.sqlite3")
REDIS_URL = os.environ.get("REDIS_URL")

DATABASE_CONFIG = {"sql": {"url": DATABASE_URL}}

if REDIS_URL:
    PLUGINS = {"cache": ["spoc_asgi.backends.redis.RedisCache"]}
    # Fail open: while Redis is down, reads are misses and writes are skipped.
    CACHE_CONFIG = {"redis": {"url": REDIS_URL, "prefix": "bookmarks:", "on_error": "ignore"}}
else:
    PLUGINS = {"cache": ["spoc_asgi.backends.memory.MemoryCache"]}
    CACHE_CONFIG = {"memory": {"max_size": 10_000, "default_ttl": 300}}
