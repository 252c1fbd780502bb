from starlette.applications import Starlette


async def create_tables(app: Starlette) -> None:
    await app.state.database.execute(
        "CREATE TABLE IF NOT EXISTS counters (name VARCHAR(100) PRIMARY KEY, total INTEGER)"
    )
