"""Memory and CPU figures of a process, read from /proc (Linux only)."""

import os
from pathlib import Path

KIB_PER_MB = 1024


def status_field_mb(pid: int, name: str) -> float | None:
    """Return a `kB` field of /proc/<pid>/status, such as VmRSS or VmHWM, in MiB; None when unreadable."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None

    for line in text.splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) / KIB_PER_MB
    return None


def rss_mb(pid: int) -> float | None:
    """Resident memory now."""
    return status_field_mb(pid, "VmRSS")


def peak_rss_mb(pid: int) -> float | None:
    """Highest resident memory since the process started (VmHWM)."""
    return status_field_mb(pid, "VmHWM")


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time the process has used so far; None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None

    # The command name may contain spaces; the fields after its closing parenthesis do not.
    fields = text.rsplit(")", 1)[1].split()
    user_ticks, system_ticks = int(fields[11]), int(fields[12])
    return (user_ticks + system_ticks) / os.sysconf("SC_CLK_TCK")
