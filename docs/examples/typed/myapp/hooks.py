from starlette.applications import Starlette

import spoc_asgi


async def create_tables(app: Starlette) -> None:
    db = spoc_asgi.database(app)  # SQLDatabase: `db.execute` is checked by mypy
    await db.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)")
