"""The OpenAPI document, built once per application and served as it is."""

from aiohttp import web

OPENAPI_BODY = web.AppKey("openapi_body", bytes)


async def openapi_document(request: web.Request) -> web.Response:
    """GET /api/openapi.json: public, so clients and tools can read it without a token."""
    return web.Response(body=request.app[OPENAPI_BODY], content_type="application/json")
