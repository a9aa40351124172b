"""What every benchmark prints next to its figures: the machine, the load, the Python.

The machine these benchmarks run on is often shared, so a wall-clock figure means little
without the load average it was taken under (`uptime`'s three numbers).
"""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` prints them."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on Linux
        return "n/a"


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover - not on Linux
        pass
    return f"{os.cpu_count()} CPUs {model or platform.machine()}, Python {sys.version.split()[0]}"


def banner(title: str, *, smoke: bool = False) -> None:
    print(f"{title}{'  [smoke run: tiny sizes, end state checked, timings meaningless]' if smoke else ''}")
    print(f"  machine: {machine()}; load average at start: {load()}", flush=True)


def footer() -> None:
    print(f"  load average at end: {load()}", flush=True)
