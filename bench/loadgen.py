"""A small closed-loop HTTP load generator, used where wrk is not installed.

`python -m bench.loadgen --url URL --seconds 10 --connections 50` keeps each connection busy with
one GET after another and prints one JSON object: requests_per_s, p50_ms, p99_ms, requests,
errors. The bearer token, if any, comes from BENCH_TOKEN so it never appears in a process list.
"""

import argparse
import asyncio
import os
import sys
import time

import aiohttp
import orjson

from bench.stats import percentile

MAX_SECONDS = 120
MAX_CONNECTIONS = 1000


async def connection_loop(session: aiohttp.ClientSession, url: str, until: float, latencies: list[float]) -> int:
    """Send GETs back to back until `until`; return how many failed."""
    errors = 0
    while time.perf_counter() < until:
        started = time.perf_counter()
        try:
            async with session.get(url) as response:
                await response.read()
                if response.status >= 300:
                    errors += 1
        except (TimeoutError, aiohttp.ClientError):
            errors += 1
            continue
        latencies.append((time.perf_counter() - started) * 1000)
    return errors


async def run(url: str, seconds: int, connections: int, token: str) -> dict[str, float | int]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    connector = aiohttp.TCPConnector(limit=connections)
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=aiohttp.ClientTimeout(total=5)) as session:
        started = time.perf_counter()
        until = started + seconds
        errors = await asyncio.gather(*(connection_loop(session, url, until, latencies) for _ in range(connections)))
        elapsed = time.perf_counter() - started

    return {
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "requests": len(latencies),
        "errors": sum(errors),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args(argv)

    if not 1 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be between 1 and {MAX_SECONDS}")
    if not 1 <= args.connections <= MAX_CONNECTIONS:
        parser.error(f"--connections must be between 1 and {MAX_CONNECTIONS}")

    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    report = runner(run(args.url, args.seconds, args.connections, os.environ.get("BENCH_TOKEN", "")))
    sys.stdout.write(orjson.dumps(report).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
