"""Entry point: `python -m worker_service [--burst]`. Exits 0 after a graceful stop."""

import argparse
import asyncio
import signal
import sys

from shared import __version__
from shared.logs import configure_logging, get_logger
from shared.settings import get_settings, load_settings_or_exit
from worker_service import faults
from worker_service.worker import Worker

log = get_logger("worker_service")


async def serve(burst: bool) -> None:
    worker = Worker(get_settings(), burst=burst)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.request_stop)

    try:
        if await worker.start():
            await worker.run()
    finally:
        await worker.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m worker_service")
    parser.add_argument(
        "--burst", action="store_true", help="exit once the stream has no entries left to read"
    )
    args = parser.parse_args()

    settings = load_settings_or_exit()
    configure_logging(settings)
    if faults.FAULT_POINT is not None and faults.FAULT_POINT not in faults.POINTS:
        log.error(
            "fault_point_unknown", fault_point=faults.FAULT_POINT, known=sorted(faults.POINTS)
        )
    log.info(
        "worker_process_starting",
        version=__version__,
        python=sys.version.split()[0],
        fault_point=faults.FAULT_POINT,
    )
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(serve(args.burst))


if __name__ == "__main__":
    main()
