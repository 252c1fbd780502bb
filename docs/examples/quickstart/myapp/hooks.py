from starlette.applications import Starlette


async def set_greeting(app: Starlette) -> None:
    """Runs once at startup, after the cache has connected."""
    await app.state.cache.set("greeting", "Hello from a hook")
