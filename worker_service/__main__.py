"""Entry point: `python -m worker_service [--burst]`."""

import argparse
import asyncio
import signal
import sys

from shared import __version__
from shared.logs import configure_logging, get_logger
from shared.settings import get_settings
from worker_service.worker import Worker

log = get_logger("worker_service")


async def serve(burst: bool) -> None:
    settings = get_settings()
    worker = Worker(settings, burst=burst)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.request_stop)

    await worker.start()
    try:
        await worker.run()
    finally:
        await worker.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m worker_service")
    parser.add_argument("--burst", action="store_true", help="exit once the stream has no entries left to read")
    args = parser.parse_args()

    settings = get_settings()
    configure_logging(settings)
    log.info("worker_process_starting", version=__version__, python=sys.version.split()[0])
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(serve(args.burst))


if __name__ == "__main__":
    main()
