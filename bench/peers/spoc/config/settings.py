from bench.peers.shared import cache_class, cache_options, database_options, uses_postgres

PLUGINS = {
    "database": ["spoc_asgi.backends.sql.SQLDatabase"],
    "cache": [f"{cache_class().__module__}.{cache_class().__name__}"],
}
DATABASE_CONFIG = {"sql": database_options()}
CACHE_CONFIG = {"redis" if uses_postgres() else "memory": cache_options()}
