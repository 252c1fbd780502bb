import os

DATABASE_CONFIG = {
    "pg": {"dsn": os.environ.get("PG_DSN", "postgresql://postgres@127.0.0.1:5432/app")},
}
