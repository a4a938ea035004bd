"""Wall time and CPU (the server's, the bench's own, and the whole host's) over one measured window.

The host figure is every process's CPU, in % of one core (so up to 100% x CPUs): beside the server's and the
bench's it shows what else ran, the database and Redis on the postgres leg, and anything another user of the
machine ran at the time, which the other figures then suffer from.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import TracebackType

from .server import ServerProcess

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def host_busy_seconds() -> float | None:
    """CPU seconds all CPUs have spent busy since boot (all but idle and iowait); None without /proc."""
    try:
        line = Path("/proc/stat").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    fields = [int(v) for v in line.split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already counted in user)
    busy = sum(fields[:8]) - fields[3] - fields[4]
    return busy / _CLOCK_TICKS


class Window:
    """``with Window(server) as w:`` around the measured part; read the figures after the block."""

    def __init__(self, server: ServerProcess) -> None:
        self._server = server
        self.seconds = 0.0
        self.server_cpu_percent: float | None = None
        self.client_cpu_percent = 0.0
        self.host_cpu_percent: float | None = None

    def __enter__(self) -> Window:
        self._host_cpu = host_busy_seconds()
        self._server_cpu = self._server.cpu_seconds()
        self._client_cpu = time.process_time()
        self._started = time.perf_counter()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.seconds = time.perf_counter() - self._started
        client_cpu = time.process_time() - self._client_cpu
        server_cpu_after = self._server.cpu_seconds()
        host_cpu_after = host_busy_seconds()
        seconds = self.seconds or 1e-9
        if self._host_cpu is not None and host_cpu_after is not None:
            self.host_cpu_percent = 100 * (host_cpu_after - self._host_cpu) / seconds
        if self._server_cpu is not None and server_cpu_after is not None:
            self.server_cpu_percent = 100 * (server_cpu_after - self._server_cpu) / seconds
        self.client_cpu_percent = 100 * client_cpu / seconds
