"""Container health check: the worker's loop touched its heartbeat file recently. Exit 0 when healthy."""

import sys
import time
from pathlib import Path

from shared.settings import get_settings

MAX_AGE_S = 60


def main() -> int:
    path = Path(get_settings().worker_heartbeat_file)
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        print(f"unhealthy: {path} does not exist", file=sys.stderr)
        return 1
    if age > MAX_AGE_S:
        print(f"unhealthy: heartbeat is {age:.0f} s old", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
