import logging

from starlette.requests import Request

logger = logging.getLogger("myapp")


def log_request(request: Request) -> Request:
    """A request function: runs before every request; returning the request goes on."""
    logger.info("%s %s", request.method, request.url.path)
    return request
