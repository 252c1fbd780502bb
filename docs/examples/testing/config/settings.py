import os

DATABASE_CONFIG = {
    "sql": {"url": os.environ.get("DATABASE_URL", "postgresql+asyncpg://app@db.internal/app")},
}
CACHE_CONFIG = {
    "redis": {"url": os.environ.get("REDIS_URL", "redis://cache.internal:6379/0")},
}
