"""A small spoc_asgi project: one middleware, one hook, one cache, one route."""
