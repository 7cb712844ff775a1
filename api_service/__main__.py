"""Entry point: `python -m api_service`."""

import asyncio
import sys

import aiohttp
from aiohttp import web

from api_service.app import create_app
from shared import __version__
from shared.logs import configure_logging, get_logger
from shared.settings import load_settings_or_exit

log = get_logger("api_service")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where installed: it roughly halves the event loop's overhead per request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main() -> None:
    settings = load_settings_or_exit()
    configure_logging(settings)
    try:
        settings.require_jwt_keys()
    except ValueError as error:
        log.error("api_settings_invalid", error=str(error))
        sys.exit(2)

    log.info(
        "api_starting",
        version=__version__,
        aiohttp=aiohttp.__version__,
        python=sys.version.split()[0],
        host=settings.api_host,
        port=settings.api_port,
        prefix=settings.normalized_prefix,
        env=settings.app_env,
    )
    web.run_app(
        create_app(settings),
        loop=new_event_loop(),
        host=settings.api_host,
        port=settings.api_port,
        print=None,
        access_log=None,
        shutdown_timeout=settings.shutdown_grace_s,
    )
    log.info("api_stopped")


if __name__ == "__main__":
    main()
