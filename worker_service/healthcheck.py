"""Container health check: the worker touched its heartbeat file recently. Exit 0 when healthy.

The worker touches the file every third of WORKER_HEARTBEAT_TTL_S, even while Redis is down, so
a file older than two TTLs means its event loop is stuck or the process is gone.
"""

import sys
import time
from pathlib import Path

from shared.settings import get_settings


def main() -> int:
    settings = get_settings()
    path = Path(settings.worker_heartbeat_file)
    max_age_s = 2 * settings.worker_heartbeat_ttl_s
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        print(f"unhealthy: {path} does not exist", file=sys.stderr)
        return 1
    if age > max_age_s:
        print(f"unhealthy: heartbeat is {age:.0f} s old (limit {max_age_s} s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
