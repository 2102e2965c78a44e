"""Resident memory and CPU time of a process, read from /proc (Linux); None elsewhere, with a note why."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
NOTE = "memory and CPU need Linux /proc; not measured on this platform"


def available() -> bool:
    return sys.platform.startswith("linux") and (PROC / "self" / "status").exists()


def _status(pid: int) -> dict[str, str]:
    fields = {}
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return fields


def _kib(value: str) -> int:
    return int(value.split()[0]) * 1024


@dataclass(frozen=True)
class Memory:
    rss: int  # bytes resident now (VmRSS)
    peak: int  # bytes resident at most since start or the last reset_peak (VmHWM)


def memory(pid: int) -> Memory | None:
    if not available():
        return None
    try:
        fields = _status(pid)
        return Memory(_kib(fields["VmRSS"]), _kib(fields["VmHWM"]))
    except (OSError, KeyError, ValueError):
        return None


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux 4.0+: write 5 to clear_refs); False if not allowed."""
    try:
        (PROC / str(pid) / "clear_refs").write_text("5")
        return True
    except OSError:
        return False


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time the process has used so far."""
    if not available():
        return None
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        after = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces
        utime, stime = int(after[11]), int(after[12])
        return (utime + stime) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def children(parent: int, needle: str) -> list[int]:
    """Pids of `parent`'s child processes whose command line contains `needle`."""
    if not available():
        return []
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            if ppid == parent and needle in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None
