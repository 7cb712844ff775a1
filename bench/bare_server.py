"""Floor (b): an aiohttp app with one handler returning a small JSON body, and nothing else.

`python -m bench.bare_server --port N` serves it on 127.0.0.1 with the same event loop (uvloop)
and the same run_app options as the API, so the gap to the API is the API's own work per request.
"""

import argparse
import asyncio
import sys

from aiohttp import web

BODY = b'{"success":true,"status":"ok"}'


async def ok(request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    app = web.Application()
    app.router.add_get("/", ok)
    web.run_app(app, loop=new_event_loop(), host="127.0.0.1", port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
